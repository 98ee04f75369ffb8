// DM_VERSION, DM_LIST_DEVICES and DM_TABLE_STATUS (with DM_STATUS_TABLE_FLAG: the table as
// loaded, not the targets' status) on /dev/mapper/control. Synchronous: each is one ioctl
// the kernel answers from memory. Every offset the kernel returns is checked against the
// buffer before it is followed.
#include "dm.h"

#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "fields.h"
#include "sys_error.h"

namespace odxcp {
namespace {

const char kControl[] = "/dev/mapper/control";

class Control {
 public:
  explicit Control(Napi::Env env) : env_(env) {
    fd_ = open(kControl, O_RDWR | O_CLOEXEC);
    if (fd_ < 0) {
      std::string p(kControl);
      throw Napi::Error(env, MakeError(env, Failure::FromErrno(errno, "open"), " '" + p + "'", &p));
    }
  }
  ~Control() { close(fd_); }
  Control(const Control&) = delete;
  Control& operator=(const Control&) = delete;

  // Runs `cmd` with a buffer grown until the answer fits (DM_BUFFER_FULL_FLAG); returns it.
  std::vector<char> Run(unsigned long cmd, const char* name, const dm_ioctl& in) {
    size_t size = 16 * 1024;
    for (;;) {
      std::vector<char> buf(size, 0);
      dm_ioctl* io = reinterpret_cast<dm_ioctl*>(buf.data());
      *io = in;
      io->version[0] = DM_VERSION_MAJOR;
      io->version[1] = 0;
      io->version[2] = 0;
      io->data_size = static_cast<__u32>(size);
      io->data_start = sizeof(dm_ioctl);
      if (ioctl(fd_, cmd, io) < 0) {
        throw Napi::Error(env_, MakeError(env_, Failure::FromErrno(errno, std::string("ioctl ") + name), " (" + std::string(kControl) + ")", nullptr));
      }
      if (!(io->flags & DM_BUFFER_FULL_FLAG)) return buf;
      if (size >= (64u << 20)) throw Napi::RangeError::New(env_, std::string("odxcp: ") + name + ": answer larger than 64 MiB");
      size *= 4;
    }
  }

 private:
  Napi::Env env_;
  int fd_;
};

// A NUL-terminated string inside [p, end), or the empty string when it runs off the end.
std::string Bounded(const char* p, const char* end) {
  if (p >= end) return std::string();
  const void* nul = memchr(p, '\0', static_cast<size_t>(end - p));
  return nul ? std::string(p) : std::string();
}

const dm_ioctl& Header(const std::vector<char>& buf) { return *reinterpret_cast<const dm_ioctl*>(buf.data()); }

// The answer's data area [data_start, data_size), clamped to the buffer.
void DataArea(const std::vector<char>& buf, const char** begin, const char** end) {
  const dm_ioctl& h = Header(buf);
  size_t size = h.data_size < buf.size() ? h.data_size : buf.size();
  size_t start = h.data_start < size ? h.data_start : size;
  *begin = buf.data() + start;
  *end = buf.data() + size;
}

Napi::Value Version(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Control c(env);
  dm_ioctl in{};
  std::vector<char> buf = c.Run(DM_VERSION, "DM_VERSION", in);
  Napi::Array v = Napi::Array::New(env, 3);
  for (uint32_t i = 0; i < 3; i++) v.Set(i, Napi::Number::New(env, Header(buf).version[i]));
  return v;
}

// [{name, major, minor}] of every map.
Napi::Value List(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Control c(env);
  dm_ioctl in{};
  std::vector<char> buf = c.Run(DM_LIST_DEVICES, "DM_LIST_DEVICES", in);
  const char* begin;
  const char* end;
  DataArea(buf, &begin, &end);
  Napi::Array out = Napi::Array::New(env);
  const char* p = begin;
  uint32_t n = 0;
  // An empty list is one record with dev 0; a record's `next` of 0 ends the list.
  while (p + sizeof(dm_name_list) <= end) {
    const dm_name_list* rec = reinterpret_cast<const dm_name_list*>(p);
    if (rec->dev == 0) break;
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", Bounded(rec->name, end));
    o.Set("major", Napi::Number::New(env, major(rec->dev)));
    o.Set("minor", Napi::Number::New(env, minor(rec->dev)));
    out.Set(n++, o);
    if (rec->next == 0 || rec->next > static_cast<size_t>(end - p)) break;
    p += rec->next;
  }
  return out;
}

// table(major, minor[, status]) -> {name, uuid, openCount, targets: [{start, length, type, params}]};
// start and length in 512-byte sectors, as bigints. With `status` true, `params` is each
// target's status line (DM_TABLE_STATUS without DM_STATUS_TABLE_FLAG: multipath's path states).
Napi::Value Table(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t maj = static_cast<uint32_t>(ReadUint(env, "dm.table", "major", info[0], 0, 0xfff));
  uint32_t min = static_cast<uint32_t>(ReadUint(env, "dm.table", "minor", info[1], 0, 0xfffff));
  Control c(env);
  dm_ioctl in{};
  in.dev = makedev(maj, min);
  bool status = info.Length() > 2 && info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value();
  in.flags = status ? 0 : DM_STATUS_TABLE_FLAG;
  std::vector<char> buf = c.Run(DM_TABLE_STATUS, "DM_TABLE_STATUS", in);
  const dm_ioctl& h = Header(buf);
  const char* begin;
  const char* end;
  DataArea(buf, &begin, &end);
  Napi::Object out = Napi::Object::New(env);
  out.Set("name", Bounded(h.name, h.name + sizeof(h.name)));
  out.Set("uuid", Bounded(h.uuid, h.uuid + sizeof(h.uuid)));
  out.Set("openCount", Napi::Number::New(env, h.open_count));
  Napi::Array targets = Napi::Array::New(env);
  size_t offset = 0;
  for (uint32_t i = 0; i < h.target_count; i++) {
    if (offset > static_cast<size_t>(end - begin) || sizeof(dm_target_spec) > static_cast<size_t>(end - begin) - offset) {
      throw Napi::RangeError::New(env, "odxcp: DM_TABLE_STATUS: target spec past the end of the answer");
    }
    dm_target_spec spec;
    memcpy(&spec, begin + offset, sizeof(spec));
    Napi::Object t = Napi::Object::New(env);
    t.Set("start", Napi::BigInt::New(env, static_cast<uint64_t>(spec.sector_start)));
    t.Set("length", Napi::BigInt::New(env, static_cast<uint64_t>(spec.length)));
    t.Set("type", Bounded(spec.target_type, spec.target_type + sizeof(spec.target_type)));
    t.Set("params", Bounded(begin + offset + sizeof(dm_target_spec), end));
    targets.Set(i, t);
    // For DM_TABLE_STATUS, `next` counts from the start of the data area.
    if (spec.next <= offset && i + 1 < h.target_count) {
      throw Napi::RangeError::New(env, "odxcp: DM_TABLE_STATUS: target specs out of order");
    }
    offset = spec.next;
  }
  out.Set("targets", targets);
  return out;
}

}  // namespace

void RegisterDm(Napi::Env env, Napi::Object exports) {
  Napi::Object dm = Napi::Object::New(env);
  dm.Set("version", Napi::Function::New<Guard<Version>>(env, "version"));
  dm.Set("list", Napi::Function::New<Guard<List>>(env, "list"));
  dm.Set("table", Napi::Function::New<Guard<Table>>(env, "table"));
  exports.Set("dm", dm);
}

}  // namespace odxcp
