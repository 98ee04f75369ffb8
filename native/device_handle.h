// A device node's file descriptor owned by a JS object (lib/native.ts NativeHandle).
//
// Why not a bare fd number: JS could close(2) it while commands queued on the addon's threads
// still held the number; the next open(2) reuses the lowest free number, so those commands
// would go to whatever was opened next (a WRITE to another device). A handle refuses new
// commands from the moment close() is called and close(2)s its fd only once every command it
// had accepted has completed.
//
// close() drains, it does not cancel: commands accepted before it, queued or running, all run
// on the same (still open) fd. A running SG_IO cannot be withdrawn anyway, so cancelling only
// the queued ones would split a caller's batch at an arbitrary point, and a caller holding the
// promise of a WRITE learns what became of it either way.
//
// Queue bound per handle: at most kSgMaxInFlight commands on the worker pool at once for an
// sg node (the sg driver's SG_MAX_QUEUE per fd; more fail with EDOM), kBlockMaxInFlight for a
// block node. Block SG_IO has no per-fd limit, but each command holds one of the pool's 128
// threads for its whole duration (it is synchronous per thread): with 32, a copy's four
// handles (two sg, two block) hold at most 96, and one busy device cannot take every thread.
// Further commands wait in the handle's FIFO and start as others complete.
//
// Lifetime: while it has commands outstanding the handle holds a strong reference to its own
// JS object, so the garbage collector cannot take it then; a handle collected with its fd
// still open close(2)s it. At environment teardown node finalizes it regardless; by then the
// cleanup hook has joined every worker of the environment (addon.cc), so no thread can still
// be using the fd, and its queued commands are abandoned unrun.
#ifndef ODXCP_DEVICE_HANDLE_H_
#define ODXCP_DEVICE_HANDLE_H_

#include <napi.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "sys_error.h"
#include "worker_pool.h"

namespace odxcp {

class DeviceHandle;

// A job on a handle's fd: the handle gives it the fd when it starts it and is told when it
// completes. Subclasses do the work in Run() and settle the promise in Settle().
class HandleJob : public Job {
 public:
  explicit HandleJob(Napi::Env env) : deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }
  // Rejects without having run (handle closed, or no thread could take the job).
  void Reject(Napi::Env env, const Failure& f, const std::string& where);
  void Complete(Napi::Env env) final;

 protected:
  virtual void Settle(Napi::Env env) = 0;
  int fd() const { return fd_; }
  std::string Where() const;

  Napi::Promise::Deferred deferred_;

 private:
  friend class DeviceHandle;
  DeviceHandle* owner_ = nullptr;  // set when started; never used from Abandon()
  int fd_ = -1;
};

class DeviceHandle : public Napi::ObjectWrap<DeviceHandle> {
 public:
  enum class Kind { kSg, kBlock };
  static constexpr uint32_t kSgMaxInFlight = 16;
  static constexpr uint32_t kBlockMaxInFlight = 32;

  static Napi::Function DefineClass(Napi::Env env);
  // A new handle that takes ownership of *fd (and sets it to -1) once it exists; if this
  // throws before that, *fd is still the caller's to close.
  static Napi::Object New(Napi::Env env, int* fd, Kind kind);
  // `value` as a handle made by New, or a TypeError "<fn>: handle must be ...".
  static DeviceHandle* From(Napi::Env env, const char* fn, Napi::Value value);

  explicit DeviceHandle(const Napi::CallbackInfo& info);
  ~DeviceHandle() override;

  // JS thread. `job` runs on this fd when a slot is free; rejected with ECLOSED once closing.
  Napi::Promise Submit(Napi::Env env, std::unique_ptr<HandleJob> job);
  // JS thread. Refuses new commands; close(2)s once drained, then settles. ECLOSED when
  // close() was already called.
  Napi::Promise Close(Napi::Env env);

 private:
  friend class HandleJob;
  struct Init;
  enum class State { kOpen, kClosing, kClosed };

  void Start(Napi::Env env, std::unique_ptr<HandleJob> job);
  // Starts waiting jobs while slots are free; when nothing is outstanding, drops the self
  // reference and finishes a pending close.
  void Pump(Napi::Env env);
  void CloseNow(Napi::Env env);
  std::string Where() const;

  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value GetKind(const Napi::CallbackInfo& info);
  Napi::Value GetState(const Napi::CallbackInfo& info);
  Napi::Value GetInFlight(const Napi::CallbackInfo& info);
  Napi::Value GetQueued(const Napi::CallbackInfo& info);
  Napi::Value GetMaxInFlight(const Napi::CallbackInfo& info);

  int fd_ = -1;
  int number_ = -1;  // the fd's number, for messages after it is closed
  Kind kind_ = Kind::kSg;
  uint32_t maxInFlight_ = kSgMaxInFlight;
  State state_ = State::kOpen;
  uint32_t inFlight_ = 0;  // given to the pool, not yet completed
  std::deque<std::unique_ptr<HandleJob>> waiting_;
  bool selfRef_ = false;
  std::optional<Napi::Promise::Deferred> closing_;
};

}  // namespace odxcp

#endif  // ODXCP_DEVICE_HANDLE_H_
