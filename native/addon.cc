// Module entry: the per-environment state (addon.h) and a cleanup hook that stops and joins
// the pool's threads before the environment goes away. Exports the transport and
// binding.encoders.
#include <napi.h>

#include "addon.h"
#include "alua.h"
#include "device_handle.h"
#include "dm.h"
#include "encoders.h"
#include "lane.h"
#include "transport.h"

namespace odxcp {
namespace {

void PollClosed(uv_handle_t* h) {
  auto* reg = static_cast<AsyncHandles*>(h->data);
  delete reinterpret_cast<uv_poll_t*>(h);
  if (--reg->closing == 0) napi_remove_async_cleanup_hook(reg->hook);
}

// Environment teardown: every handle on the asynchronous interface stops its poll and closes
// its fd; node keeps running the loop (and keeps the Node-API environment, so the handles
// are finalized only afterwards) until the last uv_close callback removes this hook.
void TearDownAsync(napi_async_cleanup_hook_handle hook, void* arg) {
  auto* reg = static_cast<AsyncHandles*>(arg);
  reg->hook = hook;
  std::vector<DeviceHandle*> all;
  all.swap(reg->handles);
  reg->closing = 1;  // held until every handle was asked, so no callback removes it early
  for (DeviceHandle* h : all) {
    if (h->TearDown(PollClosed, reg)) ++reg->closing;
  }
  if (--reg->closing == 0) napi_remove_async_cleanup_hook(hook);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* addon = new Addon(env);
  env.SetInstanceData<Addon>(addon);  // deleted when the environment is torn down
  // Registered after the pool's thread-safe function, so it runs before node finalizes that
  // function (cleanup hooks run in reverse order): no worker can post to a dead one. It also
  // runs before node finalizes wrapped objects, so a DeviceHandle collected at teardown finds
  // every worker joined (device_handle.h).
  // The asynchronous interface's teardown is registered first so that it runs after the
  // pool's hook (hooks run in reverse order): the fds it closes have no thread left on them.
  AsyncHandles* async = &addon->async;
  if (napi_add_async_cleanup_hook(env, TearDownAsync, async, nullptr) != napi_ok) {
    throw Napi::Error::New(env, "odxcp: cannot register the cleanup hook");
  }
  napi_value name = Napi::String::New(env, "odxcp:sg");
  if (napi_async_init(env, Napi::Object::New(env), name, &async->context) != napi_ok) {
    throw Napi::Error::New(env, "odxcp: cannot create the completions' async context");
  }
  WorkerPool* pool = &addon->pool;
  std::atomic<bool>* stopping = &addon->stopping;
  env.AddCleanupHook([pool, stopping]() {
    stopping->store(true);  // a data lane ends after its current command, so the join is short
    pool->Shutdown();
  });
  addon->handleClass = Napi::Persistent(DeviceHandle::DefineClass(env));
  addon->laneClass = Napi::Persistent(DefineLaneClass(env));
  addon->noSense = Napi::Persistent(Napi::Buffer<uint8_t>::New(env, 0).As<Napi::Object>());

  RegisterTransport(env, exports);
  RegisterLane(env, exports);
  RegisterDm(env, exports);
  Napi::Object encoders = Napi::Object::New(env);
  RegisterSpcEncoders(env, encoders);
  RegisterSbcEncoders(env, encoders);
  RegisterTpcEncoders(env, encoders);
  RegisterAluaEncoders(env, encoders);
  exports.Set("encoders", encoders);
  return exports;
}

}  // namespace
}  // namespace odxcp

// NODE_API_MODULE pastes the name into an identifier, so it needs an unqualified one.
static Napi::Object InitOdxcp(Napi::Env env, Napi::Object exports) { return odxcp::Init(env, exports); }

NODE_API_MODULE(odxcp, InitOdxcp)
