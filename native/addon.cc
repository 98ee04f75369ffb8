// Module entry: the per-environment state (addon.h) and a cleanup hook that stops and joins
// the pool's threads before the environment goes away. Exports the transport and
// binding.encoders.
#include <napi.h>

#include "addon.h"
#include "alua.h"
#include "device_handle.h"
#include "dm.h"
#include "encoders.h"
#include "transport.h"

namespace odxcp {
namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* addon = new Addon(env);
  env.SetInstanceData<Addon>(addon);  // deleted when the environment is torn down
  // Registered after the pool's thread-safe function, so it runs before node finalizes that
  // function (cleanup hooks run in reverse order): no worker can post to a dead one. It also
  // runs before node finalizes wrapped objects, so a DeviceHandle collected at teardown finds
  // every worker joined (device_handle.h).
  WorkerPool* pool = &addon->pool;
  env.AddCleanupHook([pool]() { pool->Shutdown(); });
  addon->handleClass = Napi::Persistent(DeviceHandle::DefineClass(env));

  RegisterTransport(env, exports);
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
