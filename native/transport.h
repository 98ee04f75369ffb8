// The transport: open a device node as a handle (device_handle.h), close it, and run one SG_IO
// command on an addon-owned thread.
// This is the only file that knows SG_IO (copy-offload-reference.md section 1).
#ifndef ODXCP_TRANSPORT_H_
#define ODXCP_TRANSPORT_H_

#include <napi.h>

namespace odxcp {

// Adds open, close, execute, threadStats, testing.adopt and sgIoHdrSize to `exports`.
void RegisterTransport(Napi::Env env, Napi::Object exports);

}  // namespace odxcp

#endif  // ODXCP_TRANSPORT_H_
