// The host copy's data lane: a range copied between two block nodes by READ(16)/WRITE(16)
// pairs over SG_IO on the addon's threads, without JS between the commands (lane.cc).
#ifndef ODXCP_LANE_H_
#define ODXCP_LANE_H_

#include <napi.h>

namespace odxcp {

// The CopyLane class copyLane() returns instances of (kept in Addon::laneClass).
Napi::Function DefineLaneClass(Napi::Env env);
// Adds copyLane to `exports`.
void RegisterLane(Napi::Env env, Napi::Object exports);

}  // namespace odxcp

#endif  // ODXCP_LANE_H_
