// Failures as plain data (built on any thread) and their JS form (built on the JS thread):
// "ENOENT: No such file or directory, open '/dev/sgX'" with code, errno, syscall and path
// (lib/native.ts NativeSystemError).
#ifndef ODXCP_SYS_ERROR_H_
#define ODXCP_SYS_ERROR_H_

#include <napi.h>

#include <string>
#include <utility>

namespace odxcp {

// Node style: "ENOENT", not "no such file or directory"; the TS layer switches on it.
std::string ErrnoName(int e);
// Thread-safe, unlike strerror.
std::string ErrnoText(int e);

struct Failure {
  std::string code;     // errno name, or one of the addon's own (ENOTSCSI, EPARTITION, ECLOSED)
  int errnum = 0;       // positive errno; 0 for the addon's own codes
  std::string syscall;  // "open", "ioctl SG_IO", ...
  std::string detail;   // text after "CODE: "

  static Failure FromErrno(int e, std::string syscall) {
    return Failure{ErrnoName(e), e, std::move(syscall), ErrnoText(e)};
  }
};

// `where` is " '<path>'" or " (fd N)"; `path`, when given, becomes the error's path property.
Napi::Value MakeError(Napi::Env env, const Failure& f, const std::string& where, const std::string* path);

}  // namespace odxcp

#endif  // ODXCP_SYS_ERROR_H_
