// REPORT TARGET PORT GROUPS: 12-byte MAINTENANCE IN CDB, byte 1 bits 4-0 SERVICE ACTION 0Ah and
// bits 7-5 PARAMETER DATA FORMAT (000b length only, 001b extended header), bytes 6-9
// ALLOCATION LENGTH.
#include "alua.h"

#include "be.h"
#include "fields.h"

namespace odxcp {
namespace {

constexpr uint8_t kMaintenanceIn = 0xA3;
constexpr uint8_t kReportTargetPortGroups = 0x0A;
// Groups of 8 bytes plus 4 per port: 4 KiB holds far more than any array reports.
constexpr uint32_t kDefaultAllocation = 4096;

Napi::Value reportTargetPortGroups(const Napi::CallbackInfo& info) {
  Fields o(info.Env(), "reportTargetPortGroups", info[0], "", true);
  const bool extended = o.Bool("extended", false);
  const uint64_t alloc = o.Uint("allocationLength", 4, kMaxU32, kDefaultAllocation);
  Encoded e = NewDataIn(12, kMaintenanceIn, static_cast<uint8_t>((extended ? 0x20 : 0x00) | kReportTargetPortGroups),
                        static_cast<uint32_t>(alloc));
  PutBe32(&e.cdb[6], static_cast<uint32_t>(alloc));
  return ToJs(info.Env(), e);
}

}  // namespace

void RegisterAluaEncoders(Napi::Env env, Napi::Object encoders) {
  encoders.Set("reportTargetPortGroups", Napi::Function::New<Guard<reportTargetPortGroups>>(env, "reportTargetPortGroups"));
}

}  // namespace odxcp
