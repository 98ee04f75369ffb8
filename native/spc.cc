// SPC primary commands used to probe a LUN: TEST UNIT READY, INQUIRY (standard and VPD),
// REPORT LUNS, REQUEST SENSE. Read copy-offload-reference.md 3.1 (INQUIRY) and 4.5
// (REPORT LUNS); TEST UNIT READY (opcode 0x00) and REQUEST SENSE (0x03, byte 1 bit 0 DESC,
// byte 4 ALLOCATION LENGTH) are the plain 6-byte SPC CDBs named in 1.3.
// The third-party copy commands, also SPC, live in tpc.cc.
#include "be.h"
#include "encoders.h"
#include "fields.h"

namespace odxcp {
namespace {

constexpr uint8_t kTestUnitReady = 0x00;
constexpr uint8_t kRequestSense = 0x03;
constexpr uint8_t kInquiry = 0x12;
constexpr uint8_t kReportLuns = 0xA0;

// Defaults: 255 bytes covers standard INQUIRY data (VPD callers ask for more); 252 is the
// largest sense a device returns; 8192 bytes of REPORT LUNS lists 1023 LUNs.
constexpr uint32_t kInquiryDefaultAllocation = 255;
constexpr uint32_t kRequestSenseDefaultAllocation = 252;
constexpr uint32_t kReportLunsDefaultAllocation = 8192;

Napi::Value testUnitReady(const Napi::CallbackInfo& info) {
  return ToJs(info.Env(), NewCommand(6, kTestUnitReady, 0, Direction::kNone));
}

// ref 3.1: byte 1 bit 0 EVPD, byte 2 PAGE CODE (0 unless EVPD), 3-4 ALLOCATION LENGTH.
Napi::Value inquiry(const Napi::CallbackInfo& info) {
  Fields o(info.Env(), "inquiry", info[0], "", true);
  const bool evpd = o.Bool("evpd", false);
  const uint64_t page = o.Uint("page", 0, kMaxU8, 0);
  if (!evpd && page != 0) {
    o.ThrowRange("page must be 0 when evpd is false (got " + std::to_string(page) +
                 "); set evpd: true to read a VPD page");
  }
  const uint64_t alloc = o.Uint("allocationLength", 1, kMaxU16, kInquiryDefaultAllocation);
  Encoded e = NewDataIn(6, kInquiry, evpd ? 0x01 : 0x00, static_cast<uint32_t>(alloc));
  e.cdb[2] = static_cast<uint8_t>(page);
  PutBe16(&e.cdb[3], static_cast<uint32_t>(alloc));
  return ToJs(info.Env(), e);
}

// ref 4.5: 12-byte CDB, byte 2 SELECT REPORT, 6-9 ALLOCATION LENGTH.
Napi::Value reportLuns(const Napi::CallbackInfo& info) {
  Fields o(info.Env(), "reportLuns", info[0], "", true);
  const uint64_t select = o.Uint("selectReport", 0, kMaxU8, 0);
  const uint64_t alloc = o.Uint("allocationLength", 1, kMaxU32, kReportLunsDefaultAllocation);
  Encoded e = NewDataIn(12, kReportLuns, 0, static_cast<uint32_t>(alloc));
  e.cdb[2] = static_cast<uint8_t>(select);
  PutBe32(&e.cdb[6], static_cast<uint32_t>(alloc));
  return ToJs(info.Env(), e);
}

// Byte 1 bit 0 DESC asks for descriptor-format sense (ref 2.2); byte 4 ALLOCATION LENGTH.
Napi::Value requestSense(const Napi::CallbackInfo& info) {
  Fields o(info.Env(), "requestSense", info[0], "", true);
  const bool desc = o.Bool("descriptorFormat", false);
  const uint64_t alloc = o.Uint("allocationLength", 1, kMaxU8, kRequestSenseDefaultAllocation);
  Encoded e = NewDataIn(6, kRequestSense, desc ? 0x01 : 0x00, static_cast<uint32_t>(alloc));
  e.cdb[4] = static_cast<uint8_t>(alloc);
  return ToJs(info.Env(), e);
}

}  // namespace

void RegisterSpcEncoders(Napi::Env env, Napi::Object encoders) {
  encoders.Set("testUnitReady", Napi::Function::New<Guard<testUnitReady>>(env, "testUnitReady"));
  encoders.Set("inquiry", Napi::Function::New<Guard<inquiry>>(env, "inquiry"));
  encoders.Set("reportLuns", Napi::Function::New<Guard<reportLuns>>(env, "reportLuns"));
  encoders.Set("requestSense", Napi::Function::New<Guard<requestSense>>(env, "requestSense"));
}

}  // namespace odxcp
