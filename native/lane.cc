// copyLane (lib/native.ts): a few lanes on the addon's threads share one cursor over the
// range; each lane READs a transfer from the source's block node into its own page-aligned
// buffer and WRITEs it to the destination's, and reports the piece as done only after the
// WRITE came back GOOD with nothing left over. The first failure (errno, non-GOOD status,
// host/driver status, residual) stops every lane after its current command and is handed
// back whole (command, CDB, status, sense) for lib/ to judge: policy lives there. Pieces done
// are taken by JS whenever it likes (take()), so the account stays exact to the transfer.
#include "lane.h"

#include <fcntl.h>
#include <scsi/sg.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "addon.h"
#include "be.h"
#include "device_handle.h"
#include "fields.h"
#include "sys_error.h"

namespace odxcp {
namespace {

constexpr uint32_t kMaxLanes = 8;
constexpr uint64_t kMaxTransfer = 32u << 20;
constexpr size_t kSense = 252;

struct LaneFailure {
  bool write = false;   // which command of the pair
  uint64_t offset = 0;  // of the piece, relative to the copy
  uint8_t cdb[16] = {};
  int error = 0;        // errno of the ioctl (or of pread/pwrite in test mode)
  sg_io_hdr_t hdr{};
  uint8_t sense[kSense] = {};
};

// Shared by the lanes (pool threads) and the JS object; the last of them frees it.
struct LaneState {
  int srcFd = -1, dstFd = -1;
  uint64_t srcBase = 0, dstBase = 0;  // bytes on each device where the copy's offset 0 sits
  uint32_t srcBlock = 512, dstBlock = 512;
  uint64_t end = 0;  // relative, exclusive
  uint32_t transfer = 0;
  uint32_t timeoutMs = 60000;
  bool fileIo = false;          // testing: pread/pwrite instead of SG_IO
  uint64_t failAt = UINT64_MAX;  // testing: the WRITE of the piece at this offset fails (EIO)
  uint32_t writeDelayMs = 0;     // testing: each WRITE waits this long first (a slow device)
  std::atomic<uint64_t> next{0};
  std::atomic<bool> abort{false};
  std::atomic<bool> stop{false};  // a lane failed
  const std::atomic<bool>* envStopping = nullptr;  // the environment is going away
  std::mutex mu;
  std::vector<std::pair<uint64_t, uint64_t>> done;  // not yet taken by JS
  uint64_t doneBytes = 0;
  std::optional<LaneFailure> failure;

  bool Stopping() const { return abort.load() || stop.load() || envStopping->load(); }
};

// One lane: a job on the pool for the lane's whole life.
class LaneJob : public Job {
 public:
  LaneJob(std::shared_ptr<LaneState> s, std::function<void(Napi::Env)> last, std::function<void()> abandon)
      : s_(std::move(s)), last_(std::move(last)), abandon_(std::move(abandon)) {}
  ~LaneJob() override { std::free(buf_); }

  void Run() noexcept override {
    LaneState& s = *s_;
    if (::posix_memalign(&buf_, 4096, s.transfer) != 0) {
      buf_ = nullptr;
      LaneFailure f;
      f.error = ENOMEM;
      f.offset = s.next.load();
      Fail(std::move(f));
      return;
    }
    while (!s.Stopping()) {
      const uint64_t off = s.next.fetch_add(s.transfer);
      if (off >= s.end) break;
      const uint64_t len = s.end - off < s.transfer ? s.end - off : s.transfer;
      if (!Io(false, off, len)) break;
      if (s.Stopping()) break;  // stopped between the READ and its WRITE: the piece is not done
      if (!Io(true, off, len)) break;
      std::lock_guard<std::mutex> lock(s.mu);
      s.done.emplace_back(off, len);
      s.doneBytes += len;
    }
  }

  void Complete(Napi::Env env) override { last_(env); }
  void Abandon() override { abandon_(); }

 private:
  // One READ(16) (write=false) or WRITE(16) of [off, off+len); false after a failure.
  bool Io(bool write, uint64_t off, uint64_t len) {
    LaneState& s = *s_;
    const uint32_t bs = write ? s.dstBlock : s.srcBlock;
    const uint64_t byte = (write ? s.dstBase : s.srcBase) + off;
    LaneFailure f;
    f.write = write;
    f.offset = off;
    f.cdb[0] = write ? 0x8a : 0x88;
    PutBe64(f.cdb + 2, byte / bs);
    PutBe32(f.cdb + 10, static_cast<uint32_t>(len / bs));
    const int fd = write ? s.dstFd : s.srcFd;
    if (s.fileIo) {
      if (write && off == s.failAt) {
        f.error = EIO;
        return Fail(std::move(f));
      }
      if (write && s.writeDelayMs != 0) ::usleep(s.writeDelayMs * 1000);
      const ssize_t n = write ? ::pwrite(fd, buf_, len, static_cast<off_t>(byte)) : ::pread(fd, buf_, len, static_cast<off_t>(byte));
      if (n < 0) f.error = errno;
      else if (static_cast<uint64_t>(n) != len) f.hdr.resid = static_cast<int>(len - static_cast<uint64_t>(n));
      else return true;
      return Fail(std::move(f));
    }
    sg_io_hdr_t& h = f.hdr;
    h.interface_id = 'S';
    h.dxfer_direction = write ? SG_DXFER_TO_DEV : SG_DXFER_FROM_DEV;
    h.cmd_len = 16;
    h.mx_sb_len = sizeof f.sense;
    h.dxfer_len = static_cast<unsigned>(len);
    h.dxferp = buf_;
    h.cmdp = f.cdb;
    h.sbp = f.sense;
    h.timeout = s.timeoutMs;
    int rc;
    do {
      rc = ::ioctl(fd, SG_IO, &h);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) {
      f.error = errno;
      return Fail(std::move(f));
    }
    if (h.status == 0 && h.host_status == 0 && h.driver_status == 0 && h.resid == 0) return true;
    return Fail(std::move(f));
  }

