// errno names and texts, and the JS error object (see sys_error.h).
#include "sys_error.h"

#include <cerrno>
#include <cstring>

namespace odxcp {

std::string ErrnoName(int e) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  if (const char* name = strerrorname_np(e)) return name;
#else
  switch (e) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EIO: return "EIO";
    case ENXIO: return "ENXIO";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case ENODEV: return "ENODEV";
    case ENOTDIR: return "ENOTDIR";
    case EINVAL: return "EINVAL";
    case EMFILE: return "EMFILE";
    case ENOTTY: return "ENOTTY";
    case EROFS: return "EROFS";
    case EDOM: return "EDOM";
    case ENOSYS: return "ENOSYS";
    case EMSGSIZE: return "EMSGSIZE";
    case ELOOP: return "ELOOP";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ESHUTDOWN: return "ESHUTDOWN";
    default: break;
  }
#endif
  return "E" + std::to_string(e);
}

std::string ErrnoText(int e) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  if (const char* text = strerrordesc_np(e)) return text;
#endif
  return "error " + std::to_string(e);
}

Napi::Value MakeError(Napi::Env env, const Failure& f, const std::string& where, const std::string* path) {
  Napi::Error error = Napi::Error::New(env, f.code + ": " + f.detail + ", " + f.syscall + where);
  Napi::Object o = error.Value();
  o.Set("code", f.code);
  o.Set("errno", Napi::Number::New(env, f.errnum));
  o.Set("syscall", f.syscall);
  if (path != nullptr) o.Set("path", *path);
  return o;
}

}  // namespace odxcp
