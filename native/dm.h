// Device-mapper tables through the control node's ioctls (<linux/dm-ioctl.h>), the interface
// dmsetup uses: list the maps, read one map's table. Raw target specs out; lib/device/dm.ts
// parses the parameter strings.
#ifndef ODXCP_DM_H_
#define ODXCP_DM_H_

#include <napi.h>

namespace odxcp {

// Adds `dm: {version, list, table}` to `exports` (table(major, minor, status?) reads the loaded
// table, or with status=true each target's status line).
void RegisterDm(Napi::Env env, Napi::Object exports);

}  // namespace odxcp

#endif  // ODXCP_DM_H_
