// The device handle: fd ownership, the per-handle queue and the draining close (see
// device_handle.h). Everything here runs on the JS thread except Job::Run of the jobs.
#include "device_handle.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "addon.h"
#include "fields.h"

namespace odxcp {

namespace {

// Marks objects DeviceHandle made, so that close/execute can tell a live handle from any
// other object (a look-alike, a subclass instance, one built from the prototype).
constexpr napi_type_tag kHandleTag = {0x6f6478637068616eULL, 0x646c6500a1b2c3d4ULL};

Failure Closed(const char* fn) { return Failure{"ECLOSED", 0, fn, "device handle is closed"}; }

}  // namespace

// ---- HandleJob ---------------------------------------------------------------------------

void HandleJob::Reject(Napi::Env env, const Failure& f, const std::string& where) {
  deferred_.Reject(MakeError(env, f, where, nullptr));
}

std::string HandleJob::Where() const { return " (fd " + std::to_string(fd_) + ")"; }

void HandleJob::Complete(Napi::Env env) {
  DeviceHandle* owner = owner_;
  --owner->inFlight_;
  // The result settles before the handle moves on, so a caller awaiting close() finds every
  // command's promise already settled.
  Settle(env);
  owner->Pump(env);
}

// ---- DeviceHandle ------------------------------------------------------------------------

struct DeviceHandle::Init {
  int* fd;
  Kind kind;
  bool async;
};

Napi::Function DeviceHandle::DefineClass(Napi::Env env) {
  return ObjectWrap<DeviceHandle>::DefineClass(
      env, "DeviceHandle",
      {
          InstanceAccessor<&DeviceHandle::GetFd>("fd"),
          InstanceAccessor<&DeviceHandle::GetKind>("kind"),
          InstanceAccessor<&DeviceHandle::GetState>("state"),
          InstanceAccessor<&DeviceHandle::GetInFlight>("inFlight"),
          InstanceAccessor<&DeviceHandle::GetQueued>("queued"),
          InstanceAccessor<&DeviceHandle::GetMaxInFlight>("maxInFlight"),
          InstanceAccessor<&DeviceHandle::GetSgAsync>("sgAsync"),
      });
}

Napi::Object DeviceHandle::New(Napi::Env env, int* fd, Kind kind, bool async) {
  Init init{fd, kind, async && kind == Kind::kSg};
  return Addon::Of(env).handleClass.New({Napi::External<Init>::New(env, &init)});
}

DeviceHandle::DeviceHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceHandle>(info) {
  // Only New passes an External, and JS cannot make one: `new handle.constructor()` fails here.
  if (info.Length() != 1 || !info[0].IsExternal()) {
    ThrowTypeError(info.Env(), "DeviceHandle", "device handles are made by open(), not by new");
  }
  const Init* init = info[0].As<Napi::External<Init>>().Data();
  info.This().As<Napi::Object>().TypeTag(&kHandleTag);
  kind_ = init->kind;
  maxInFlight_ = kind_ == Kind::kSg ? kSgMaxInFlight : kBlockMaxInFlight;
  // InitAsync throws (before ownership passes) when the poll cannot be set up.
  if (init->async) InitAsync(info.Env(), *init->fd);
  // Nothing below can throw: ownership passes exactly here.
  fd_ = *init->fd;
  number_ = fd_;
  {
    const int fl = ::fcntl(fd_, F_GETFL);
    writable_ = fl >= 0 && (fl & O_ACCMODE) != O_RDONLY;
  }
  *init->fd = -1;
}

DeviceHandle::~DeviceHandle() {
  // Jobs still waiting means the environment is being torn down (the self reference keeps a
  // busy handle from being collected): their promises can no longer be settled.
  for (auto& job : waiting_) job->Abandon();
  waiting_.clear();
  // A handle on the asynchronous interface collected while idle (the teardown hook has
  // already closed those of an environment going away).
  if (poll_ != nullptr) ClosePoll(nullptr, nullptr);
  Unregister();
  if (fd_ >= 0) ::close(fd_);
  for (auto& job : slots_) {
    if (job) job->Abandon();  // only a teardown that could not close them gets here
  }
}

DeviceHandle* DeviceHandle::From(Napi::Env env, const char* fn, Napi::Value value) {
  DeviceHandle* h = nullptr;
  if (value.IsObject() && value.As<Napi::Object>().CheckTypeTag(&kHandleTag)) h = Unwrap(value.As<Napi::Object>());
  if (h == nullptr) ThrowTypeError(env, fn, "handle must be a device handle from open() (got " + Describe(value) + ")");
  return h;
}

std::string DeviceHandle::Where() const { return " (fd " + std::to_string(number_) + ")"; }

Napi::Promise DeviceHandle::Submit(Napi::Env env, std::unique_ptr<HandleJob> job) {
  Napi::Promise promise = job->Promise();
  if (state_ != State::kOpen) {
    job->Reject(env, Closed("execute"), Where());
    return promise;
  }
  if (!selfRef_) {
    Ref();
    selfRef_ = true;
  }
  waiting_.push_back(std::move(job));
  Pump(env);
  return promise;
}

void DeviceHandle::Start(Napi::Env env, std::unique_ptr<HandleJob> job) {
  job->owner_ = this;
  job->fd_ = fd_;
  HandleJob* raw = job.get();
  std::unique_ptr<Job> base(std::move(job));
  ++inFlight_;
  const int error = Addon::Of(env).pool.Submit(env, base);
  if (error != 0) {
    --inFlight_;
    raw->Reject(env, Failure::FromErrno(error, "pthread_create"), Where());
  }
}

void DeviceHandle::Pump(Napi::Env env) {
  while (inFlight_ < maxInFlight_ && !waiting_.empty()) {
    std::unique_ptr<HandleJob> job = std::move(waiting_.front());
    waiting_.pop_front();
    if (poll_ != nullptr) {
      const Write w = WriteAsync(env, job);
      if (w == Write::kStarted || w == Write::kRejected) continue;
      if (w == Write::kLater) {  // the driver's queue is full: retry on the next completion
        waiting_.push_front(std::move(job));
        break;
      }
    }
    Start(env, std::move(job));
  }
  if (poll_ != nullptr && refd_ && written_ == 0) {
    // An idle handle must not keep the loop alive. The poll stays started: the fd reports
    // nothing with no command outstanding, and restarting it would cost two epoll_ctl calls
    // per command when commands go one at a time.
    uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
    refd_ = false;
  }
  if (inFlight_ > 0 || !waiting_.empty()) return;
  if (selfRef_) {
    selfRef_ = false;
    Unref();
  }
  if (state_ == State::kClosing) CloseNow(env);
}

int DeviceHandle::Pin() {
  if (state_ != State::kOpen) return -1;
  if (!selfRef_) {
    Ref();
    selfRef_ = true;
  }
  ++inFlight_;
  return fd_;
}

void DeviceHandle::Unpin(Napi::Env env) {
  --inFlight_;
  Pump(env);
}

Napi::Promise DeviceHandle::Close(Napi::Env env) {
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  if (state_ != State::kOpen) {
    deferred.Reject(MakeError(env, Closed("close"), Where(), nullptr));
    return deferred.Promise();
  }
  state_ = State::kClosing;
  closing_ = deferred;
  if (inFlight_ == 0 && waiting_.empty()) CloseNow(env);
  return deferred.Promise();
}

void DeviceHandle::CloseNow(Napi::Env env) {
  // libuv removes the fd from epoll at uv_poll_stop, so close(2) may follow at once.
  if (poll_ != nullptr) ClosePoll(nullptr, nullptr);
  Unregister();
  const int fd = fd_;
  fd_ = -1;
  state_ = State::kClosed;
  // No retry on EINTR: Linux has released the descriptor by then.
  const int rc = ::close(fd);
  const int e = errno;
  Napi::Promise::Deferred deferred = *closing_;
  closing_.reset();
  if (rc != 0 && e != EINTR) {
    deferred.Reject(MakeError(env, Failure::FromErrno(e, "close"), Where(), nullptr));
  } else {
    deferred.Resolve(env.Undefined());
  }
}

Napi::Value DeviceHandle::GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }

Napi::Value DeviceHandle::GetKind(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), kind_ == Kind::kSg ? "sg" : "block");
}

Napi::Value DeviceHandle::GetState(const Napi::CallbackInfo& info) {
  static const char* const kNames[] = {"open", "closing", "closed"};
  return Napi::String::New(info.Env(), kNames[static_cast<int>(state_)]);
}

Napi::Value DeviceHandle::GetInFlight(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), inFlight_);
}

Napi::Value DeviceHandle::GetQueued(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(waiting_.size()));
}

Napi::Value DeviceHandle::GetSgAsync(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), poll_ != nullptr);
}

Napi::Value DeviceHandle::GetMaxInFlight(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), maxInFlight_);
}

}  // namespace odxcp
