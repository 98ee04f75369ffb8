// The sg driver's asynchronous interface for a DeviceHandle (device_handle.h): write() an
// sg_io_hdr per command, one uv_poll_t per handle, read() completions until EAGAIN, settle
// them in one callback scope. Everything here runs on the JS thread.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "addon.h"
#include "device_handle.h"
#include "fields.h"

namespace odxcp {

namespace {

void DeletePoll(uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); }

}  // namespace

void DeviceHandle::InitAsync(Napi::Env env, int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    throw Napi::Error(env, MakeError(env, Failure::FromErrno(errno, "fcntl O_NONBLOCK"), "", nullptr));
  }
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    throw Napi::Error::New(env, "odxcp: no event loop for the sg poll");
  }
  auto poll = std::make_unique<uv_poll_t>();
  const int rc = uv_poll_init(loop, poll.get(), fd);
  if (rc != 0) throw Napi::Error(env, MakeError(env, Failure::FromErrno(-rc, "uv_poll_init"), "", nullptr));
  poll->data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(poll.get()));  // ref'd only while commands are outstanding
  poll_ = poll.release();
  AsyncHandles& reg = Addon::Of(env).async;
  reg.handles.push_back(this);
  registry_ = &reg;
}

void DeviceHandle::Unregister() {
  if (registry_ == nullptr) return;
  auto& v = registry_->handles;
  v.erase(std::remove(v.begin(), v.end(), this), v.end());
  registry_ = nullptr;
}

void DeviceHandle::ClosePoll(void (*closed)(uv_handle_t*), void* data) {
  uv_poll_t* poll = poll_;
  poll_ = nullptr;
  polling_ = false;
  refd_ = false;
  uv_poll_stop(poll);
  if (closed == nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(poll), DeletePoll);
  } else {
    poll->data = data;
    uv_close(reinterpret_cast<uv_handle_t*>(poll), closed);
  }
}

DeviceHandle::Write DeviceHandle::WriteAsync(Napi::Env env, std::unique_ptr<HandleJob>& job) {
  size_t slot = 0;
  while (slot < slots_.size() && slots_[slot]) ++slot;
  if (slot == slots_.size()) return Write::kLater;  // cannot happen while inFlight_ bounds it
  sg_io_hdr_t h;
  std::memset(&h, 0, sizeof h);
  if (!job->FillHeader(&h)) return Write::kPool;
  h.pack_id = static_cast<int>(slot);
  h.usr_ptr = job.get();
  job->owner_ = this;
  job->fd_ = fd_;
  ssize_t n;
  do {
    n = ::write(fd_, &h, sizeof h);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof h)) {
    slots_[slot] = std::move(job);
    ++written_;
    ++inFlight_;
    if (!polling_) {
      const int rc = uv_poll_start(poll_, UV_READABLE, &DeviceHandle::OnPoll);
      // Cannot fail on a descriptor uv_poll_init accepted; if it did, nothing would ever
      // report this command, so say so loudly rather than hang.
      if (rc != 0) std::fprintf(stderr, "odxcp: uv_poll_start: %s\n", uv_strerror(rc));
      polling_ = rc == 0;
    }
    if (!refd_) {
      uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
      refd_ = true;
    }
    return Write::kStarted;
  }
  const int e = n < 0 ? errno : EIO;
  // The driver's queue is full (more than SG_MAX_QUEUE on this fd, perhaps from another
  // user of it): wait for one of ours to complete. With none outstanding, that never comes.
  if ((e == EDOM || e == EAGAIN) && written_ > 0) return Write::kLater;
  // Not accepted: it never reached the device.
  job->Fail(e, "write sg_io_hdr");
  try {
    job->Settle(env);
  } catch (...) {
  }
  return Write::kRejected;
}

void DeviceHandle::OnPoll(uv_poll_t* poll, int status, int events) {
  (void)status;  // an error shows up as read()'s errno, and the driver clears it
  (void)events;
  auto* self = static_cast<DeviceHandle*>(poll->data);
  // No exception may cross libuv; one here means the environment can no longer run JS.
  try {
    self->Drain(self->Env());
  } catch (...) {
  }
}

void DeviceHandle::Drain(Napi::Env env) {
  std::array<std::unique_ptr<HandleJob>, kSgMaxInFlight> done;
  size_t count = 0;
  while (written_ > 0) {
    sg_io_hdr_t h;
    std::memset(&h, 0, sizeof h);
    h.interface_id = 'S';
    const ssize_t n = ::read(fd_, &h, sizeof h);
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<ssize_t>(sizeof h)) break;  // EAGAIN: nothing more has completed
    // Match on both tags; anything else is not ours (it cannot be: the fd is the handle's).
    const size_t slot = static_cast<size_t>(h.pack_id);
    if (h.pack_id < 0 || slot >= slots_.size() || !slots_[slot] || h.usr_ptr != slots_[slot].get()) continue;
    std::unique_ptr<HandleJob> job = std::move(slots_[slot]);
    --written_;
    --inFlight_;
    job->Finish(h);
    done[count++] = std::move(job);
  }
  if (count == 0) return;
  // One scope for the batch: its close runs the microtasks the settlements queued.
  Napi::HandleScope scope(env);
  Napi::CallbackScope callback(env, Addon::Of(env).async.context);
  for (size_t i = 0; i < count; ++i) {
    try {
      done[i]->Settle(env);
    } catch (...) {
    }
    done[i].reset();  // the buffers go back to JS only now
  }
  Pump(env);
}

bool DeviceHandle::TearDown(void (*closed)(uv_handle_t*), void* data) {
  registry_ = nullptr;  // the hook clears the list itself
  const bool polled = poll_ != nullptr;
  if (polled) ClosePoll(closed, data);
  for (auto& job : waiting_) job->Abandon();
  waiting_.clear();
  closing_.reset();  // nobody can observe the promise any more
  state_ = State::kClosed;
  // The pool's threads are joined by now (addon.cc), so nothing else uses the fd.
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  // The driver discards unread commands at close(2); only then may their buffers go.
  for (auto& job : slots_) {
    if (!job) continue;
    job->Abandon();
    job.reset();
  }
  written_ = 0;
  return polled;
}

}  // namespace odxcp
