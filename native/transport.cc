// open / close / execute / threadStats / testing.adopt (lib/native.ts NativeBinding). Read
// copy-offload-reference.md 1.1 (struct sg_io_hdr), 1.2 (constants), 1.3 (which nodes take
// SG_IO) and 1.4 (errno values). The fd an open() returns belongs to a DeviceHandle
// (device_handle.h), which also queues the commands. Policy (retries, timeouts, advice)
// belongs to lib/.
#include "transport.h"

#include <fcntl.h>
#include <scsi/sg.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "addon.h"
#include "device_handle.h"
#include "fields.h"
#include "memory.h"
#include "sys_error.h"
#include "worker_pool.h"

namespace odxcp {
namespace {

constexpr unsigned kScsiGenericMajor = 21;  // SCSI_GENERIC_MAJOR: /dev/sgN
constexpr size_t kMinCdbLength = 6;         // SG_IO rejects shorter CDBs (ref 1.1)
constexpr size_t kMaxCdbLength = 252;       // SG_MAX_CDB_SIZE
constexpr size_t kSenseBufferLength = 252;  // mx_sb_len: the largest sense any device returns
constexpr size_t kMaxDataLength = 0x7FFFFFFF;

std::string Quoted(const std::string& path) { return " '" + path + "'"; }

WorkerPool& Pool(Napi::Env env) { return Addon::Of(env).pool; }

// Queue `job` on the addon's threads; if no thread can run it, reject at once.
Napi::Value SubmitJob(Napi::Env env, std::unique_ptr<Job> job, Napi::Promise::Deferred deferred) {
  Napi::Promise promise = deferred.Promise();
  const int error = Pool(env).Submit(env, job);
  if (error != 0) deferred.Reject(MakeError(env, Failure::FromErrno(error, "pthread_create"), "", nullptr));
  return promise;
}

const char* FileType(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a device";
}

const char kNotScsi[] = "not a SCSI generic or SCSI disk node";

// ---- open -------------------------------------------------------------------------------

class OpenJob : public Job {
 public:
  OpenJob(Napi::Env env, std::string path, bool write, bool exclusive, bool sgAsync)
      : deferred_(Napi::Promise::Deferred::New(env)),
        path_(std::move(path)),
        write_(write),
        exclusive_(exclusive),
        sgAsync_(sgAsync) {}

  Napi::Promise::Deferred deferred() const { return deferred_; }

  void Run() noexcept override {
    // Refuse what cannot be a device before open(2): opening a FIFO would block forever.
    struct stat st;
    if (::stat(path_.c_str(), &st) == 0 && !S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode)) {
      failure_ = Failure{"ENOTSCSI", 0, "stat", std::string(kNotScsi) + " (" + FileType(st.st_mode) + ")"};
      return;
    }
    // No O_NONBLOCK here: an sg handle sets it when it takes the fd (device_handle.h), and a
    // block node's SG_IO is meant to block its worker until the command ends.
    const int flags = (write_ ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOCTTY | (exclusive_ ? O_EXCL : 0);
    int fd;
    do {
      fd = ::open(path_.c_str(), flags);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
      failure_ = Failure::FromErrno(errno, "open");
      return;
    }
    if (!Check(fd)) {
      ::close(fd);
      return;
    }
    fd_ = fd;
  }

  void Complete(Napi::Env env) override {
    if (failure_) {
      deferred_.Reject(MakeError(env, *failure_, Quoted(path_), &path_));
      return;
    }
    Napi::Object r = Napi::Object::New(env);
    // The handle takes fd_ (and sets it to -1) once it exists: from then on it closes it.
    const bool sg = std::strcmp(kind_, "sg") == 0;
    // write() of an sg_io_hdr needs a descriptor open for writing: a read-only sg handle
    // keeps SG_IO on the threads.
    r.Set("handle", DeviceHandle::New(env, &fd_, sg ? DeviceHandle::Kind::kSg : DeviceHandle::Kind::kBlock, sg && sgAsync_ && write_));
    r.Set("kind", kind_);
    r.Set("major", Napi::Number::New(env, major_));
    r.Set("minor", Napi::Number::New(env, minor_));
    r.Set("sgVersion", Napi::Number::New(env, sgVersion_));
    deferred_.Resolve(r);
  }

