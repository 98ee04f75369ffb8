// alignedBuffer / testing.alignment: page-aligned data buffers for the host copy. The block
// layer maps an aligned user buffer straight into the request (blk_rq_map_user) instead of
// bouncing it through a kernel copy; malloc's large chunks start 16 bytes past a page.
#include "memory.h"

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "fields.h"

namespace odxcp {
namespace {

constexpr size_t kMaxAligned = size_t{1} << 30;  // far above any transfer the engine plans

size_t PageSize() {
  const long p = ::sysconf(_SC_PAGESIZE);
  return p > 0 ? static_cast<size_t>(p) : 4096;
}

Napi::Value AlignedBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) ThrowTypeError(env, "alignedBuffer", "length must be a number (got " + Describe(info[0]) + ")");
  const double n = info[0].As<Napi::Number>().DoubleValue();
  if (!(n >= 1 && n <= static_cast<double>(kMaxAligned)) || n != static_cast<double>(static_cast<size_t>(n))) {
    throw Napi::RangeError::New(env, "alignedBuffer: length must be a whole number from 1 to 2^30");
  }
  const size_t length = static_cast<size_t>(n);
  void* p = nullptr;
  if (::posix_memalign(&p, PageSize(), length) != 0) throw Napi::RangeError::New(env, "alignedBuffer: out of memory");
  std::memset(p, 0, length);  // never hand the kernel or JS stale heap bytes
  return Napi::Buffer<uint8_t>::New(env, static_cast<uint8_t*>(p), length, [](Napi::Env, uint8_t* data) { std::free(data); });
}

// Test-only: the buffer's start address modulo the page size (0 when page-aligned).
Napi::Value Alignment(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsBuffer()) ThrowTypeError(env, "testing.alignment", "buffer must be a Buffer (got " + Describe(info[0]) + ")");
  const auto address = reinterpret_cast<uintptr_t>(info[0].As<Napi::Buffer<uint8_t>>().Data());
  return Napi::Number::New(env, static_cast<double>(address % PageSize()));
}

}  // namespace

void RegisterMemory(Napi::Env env, Napi::Object exports, Napi::Object testing) {
  exports.Set("alignedBuffer", Napi::Function::New<Guard<AlignedBuffer>>(env, "alignedBuffer"));
  testing.Set("alignment", Napi::Function::New<Guard<Alignment>>(env, "alignment"));
}

}  // namespace odxcp