  bool Fail(LaneFailure f) {
    LaneState& s = *s_;
    std::lock_guard<std::mutex> lock(s.mu);
    if (!s.failure) {
      f.hdr.cmdp = nullptr;  // pointers into this frame are meaningless later
      f.hdr.sbp = nullptr;
      f.hdr.dxferp = nullptr;
      s.failure = std::move(f);
    }
    s.stop = true;
    return false;
  }

  std::shared_ptr<LaneState> s_;
  std::function<void(Napi::Env)> last_;
  std::function<void()> abandon_;  // the environment is gone: drop references without N-API
  void* buf_ = nullptr;
};

// The JS side of a running lane: take() the pieces done, abort(), and `done`, a promise that
// settles once every lane has stopped (and both handles are unpinned).
class Lane : public Napi::ObjectWrap<Lane> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "CopyLane",
                       {InstanceMethod<&Lane::Take>("take"), InstanceMethod<&Lane::Abort>("abort"),
                        InstanceAccessor<&Lane::GetDone>("done"), InstanceAccessor<&Lane::GetBytes>("bytes")});
  }
  explicit Lane(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Lane>(info) {
    if (info.Length() != 1 || !info[0].IsExternal()) ThrowTypeError(info.Env(), "CopyLane", "made by copyLane(), not by new");
    s_ = *info[0].As<Napi::External<std::shared_ptr<LaneState>>>().Data();
  }

  std::shared_ptr<LaneState> s_;
  Napi::ObjectReference done_;

 private:
  Napi::Value Take(const Napi::CallbackInfo& info) {
    std::vector<std::pair<uint64_t, uint64_t>> got;
    {
      std::lock_guard<std::mutex> lock(s_->mu);
      got.swap(s_->done);
    }
    Napi::Array a = Napi::Array::New(info.Env(), got.size() * 2);
    for (size_t i = 0; i < got.size(); ++i) {
      a.Set(static_cast<uint32_t>(2 * i), Napi::Number::New(info.Env(), static_cast<double>(got[i].first)));
      a.Set(static_cast<uint32_t>(2 * i + 1), Napi::Number::New(info.Env(), static_cast<double>(got[i].second)));
    }
    return a;
  }
  Napi::Value Abort(const Napi::CallbackInfo& info) {
    s_->abort = true;
    return info.Env().Undefined();
  }
  Napi::Value GetDone(const Napi::CallbackInfo& info) { return done_.IsEmpty() ? info.Env().Undefined() : done_.Value(); }
  Napi::Value GetBytes(const Napi::CallbackInfo& info) {
    std::lock_guard<std::mutex> lock(s_->mu);
    return Napi::Number::New(info.Env(), static_cast<double>(s_->doneBytes));
  }
};

Napi::Object FailureObject(Napi::Env env, const LaneFailure& f) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("command", f.write ? "WRITE(16)" : "READ(16)");
  o.Set("offset", Napi::Number::New(env, static_cast<double>(f.offset)));
  o.Set("cdb", Napi::Buffer<uint8_t>::Copy(env, f.cdb, 16));
  if (f.error != 0) {
    o.Set("errno", Napi::Number::New(env, f.error));
    o.Set("code", ErrnoName(f.error));
    return o;
  }
  const size_t sl = f.hdr.sb_len_wr < kSense ? f.hdr.sb_len_wr : kSense;
  Napi::Object r = Napi::Object::New(env);
  r.Set("status", Napi::Number::New(env, f.hdr.status));
  r.Set("hostStatus", Napi::Number::New(env, f.hdr.host_status));
  r.Set("driverStatus", Napi::Number::New(env, f.hdr.driver_status));
  r.Set("sense", Napi::Buffer<uint8_t>::Copy(env, f.sense, sl));
  r.Set("resid", Napi::Number::New(env, f.hdr.resid));
  r.Set("durationMs", Napi::Number::New(env, f.hdr.duration));
  r.Set("info", Napi::Number::New(env, f.hdr.info));
  o.Set("result", r);
  return o;
}