  void Abandon() override {}  // the destructor closes an fd no handle took

  ~OpenJob() override {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  // Decide from the open fd what it is; on refusal set failure_ and return false.
  bool Check(int fd) {
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      failure_ = Failure::FromErrno(errno, "fstat");
      return false;
    }
    major_ = ::major(st.st_rdev);
    minor_ = ::minor(st.st_rdev);
    const std::string node = std::to_string(major_) + ":" + std::to_string(minor_);
    if (S_ISCHR(st.st_mode)) {
      if (major_ != kScsiGenericMajor) {
        failure_ = Failure{"ENOTSCSI", 0, "fstat",
                           std::string(kNotScsi) + " (character device " + node + "; sg uses major 21)"};
        return false;
      }
      kind_ = "sg";
    } else if (S_ISBLK(st.st_mode)) {
      // SG_IO on a partition is refused by sd without CAP_SYS_RAWIO and would address the
      // whole disk anyway (ref 1.3): accept whole disks only.
      char sys[64];
      std::snprintf(sys, sizeof sys, "/sys/dev/block/%u:%u/partition", major_, minor_);
      if (::access(sys, F_OK) == 0) {
        failure_ = Failure{"EPARTITION", 0, "fstat",
                           "'" + path_ + "' is a partition (block device " + node +
                               "); SCSI commands address the whole disk, so open the whole-disk node"};
        return false;
      }
      kind_ = "block";
    } else {
      failure_ = Failure{"ENOTSCSI", 0, "fstat", std::string(kNotScsi) + " (" + FileType(st.st_mode) + ")"};
      return false;
    }
    int version = 0;
    if (::ioctl(fd, SG_GET_VERSION_NUM, &version) != 0) {
      const int e = errno;
      if (e == ENOTTY || e == EINVAL) {
        // e.g. virtio-blk or loop: a block device without a SCSI midlayer behind it
        failure_ = Failure{"ENOTSCSI", 0, "ioctl SG_GET_VERSION_NUM",
                           std::string(kNotScsi) + " (the driver answered " + ErrnoName(e) + ")"};
      } else {
        failure_ = Failure::FromErrno(e, "ioctl SG_GET_VERSION_NUM");
      }
      return false;
    }
    sgVersion_ = version;
    return true;
  }

  Napi::Promise::Deferred deferred_;
  const std::string path_;
  const bool write_;
  const bool exclusive_;
  const bool sgAsync_;
  std::optional<Failure> failure_;
  int fd_ = -1;
  const char* kind_ = "";
  unsigned major_ = 0;
  unsigned minor_ = 0;
  int sgVersion_ = 0;
};

std::string ReadPath(Napi::Env env, const char* fn, Napi::Value p) {
  if (!p.IsString()) ThrowTypeError(env, fn, "path must be a string (got " + Describe(p) + ")");
  std::string path = p.As<Napi::String>().Utf8Value();
  if (path.empty()) ThrowTypeError(env, fn, "path must not be empty");
  if (path.find('\0') != std::string::npos) ThrowTypeError(env, fn, "path must not contain NUL characters");
  return path;
}

Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = ReadPath(env, "open", info[0]);
  Fields o(env, "open", info[1], "options");
  const bool write = o.Bool("write");
  const bool exclusive = o.Bool("exclusive");
  const bool sgAsync = o.Bool("sgAsync", true);
  auto job = std::make_unique<OpenJob>(env, std::move(path), write, exclusive, sgAsync);
  Napi::Promise::Deferred deferred = job->deferred();
  return SubmitJob(env, std::move(job), deferred);
}

// ---- close ------------------------------------------------------------------------------

// Anything but a live handle is refused before any descriptor is touched: a number, a
// look-alike object or a handle already closing (ECLOSED, rejected).
Napi::Value Close(const Napi::CallbackInfo& info) {
  return DeviceHandle::From(info.Env(), "close", info[0])->Close(info.Env());
}

// ---- execute ----------------------------------------------------------------------------

// One SG_IO on the fd its handle gives it when it starts.
class ExecuteJob : public HandleJob {
 public:
  ExecuteJob(Napi::Env env, const std::vector<uint8_t>& cdb, int direction, Napi::Buffer<uint8_t>* data,
             uint32_t timeoutMs)
      : HandleJob(env), cdbLength_(cdb.size()), direction_(direction), timeoutMs_(timeoutMs) {
    std::memcpy(cdb_, cdb.data(), cdb.size());  // a private copy: JS cannot change it mid-command
    if (data != nullptr) {
      // The kernel reads or fills this memory from the worker: hold the Buffer until Complete.
      dataRef_ = Napi::Persistent(data->As<Napi::Object>());
      dataPtr_ = data->Data();
      dataLength_ = data->Length();
    }
  }

