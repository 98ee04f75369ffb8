// Per-environment state, kept as N-API instance data so each worker_thread gets its own: the
// worker pool and the DeviceHandle class (open() makes its instances).
#ifndef ODXCP_ADDON_H_
#define ODXCP_ADDON_H_

#include <napi.h>

#include <atomic>

#include "device_handle.h"
#include "worker_pool.h"

namespace odxcp {

struct Addon {
  explicit Addon(Napi::Env env) : pool(env) {}

  static Addon& Of(Napi::Env env) { return *env.GetInstanceData<Addon>(); }

  WorkerPool pool;
  AsyncHandles async;
  Napi::ObjectReference noSense;  // the empty Buffer every result without sense shares
  Napi::FunctionReference handleClass;
  Napi::FunctionReference laneClass;
  std::atomic<bool> stopping{false};  // set at teardown: data lanes stop after their command
};

}  // namespace odxcp

#endif  // ODXCP_ADDON_H_
