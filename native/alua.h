// REPORT TARGET PORT GROUPS (SPC-4 MAINTENANCE IN, service action 0x0A): the ALUA state of each
// target port group, for choosing a path when no ALUA device handler reports it in sysfs.
#ifndef ODXCP_ALUA_H_
#define ODXCP_ALUA_H_

#include <napi.h>

namespace odxcp {

// Adds reportTargetPortGroups to `encoders`.
void RegisterAluaEncoders(Napi::Env env, Napi::Object encoders);

}  // namespace odxcp

#endif  // ODXCP_ALUA_H_