  bool FillHeader(sg_io_hdr_t* h) override {
    Header(h);
    return true;
  }
  void Finish(const sg_io_hdr_t& h) override { hdr_ = h; }
  void Fail(int error, const char* syscall) override {
    errno_ = error;
    syscall_ = syscall;
  }

  void Run() noexcept override {
    sg_io_hdr_t h;
    Header(&h);
    int rc;
    do {
      rc = ::ioctl(fd(), SG_IO, &h);
    } while (rc < 0 && errno == EINTR);  // workers block all signals; this is belt and braces
    if (rc < 0) {
      errno_ = errno;
      return;
    }
    hdr_ = h;
  }

  void Abandon() override {
    // The environment is gone: its handles die with it, so do not touch N-API here.
    dataRef_.SuppressDestruct();
  }

 protected:
  void Settle(Napi::Env env) override {
    // dataRef_ is released with the job, right after Settle returns.
    if (errno_ != 0) {
      Reject(env, Failure::FromErrno(errno_, syscall_), Where());
      return;
    }
    // A CHECK CONDITION is a result: the caller decodes status and sense. Lean: the same
    // shape every time, and the environment's one empty Buffer when no sense was written.
    const size_t senseLength = hdr_.sb_len_wr < sizeof sense_ ? hdr_.sb_len_wr : sizeof sense_;
    Addon& addon = Addon::Of(env);
    Napi::Object r = Napi::Object::New(env);
    r.Set("status", Napi::Number::New(env, hdr_.status));
    r.Set("hostStatus", Napi::Number::New(env, hdr_.host_status));
    r.Set("driverStatus", Napi::Number::New(env, hdr_.driver_status));
    r.Set("sense", senseLength > 0 ? Napi::Buffer<uint8_t>::Copy(env, sense_, senseLength).As<Napi::Value>()
                                   : addon.noSense.Value().As<Napi::Value>());
    r.Set("resid", Napi::Number::New(env, hdr_.resid));
    r.Set("durationMs", Napi::Number::New(env, hdr_.duration));
    r.Set("info", Napi::Number::New(env, hdr_.info));
    deferred_.Resolve(r);
  }

 private:
  void Header(sg_io_hdr_t* hp) {
    sg_io_hdr_t& h = *hp;
    std::memset(&h, 0, sizeof h);
    h.interface_id = 'S';
    h.dxfer_direction = direction_;
    h.cmd_len = static_cast<unsigned char>(cdbLength_);
    h.mx_sb_len = static_cast<unsigned char>(sizeof sense_);
    h.dxfer_len = static_cast<unsigned int>(dataLength_);
    h.dxferp = dataLength_ > 0 ? dataPtr_ : nullptr;
    h.cmdp = cdb_;
    h.sbp = sense_;
    h.timeout = timeoutMs_;
    h.flags = 0;
  }

