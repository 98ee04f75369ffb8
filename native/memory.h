// Page-aligned buffers for the host copy's READ/WRITE data (memory.cc).
#ifndef ODXCP_MEMORY_H_
#define ODXCP_MEMORY_H_

#include <napi.h>

namespace odxcp {

// Adds alignedBuffer to `exports` and alignment to `testing`.
void RegisterMemory(Napi::Env env, Napi::Object exports, Napi::Object testing);

}  // namespace odxcp

#endif  // ODXCP_MEMORY_H_
