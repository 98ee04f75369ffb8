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
// sg nodes from open() use the sg driver's asynchronous interface instead of the pool
// (sg_async.cc): the fd is O_NONBLOCK, each command is one write() of an sg_io_hdr (pack_id =
// its slot, usr_ptr = its job), one uv_poll_t on the environment's loop reports completions,
// read() takes them until EAGAIN and their promises settle in one callback scope. No thread
// hand-off per command. Block nodes never take write() (it is not a command interface there)
// and keep SG_IO on the pool. A job's buffers stay referenced until its read(): the sg driver
// copies data-in and sense into them only then.
//
// Lifetime: while it has commands outstanding the handle holds a strong reference to its own
// JS object, so the garbage collector cannot take it then; a handle collected with its fd
// still open close(2)s it. At environment teardown node finalizes it regardless; by then the
// cleanup hook has joined every worker of the environment (addon.cc), so no thread can still
// be using the fd, and its queued commands are abandoned unrun.
#ifndef ODXCP_DEVICE_HANDLE_H_
#define ODXCP_DEVICE_HANDLE_H_

#include <napi.h>
#include <scsi/sg.h>
#include <uv.h>

#include <cstdint>
#include <array>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

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

  // The asynchronous interface (sg_async.cc). A job that can run as one write()/read() pair
  // fills `h` (cmdp, dxferp and sbp must stay valid until Finish or the fd's close) and returns
  // true; false sends it to the pool as SG_IO.
  virtual bool FillHeader(sg_io_hdr_t* h) { (void)h; return false; }
  // What read() returned for it, or the errno of its write() (it never reached the device).
  virtual void Finish(const sg_io_hdr_t& h) { (void)h; }
  virtual void Fail(int error, const char* syscall) { (void)error; (void)syscall; }

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
  // `async`: run commands through the sg driver's asynchronous interface (an sg node whose fd
  // New sets O_NONBLOCK, or a test's stand-in for one); otherwise SG_IO on the pool.
  static Napi::Object New(Napi::Env env, int* fd, Kind kind, bool async = false);
  // `value` as a handle made by New, or a TypeError "<fn>: handle must be ...".
  static DeviceHandle* From(Napi::Env env, const char* fn, Napi::Value value);

  explicit DeviceHandle(const Napi::CallbackInfo& info);
  ~DeviceHandle() override;

  // JS thread. `job` runs on this fd when a slot is free; rejected with ECLOSED once closing.
  Napi::Promise Submit(Napi::Env env, std::unique_ptr<HandleJob> job);
  // JS thread. Refuses new commands; close(2)s once drained, then settles. ECLOSED when
  // close() was already called.
  Napi::Promise Close(Napi::Env env);
  // Environment teardown (the async cleanup hook, after the pool's threads are joined): stop
  // the poll, close the fd (the sg driver then drops what was never read), release the
  // buffers of the commands in flight, abandon the rest. `closed` runs when uv_close is done.
  // Returns whether `closed` will be called.
  bool TearDown(void (*closed)(uv_handle_t*), void* data);

  // JS thread. A data lane (lane.cc) uses this fd from the pool's threads: it counts as one
  // command in flight (close() waits for it) until Unpin. The fd, or -1 when not open.
  int Pin();
  void Unpin(Napi::Env env);
  Kind kind() const { return kind_; }
  bool writable() const { return writable_; }

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

  // sg_async.cc
  void InitAsync(Napi::Env env, int fd);
  enum class Write { kStarted, kRejected, kLater, kPool };
  Write WriteAsync(Napi::Env env, std::unique_ptr<HandleJob>& job);
  static void OnPoll(uv_poll_t* poll, int status, int events);
  void Drain(Napi::Env env);
  void ClosePoll(void (*closed)(uv_handle_t*), void* data);
  void Unregister();

  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value GetKind(const Napi::CallbackInfo& info);
  Napi::Value GetState(const Napi::CallbackInfo& info);
  Napi::Value GetInFlight(const Napi::CallbackInfo& info);
  Napi::Value GetQueued(const Napi::CallbackInfo& info);
  Napi::Value GetMaxInFlight(const Napi::CallbackInfo& info);
  Napi::Value GetSgAsync(const Napi::CallbackInfo& info);

  int fd_ = -1;
  int number_ = -1;  // the fd's number, for messages after it is closed
  Kind kind_ = Kind::kSg;
  bool writable_ = false;  // opened O_RDWR
  uint32_t maxInFlight_ = kSgMaxInFlight;
  State state_ = State::kOpen;
  uint32_t inFlight_ = 0;  // given to the pool, not yet completed
  std::deque<std::unique_ptr<HandleJob>> waiting_;
  bool selfRef_ = false;
  std::optional<Napi::Promise::Deferred> closing_;

  // The asynchronous interface: null for block nodes and handles on the pool.
  uv_poll_t* poll_ = nullptr;
  bool polling_ = false;  // uv_poll_start done (it stays started until the fd closes)
  bool refd_ = false;     // the poll keeps the loop alive: commands are outstanding
  uint32_t written_ = 0;  // jobs in slots_: written, not yet read
  std::array<std::unique_ptr<HandleJob>, kSgMaxInFlight> slots_;  // index = pack_id
  struct AsyncHandles* registry_ = nullptr;  // for the teardown hook; null once torn down
};

// The environment's handles on the asynchronous interface (for the async cleanup hook).
struct AsyncHandles {
  std::vector<DeviceHandle*> handles;
  napi_async_context context = nullptr;  // the callback scope completions settle in
  napi_async_cleanup_hook_handle hook = nullptr;
  uint32_t closing = 0;  // uv_close callbacks still to come at teardown
};

}  // namespace odxcp

#endif  // ODXCP_DEVICE_HANDLE_H_