Napi::Value CopyLane(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "copyLane";
  DeviceHandle* src = DeviceHandle::From(env, fn, info[0]);
  DeviceHandle* dst = DeviceHandle::From(env, fn, info[1]);
  Fields o(env, fn, info[2], "options");
  auto s = std::make_shared<LaneState>();
  s->srcBase = o.U64("srcBase");
  s->dstBase = o.U64("dstBase");
  s->srcBlock = static_cast<uint32_t>(o.Uint("srcBlockSize", 512, 65536));
  s->dstBlock = static_cast<uint32_t>(o.Uint("dstBlockSize", 512, 65536));
  const uint64_t offset = o.U64("offset");
  const uint64_t length = o.U64("length");
  s->transfer = static_cast<uint32_t>(o.Uint("transferBytes", 512, kMaxTransfer));
  const uint32_t lanes = static_cast<uint32_t>(o.Uint("lanes", 1, kMaxLanes));
  s->timeoutMs = static_cast<uint32_t>(o.Uint("timeoutMs", 1, kMaxU32, 60000));
  const bool testFiles = o.Bool("testFileIo", false);
  s->failAt = o.U64("testFailWriteAt", UINT64_MAX);
  s->writeDelayMs = static_cast<uint32_t>(o.Uint("testWriteDelayMs", 0, 1000, 0));
  for (uint64_t v : {s->srcBase + offset, s->dstBase + offset, length, uint64_t{s->transfer}}) {
    if (v % s->srcBlock != 0 || v % s->dstBlock != 0) o.ThrowType("options: offsets, length and transferBytes must be whole blocks of both devices");
  }
  if (length == 0) o.ThrowType("options.length must not be 0");
  // SG_IO with write() semantics never goes to an sg node here: write() there is a command.
  if (!testFiles && (src->kind() != DeviceHandle::Kind::kBlock || dst->kind() != DeviceHandle::Kind::kBlock)) {
    ThrowTypeError(env, fn, "both handles must be block nodes");
  }
  if (!testFiles && !dst->writable()) ThrowTypeError(env, fn, "the destination handle is not open for writing");
  s->fileIo = testFiles;
  s->next = offset;
  s->end = offset + length;
  Addon& addon = Addon::Of(env);
  s->envStopping = &addon.stopping;

  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  Napi::Object lane = addon.laneClass.New({Napi::External<std::shared_ptr<LaneState>>::New(env, &s)});
  Lane* l = Lane::Unwrap(lane);
  l->done_ = Napi::Persistent(deferred.Promise().As<Napi::Object>());
  s->srcFd = src->Pin();
  s->dstFd = dst->Pin();
  if (s->srcFd < 0 || s->dstFd < 0) {
    if (s->srcFd >= 0) src->Unpin(env);
    if (s->dstFd >= 0) dst->Unpin(env);
    deferred.Reject(MakeError(env, Failure{"ECLOSED", 0, fn, "device handle is closed"}, "", nullptr));
    return lane;
  }
  // Settled by the last lane to stop, on the JS thread. The lane object and both handles
  // stay referenced until then.
  struct Shared {
    uint32_t left;
    Napi::Promise::Deferred deferred;
    Napi::ObjectReference lane, src, dst;
    DeviceHandle* srcH;
    DeviceHandle* dstH;
    std::shared_ptr<LaneState> s;
  };
  auto shared = std::make_shared<Shared>(Shared{lanes, deferred, Napi::Persistent(lane), Napi::Persistent(info[0].As<Napi::Object>()),
                                                Napi::Persistent(info[1].As<Napi::Object>()), src, dst, s});
  auto last = [shared](Napi::Env e) {
    if (--shared->left != 0) return;
    Napi::Object r = Napi::Object::New(e);
    {
      std::lock_guard<std::mutex> lock(shared->s->mu);
      if (shared->s->failure) r.Set("failure", FailureObject(e, *shared->s->failure));
    }
    r.Set("aborted", Napi::Boolean::New(e, shared->s->abort.load()));
    // Settled before the handles move on, so a close() waiting for them resolves after it.
    shared->deferred.Resolve(r);
    shared->srcH->Unpin(e);
    shared->dstH->Unpin(e);
  };
  auto abandon = [shared]() {
    shared->lane.SuppressDestruct();
    shared->src.SuppressDestruct();
    shared->dst.SuppressDestruct();
  };
  uint32_t started = 0;
  int error = 0;
  for (; started < lanes; ++started) {
    std::unique_ptr<Job> job = std::make_unique<LaneJob>(s, last, abandon);
    error = addon.pool.Submit(env, job);
    if (error != 0) break;
  }
  // Fewer lanes than asked (no thread could be started): the others carry the range.
  shared->left = started;
  if (started == 0) {
    src->Unpin(env);
    dst->Unpin(env);
    deferred.Reject(MakeError(env, Failure::FromErrno(error, "pthread_create"), "", nullptr));
  }
  return lane;
}

}  // namespace

Napi::Function DefineLaneClass(Napi::Env env) { return Lane::Define(env); }

void RegisterLane(Napi::Env env, Napi::Object exports) {
  exports.Set("copyLane", Napi::Function::New<Guard<CopyLane>>(env, "copyLane"));
}

}  // namespace odxcp