  uint8_t cdb_[kMaxCdbLength];
  const size_t cdbLength_;
  const int direction_;
  const uint32_t timeoutMs_;
  Napi::ObjectReference dataRef_;
  void* dataPtr_ = nullptr;
  size_t dataLength_ = 0;
  uint8_t sense_[kSenseBufferLength] = {};
  sg_io_hdr_t hdr_{};
  int errno_ = 0;
  const char* syscall_ = "ioctl SG_IO";
};

Napi::Value Execute(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  DeviceHandle* handle = DeviceHandle::From(env, "execute", info[0]);
  Fields o(env, "execute", info[1], "request");
  const std::vector<uint8_t> cdb = o.Bytes("cdb", kMinCdbLength, kMaxCdbLength);
  static const int kDirections[] = {SG_DXFER_NONE, SG_DXFER_TO_DEV, SG_DXFER_FROM_DEV};
  const size_t direction = o.Choice("direction", {"none", "to-device", "from-device"});
  std::unique_ptr<Napi::Buffer<uint8_t>> data;
  if (direction == 0) {
    if (o.Has("data")) o.ThrowType("request.data must be absent when request.direction is 'none'");
  } else {
    data = std::make_unique<Napi::Buffer<uint8_t>>(o.BufferRef("data", 0, kMaxDataLength));
  }
  const uint32_t timeoutMs = static_cast<uint32_t>(o.Uint("timeoutMs", 1, kMaxU32));
  return handle->Submit(env, std::make_unique<ExecuteJob>(env, cdb, kDirections[direction], data.get(), timeoutMs));
}

// ---- threadStats ------------------------------------------------------------------------

Napi::Value ThreadStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const PoolStats s = Pool(env).Stats();
  Napi::Object r = Napi::Object::New(env);
  r.Set("threads", Napi::Number::New(env, s.threads));
  r.Set("idle", Napi::Number::New(env, s.idle));
  r.Set("inFlight", Napi::Number::New(env, s.inFlight));
  return r;
}

// ---- testing.adopt -----------------------------------------------------------------------

// Test-only: a handle on ANY path, none of open()'s SCSI checks, opened read-only on the JS
// thread. Lets the unit suite, on a host without SCSI nodes, drive the handle's queue and
// close (SG_IO on such an fd fails with ENOTTY). `kind` picks the queue bound.
Napi::Value Adopt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string path = ReadPath(env, "testing.adopt", info[0]);
  Fields o(env, "testing.adopt", info[1], "options");
  const size_t kind = o.Choice("kind", {"sg", "block"});
  const bool write = o.Bool("write", false);
  int fd = ::open(path.c_str(), (write ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) throw Napi::Error(env, MakeError(env, Failure::FromErrno(errno, "open"), Quoted(path), &path));
  try {
    return DeviceHandle::New(env, &fd, kind == 0 ? DeviceHandle::Kind::kSg : DeviceHandle::Kind::kBlock);
  } catch (...) {
    if (fd >= 0) ::close(fd);  // no handle took it
    throw;
  }
}

// Test-only: an sg handle on the asynchronous interface whose "driver" is the test itself:
// one end of a SOCK_SEQPACKET socketpair. The test reads each written sg_io_hdr from `peer`
// (a blocking descriptor it must close) and writes back the completed header, in any order,
// or never. It cannot fill data-in or sense (the driver copies those at read()), but it
// drives the queue, the matching, the poll, the close and the teardown without a device.
Napi::Value AdoptPeer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
    throw Napi::Error(env, MakeError(env, Failure::FromErrno(errno, "socketpair"), "", nullptr));
  }
  int fd = fds[0];
  try {
    Napi::Object r = Napi::Object::New(env);
    r.Set("handle", DeviceHandle::New(env, &fd, DeviceHandle::Kind::kSg, true));
    r.Set("peer", Napi::Number::New(env, fds[1]));
    return r;
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::close(fds[1]);
    throw;
  }
}

}  // namespace

void RegisterTransport(Napi::Env env, Napi::Object exports) {
  exports.Set("open", Napi::Function::New<Guard<Open>>(env, "open"));
  exports.Set("close", Napi::Function::New<Guard<Close>>(env, "close"));
  exports.Set("execute", Napi::Function::New<Guard<Execute>>(env, "execute"));
  exports.Set("threadStats", Napi::Function::New<Guard<ThreadStats>>(env, "threadStats"));
  Napi::Object testing = Napi::Object::New(env);
  testing.Set("adopt", Napi::Function::New<Guard<Adopt>>(env, "adopt"));
  testing.Set("adoptPeer", Napi::Function::New<Guard<AdoptPeer>>(env, "adoptPeer"));
  RegisterMemory(env, exports, testing);
  exports.Set("testing", testing);
  exports.Set("sgIoHdrSize", Napi::Number::New(env, static_cast<double>(sizeof(sg_io_hdr_t))));
}

}  // namespace odxcp
