// Third-party copy (SPC-4 THIRD-PARTY COPY OUT 0x83 / IN 0x84): EXTENDED COPY(LID1) with its
// 0xE4 identification CSCD descriptor and 0x02 block->block segment descriptor, RECEIVE COPY
// RESULTS, POPULATE TOKEN, WRITE USING TOKEN, RECEIVE ROD TOKEN INFORMATION, RECEIVE COPY
// STATUS(LID4), COPY OPERATION ABORT, REPORT ALL ROD TOKENS.
// Read copy-offload-reference.md 5.1-5.12 and 6. Every length field in a CDB or a parameter
// list is computed from the bytes actually built, never taken from the caller.
// Note ref 8.3: range descriptors start at parameter-list offset 16 (POPULATE TOKEN) and 536
// (WRITE USING TOKEN), not one byte earlier as ddpt writes them.
#include <algorithm>
#include <string>
#include <vector>

#include "be.h"
#include "encoders.h"
#include "fields.h"

namespace odxcp {
namespace {

constexpr uint8_t kThirdPartyCopyOut = 0x83;  // was EXTENDED COPY
constexpr uint8_t kThirdPartyCopyIn = 0x84;   // was RECEIVE COPY RESULTS

// 0x83 service actions (ref 5.1)
constexpr uint8_t kSaExtendedCopyLid1 = 0x00;
constexpr uint8_t kSaPopulateToken = 0x10;
constexpr uint8_t kSaWriteUsingToken = 0x11;
constexpr uint8_t kSaCopyOperationAbort = 0x1C;
// 0x84 service actions (ref 5.1)
constexpr uint8_t kSaReceiveCopyStatusLid1 = 0x00;
constexpr uint8_t kSaReceiveCopyDataLid1 = 0x01;
constexpr uint8_t kSaReceiveCopyOperatingParameters = 0x03;
constexpr uint8_t kSaReceiveCopyFailureDetailsLid1 = 0x04;
constexpr uint8_t kSaReceiveCopyStatusLid4 = 0x05;
constexpr uint8_t kSaReceiveRodTokenInformation = 0x07;
constexpr uint8_t kSaReportAllRodTokens = 0x08;

// EXTENDED COPY(LID1) parameter list (ref 5.2, 5.3, 5.5)
constexpr size_t kLid1HeaderLength = 16;
constexpr uint8_t kIdentificationCscdType = 0xE4;
constexpr size_t kIdentificationCscdLength = 32;
constexpr size_t kMaxDesignatorLength = 20;  // bytes 8-27 of the CSCD descriptor
constexpr uint8_t kBlockToBlockSegmentType = 0x02;
constexpr size_t kBlockToBlockSegmentLength = 28;
constexpr uint16_t kBlockToBlockDescriptorLength = 0x0018;  // bytes after byte 3
constexpr uint16_t kMaxCscdIndex = 0x07FF;                  // ref 5.4
// CSCD list length is 16 bits (header bytes 2-3): at most 2047 descriptors of 32 bytes.
constexpr uint32_t kMaxCscdDescriptors = 0xFFFF / kIdentificationCscdLength;

// ROD token commands (ref 5.8, 5.9)
constexpr size_t kRangeDescriptorLength = 16;
constexpr size_t kPopulateTokenRangesOffset = 16;
constexpr size_t kWriteUsingTokenRangesOffset = 536;
constexpr size_t kRodTokenLength = 512;
// DATA LENGTH (bytes 0-1, total - 2) and RANGE DESCRIPTOR LENGTH (16 x n) are both 16 bits.
constexpr uint32_t MaxRanges(size_t rangesOffset) {
  const size_t byDataLength = (0xFFFF + 2 - rangesOffset) / kRangeDescriptorLength;
  const size_t byListLength = 0xFFFF / kRangeDescriptorLength;
  return static_cast<uint32_t>(byDataLength < byListLength ? byDataLength : byListLength);
}
constexpr uint32_t kMaxPopulateTokenRanges = MaxRanges(kPopulateTokenRangesOffset);      // 4095
constexpr uint32_t kMaxWriteUsingTokenRanges = MaxRanges(kWriteUsingTokenRangesOffset);  // 4062
static_assert(kMaxPopulateTokenRanges == 4095, "PT range limit");
static_assert(kMaxWriteUsingTokenRanges == 4062, "WUT range limit");

// Allocation length defaults. RCR: LIO refuses OPERATING PARAMETERS below 54 bytes (ref 5.6);
// 1024 fits every RCR response with room to spare. RRTI: ddpt's 1024; a token response with
// no sense is 550 bytes (ref 5.10). REPORT ALL ROD TOKENS: 8-byte header + FreeBSD's maximum
// of 512 management tokens of 96 bytes (ref 5.12).
constexpr uint32_t kReceiveCopyResultsDefaultAllocation = 1024;
constexpr uint32_t kRrtiDefaultAllocation = 1024;
constexpr uint32_t kCopyStatusLid4DefaultAllocation = 1024;
constexpr uint32_t kReportAllRodTokensDefaultAllocation = 8 + 512 * 96;

// CSCD descriptor IDs a segment may name (ref 5.4): an index into the CSCD list, or one of the
// special values: null LU PDT 0 / PDT 1, "in a ROD token", the copy manager's own LU.
bool IsSpecialCscdId(uint64_t id) {
  return id == 0xC000 || id == 0xC001 || id == 0xF800 || id == 0xFFFF;
}

uint16_t ReadCscdId(const Fields& s, const char* key, size_t cscdCount, bool checkIndex) {
  const uint64_t id = s.Uint(key, 0, kMaxU16);
  if (id > kMaxCscdIndex && !IsSpecialCscdId(id)) {
    s.ThrowRange(s.Name(key) +
                 " must be 0..2047 (an index into the CSCD descriptor list) or one of 0xC000, 0xC001, "
                 "0xF800, 0xFFFF (got " + std::to_string(id) + ")");
  }
  if (checkIndex && id <= kMaxCscdIndex && id >= cscdCount) {
    s.ThrowRange(s.Name(key) + " is " + std::to_string(id) + " but only " + std::to_string(cscdCount) +
                 " CSCD descriptor(s) are given");
  }
  return static_cast<uint16_t>(id);
}

// ref 5.3: identification CSCD descriptor 0xE4, 32 bytes, written at `out`.
void PutIdentificationCscd(const Fields& c, uint8_t* out) {
  Fields d = c.Child("designator");
  const uint64_t codeSet = d.Uint("codeSet", 0, 0x0F);
  const uint64_t association = d.Uint("association", 0, 0x03);
  const uint64_t designatorType = d.Uint("designatorType", 0, 0x0F);
  const std::vector<uint8_t> designator = d.Bytes("designator", 1, kMaxDesignatorLength);
  const uint64_t pdt = c.Uint("peripheralDeviceType", 0, kMaxU5, 0);
  const uint64_t blockLength = c.Uint("blockLength", 0, kMaxU24);
  const uint64_t relativeInitiatorPort = c.Uint("relativeInitiatorPort", 0, kMaxU16, 0);
  const bool nul = c.Bool("nul", false);
  const bool pad = c.Bool("pad", false);

  std::fill(out, out + kIdentificationCscdLength, 0);
  out[0] = kIdentificationCscdType;
  // byte 1: LU ID TYPE 00b (LUN), bit 5 NUL, bits 4-0 PERIPHERAL DEVICE TYPE
  out[1] = static_cast<uint8_t>((nul ? 0x20 : 0) | pdt);
  PutBe16(&out[2], static_cast<uint32_t>(relativeInitiatorPort));
  // bytes 4-7: the designation descriptor header with PROTOCOL IDENTIFIER and PIV cleared
  out[4] = static_cast<uint8_t>(codeSet);
  out[5] = static_cast<uint8_t>((association << 4) | designatorType);
  out[7] = static_cast<uint8_t>(designator.size());
  std::copy(designator.begin(), designator.end(), &out[8]);  // zero padded to byte 27
  out[28] = pad ? 0x04 : 0x00;
  PutBe24(&out[29], static_cast<uint32_t>(blockLength));
}

// ref 5.5: block -> block segment descriptor 0x02, 28 bytes, written at `out`.
void PutBlockToBlockSegment(const Fields& s, uint8_t* out, size_t cscdCount, bool checkIndex) {
  const uint16_t source = ReadCscdId(s, "sourceCscdId", cscdCount, checkIndex);
  const uint16_t destination = ReadCscdId(s, "destinationCscdId", cscdCount, checkIndex);
  const uint64_t blocks = s.Uint("blocks", 1, kMaxU16);
  const uint64_t sourceLba = s.U64("sourceLba");
  const uint64_t destinationLba = s.U64("destinationLba");
  const bool dc = s.Bool("destinationCount", false);
  const bool cat = s.Bool("cat", false);

  std::fill(out, out + kBlockToBlockSegmentLength, 0);
  out[0] = kBlockToBlockSegmentType;
  out[1] = static_cast<uint8_t>((dc ? 0x02 : 0) | (cat ? 0x01 : 0));
  PutBe16(&out[2], kBlockToBlockDescriptorLength);
  PutBe16(&out[4], source);
  PutBe16(&out[6], destination);
  PutBe16(&out[10], static_cast<uint32_t>(blocks));
  PutBe64(&out[12], sourceLba);
  PutBe64(&out[20], destinationLba);
}

// The parameter list of POPULATE TOKEN or WRITE USING TOKEN (ref 5.8, 5.9) with its block
// device range descriptors (0-7 LBA, 8-11 NUMBER OF LOGICAL BLOCKS) from `rangesOffset` on:
// sets 0-1 DATA LENGTH (total - 2) and the RANGE DESCRIPTOR LENGTH in the two bytes before
// the ranges; the caller fills the rest of the header.
std::vector<uint8_t> RangeList(const Fields& o, const Napi::Array& ranges, size_t rangesOffset) {
  const uint32_t n = ranges.Length();
  std::vector<uint8_t> data(rangesOffset + n * kRangeDescriptorLength, 0);
  PutBe16(&data[0], static_cast<uint32_t>(data.size() - 2));
  PutBe16(&data[rangesOffset - 2], static_cast<uint32_t>(n * kRangeDescriptorLength));
  for (uint32_t i = 0; i < n; ++i) {
    Fields r = o.Element("ranges", ranges, i);
    const uint64_t lba = r.U64("lba");
    const uint64_t blocks = r.Uint("blocks", 1, kMaxU32);
    CheckExtent(r, lba, blocks);
    uint8_t* d = &data[rangesOffset + static_cast<size_t>(i) * kRangeDescriptorLength];
    PutBe64(&d[0], lba);
    PutBe32(&d[8], static_cast<uint32_t>(blocks));
  }
  return data;
}

// THIRD-PARTY COPY OUT with a parameter list (ref 5.1): 10-13 PARAMETER LIST LENGTH.
Encoded CopyOut(uint8_t sa, std::vector<uint8_t> data) {
  Encoded e = NewCommand(16, kThirdPartyCopyOut, sa, Direction::kToDevice);
  PutBe32(&e.cdb[10], static_cast<uint32_t>(data.size()));
  e.data = std::move(data);
  return e;
}

// POPULATE TOKEN and WRITE USING TOKEN (ref 5.8, 5.9) add 6-9 LIST IDENTIFIER, 14 GROUP NUMBER.
Encoded TokenCommand(uint8_t sa, uint64_t listId, uint64_t group, std::vector<uint8_t> data) {
  Encoded e = CopyOut(sa, std::move(data));
  PutBe32(&e.cdb[6], static_cast<uint32_t>(listId));
  e.cdb[14] = static_cast<uint8_t>(group);
  return e;
}

// CDB shared by the 0x84 commands with a 4-byte list id (ref 5.10): 2-5 LIST IDENTIFIER,
// 10-13 ALLOCATION LENGTH.
Encoded CopyInLid4(uint8_t sa, uint64_t listId, uint64_t alloc) {
  Encoded e = NewDataIn16(kThirdPartyCopyIn, sa, static_cast<uint32_t>(alloc));
  PutBe32(&e.cdb[2], static_cast<uint32_t>(listId));
  return e;
}

Napi::Value identificationCscdDescriptor(const Napi::CallbackInfo& info) {
  Fields o(info.Env(), "identificationCscdDescriptor", info[0], "");
  uint8_t out[kIdentificationCscdLength];
  PutIdentificationCscd(o, out);
  return Napi::Buffer<uint8_t>::Copy(info.Env(), out, sizeof out);
}

Napi::Value blockToBlockSegmentDescriptor(const Napi::CallbackInfo& info) {
  Fields o(info.Env(), "blockToBlockSegmentDescriptor", info[0], "");
  uint8_t out[kBlockToBlockSegmentLength];
  // Standalone: no CSCD list to check the indexes against.
  PutBlockToBlockSegment(o, out, 0, false);
  return Napi::Buffer<uint8_t>::Copy(info.Env(), out, sizeof out);
}

// ref 5.2: CDB 10-13 PARAMETER LIST LENGTH; 16-byte header, then CSCD descriptors, then
// segment descriptors; no inline data.
Napi::Value extendedCopyLid1(const Napi::CallbackInfo& info) {
  Fields o(info.Env(), "extendedCopyLid1", info[0], "");
  const uint64_t listId = o.Uint("listId", 0, kMaxU8);
  const size_t usage = o.Choice("listIdUsage", {"hold", "discard", "none"});
  if (usage == 2 && listId != 0) {
    o.ThrowRange("listId must be 0 when listIdUsage is 'none' (got " + std::to_string(listId) + ")");
  }
  // PRIORITY: 1 is what ordinary commands run at; sg_xcopy's default (ref 5.2).
  const uint64_t priority = o.Uint("priority", 0, 0x07, 1);
  const bool str = o.Bool("str", false);
  const Napi::Array cscds = o.Array("cscds", 0, kMaxCscdDescriptors);
  const uint32_t cscdCount = cscds.Length();
  const size_t cscdBytes = static_cast<size_t>(cscdCount) * kIdentificationCscdLength;
  // The 32-bit PARAMETER LIST LENGTH bounds the segment count.
  const uint64_t maxSegments = (kMaxU32 - kLid1HeaderLength - cscdBytes) / kBlockToBlockSegmentLength;
  const Napi::Array segments = o.Array("segments", 1, static_cast<uint32_t>(maxSegments));
  const uint32_t segmentCount = segments.Length();
  const size_t segmentBytes = static_cast<size_t>(segmentCount) * kBlockToBlockSegmentLength;

  std::vector<uint8_t> data(kLid1HeaderLength + cscdBytes + segmentBytes, 0);
  data[0] = static_cast<uint8_t>(listId);
  static const uint8_t kUsageBits[] = {0x00 /* 00b hold */, 0x10 /* 10b discard */, 0x18 /* 11b none */};
  data[1] = static_cast<uint8_t>((str ? 0x20 : 0) | kUsageBits[usage] | priority);
  PutBe16(&data[2], static_cast<uint32_t>(cscdBytes));
  PutBe32(&data[8], static_cast<uint32_t>(segmentBytes));
  // bytes 12-15 INLINE DATA LENGTH stay 0
  for (uint32_t i = 0; i < cscdCount; ++i) {
    PutIdentificationCscd(o.Element("cscds", cscds, i),
                          &data[kLid1HeaderLength + static_cast<size_t>(i) * kIdentificationCscdLength]);
  }
  for (uint32_t i = 0; i < segmentCount; ++i) {
    PutBlockToBlockSegment(o.Element("segments", segments, i),
                           &data[kLid1HeaderLength + cscdBytes + static_cast<size_t>(i) * kBlockToBlockSegmentLength],
                           cscdCount, true);
  }

  return ToJs(info.Env(), CopyOut(kSaExtendedCopyLid1, std::move(data)));
}

// ref 5.6: byte 2 LIST IDENTIFIER for the LID1 service actions, reserved (0) for OPERATING
// PARAMETERS; 10-13 ALLOCATION LENGTH.
Napi::Value receiveCopyResults(const Napi::CallbackInfo& info) {
  Fields o(info.Env(), "receiveCopyResults", info[0], "");
  static const uint8_t kSas[] = {kSaReceiveCopyStatusLid1, kSaReceiveCopyDataLid1,
                                 kSaReceiveCopyOperatingParameters, kSaReceiveCopyFailureDetailsLid1};
  const size_t which =
      o.Choice("serviceAction", {"copyStatus", "receiveData", "operatingParameters", "failedSegmentDetails"});
  const uint64_t listId = o.Uint("listId", 0, kMaxU8, 0);
  if (kSas[which] == kSaReceiveCopyOperatingParameters && listId != 0) {
    o.ThrowRange("listId must be 0 for serviceAction 'operatingParameters' (byte 2 is reserved there; got " +
                 std::to_string(listId) + ")");
  }
  const uint64_t alloc = o.Uint("allocationLength", 1, kMaxU32, kReceiveCopyResultsDefaultAllocation);
  Encoded e = NewDataIn16(kThirdPartyCopyIn, kSas[which], static_cast<uint32_t>(alloc));
  e.cdb[2] = static_cast<uint8_t>(listId);
  return ToJs(info.Env(), e);
}

// ref 5.8: parameter list 0-1 DATA LENGTH (total - 2), byte 2 bit 1 RTV / bit 0 IMMED,
// 4-7 INACTIVITY TIMEOUT, 8-11 ROD TYPE, 14-15 RANGE DESCRIPTOR LENGTH, ranges from 16.
Napi::Value populateToken(const Napi::CallbackInfo& info) {
  Fields o(info.Env(), "populateToken", info[0], "");
  const uint64_t listId = o.Uint("listId", 0, kMaxU32);
  const bool immed = o.Bool("immed", false);
  const uint64_t inactivityTimeout = o.Uint("inactivityTimeout", 0, kMaxU32, 0);
  const bool rtv = o.Has("rodType");
  const uint64_t rodType = rtv ? o.Uint("rodType", 0, kMaxU32) : 0;
  const uint64_t group = o.Uint("group", 0, kMaxU5, 0);
  const Napi::Array ranges = o.Array("ranges", 1, kMaxPopulateTokenRanges);

  std::vector<uint8_t> data = RangeList(o, ranges, kPopulateTokenRangesOffset);
  data[2] = static_cast<uint8_t>((rtv ? 0x02 : 0) | (immed ? 0x01 : 0));
  PutBe32(&data[4], static_cast<uint32_t>(inactivityTimeout));
  PutBe32(&data[8], static_cast<uint32_t>(rodType));
  return ToJs(info.Env(), TokenCommand(kSaPopulateToken, listId, group, std::move(data)));
}

// ref 5.9: parameter list 0-1 DATA LENGTH, byte 2 bit 1 DEL_TKN / bit 0 IMMED, 8-15 OFFSET
// INTO ROD, 16-527 ROD TOKEN, 534-535 RANGE DESCRIPTOR LENGTH, ranges from 536.
Napi::Value writeUsingToken(const Napi::CallbackInfo& info) {
  Fields o(info.Env(), "writeUsingToken", info[0], "");
  const uint64_t listId = o.Uint("listId", 0, kMaxU32);
  const bool immed = o.Bool("immed", false);
  const bool deleteToken = o.Bool("deleteToken", false);
  const uint64_t offsetIntoRod = o.U64("offsetIntoRod", 0);
  const std::vector<uint8_t> token = o.Bytes("token", kRodTokenLength, kRodTokenLength);
  const uint64_t group = o.Uint("group", 0, kMaxU5, 0);
  const Napi::Array ranges = o.Array("ranges", 1, kMaxWriteUsingTokenRanges);

  std::vector<uint8_t> data = RangeList(o, ranges, kWriteUsingTokenRangesOffset);
  data[2] = static_cast<uint8_t>((deleteToken ? 0x02 : 0) | (immed ? 0x01 : 0));
  PutBe64(&data[8], offsetIntoRod);
  std::copy(token.begin(), token.end(), &data[16]);
  return ToJs(info.Env(), TokenCommand(kSaWriteUsingToken, listId, group, std::move(data)));
}

Napi::Value receiveRodTokenInformation(const Napi::CallbackInfo& info) {
  Fields o(info.Env(), "receiveRodTokenInformation", info[0], "");
  const uint64_t listId = o.Uint("listId", 0, kMaxU32);
  const uint64_t alloc = o.Uint("allocationLength", 1, kMaxU32, kRrtiDefaultAllocation);
  return ToJs(info.Env(), CopyInLid4(kSaReceiveRodTokenInformation, listId, alloc));
}

Napi::Value receiveCopyStatusLid4(const Napi::CallbackInfo& info) {
  Fields o(info.Env(), "receiveCopyStatusLid4", info[0], "");
  const uint64_t listId = o.Uint("listId", 0, kMaxU32);
  const uint64_t alloc = o.Uint("allocationLength", 1, kMaxU32, kCopyStatusLid4DefaultAllocation);
  return ToJs(info.Env(), CopyInLid4(kSaReceiveCopyStatusLid4, listId, alloc));
}

// ref 5.11: 2-5 LIST IDENTIFIER, no data.
Napi::Value copyOperationAbort(const Napi::CallbackInfo& info) {
  Fields o(info.Env(), "copyOperationAbort", info[0], "");
  const uint64_t listId = o.Uint("listId", 0, kMaxU32);
  Encoded e = NewCommand(16, kThirdPartyCopyOut, kSaCopyOperationAbort, Direction::kNone);
  PutBe32(&e.cdb[2], static_cast<uint32_t>(listId));
  return ToJs(info.Env(), e);
}

// ref 5.12: 10-13 ALLOCATION LENGTH.
Napi::Value reportAllRodTokens(const Napi::CallbackInfo& info) {
  Fields o(info.Env(), "reportAllRodTokens", info[0], "", true);
  const uint64_t alloc = o.Uint("allocationLength", 1, kMaxU32, kReportAllRodTokensDefaultAllocation);
  return ToJs(info.Env(), NewDataIn16(kThirdPartyCopyIn, kSaReportAllRodTokens, static_cast<uint32_t>(alloc)));
}

}  // namespace

void RegisterTpcEncoders(Napi::Env env, Napi::Object encoders) {
  encoders.Set("identificationCscdDescriptor",
               Napi::Function::New<Guard<identificationCscdDescriptor>>(env, "identificationCscdDescriptor"));
  encoders.Set("blockToBlockSegmentDescriptor",
               Napi::Function::New<Guard<blockToBlockSegmentDescriptor>>(env, "blockToBlockSegmentDescriptor"));
  encoders.Set("extendedCopyLid1", Napi::Function::New<Guard<extendedCopyLid1>>(env, "extendedCopyLid1"));
  encoders.Set("receiveCopyResults", Napi::Function::New<Guard<receiveCopyResults>>(env, "receiveCopyResults"));
  encoders.Set("populateToken", Napi::Function::New<Guard<populateToken>>(env, "populateToken"));
  encoders.Set("writeUsingToken", Napi::Function::New<Guard<writeUsingToken>>(env, "writeUsingToken"));
  encoders.Set("receiveRodTokenInformation",
               Napi::Function::New<Guard<receiveRodTokenInformation>>(env, "receiveRodTokenInformation"));
  encoders.Set("receiveCopyStatusLid4",
               Napi::Function::New<Guard<receiveCopyStatusLid4>>(env, "receiveCopyStatusLid4"));
  encoders.Set("copyOperationAbort", Napi::Function::New<Guard<copyOperationAbort>>(env, "copyOperationAbort"));
  encoders.Set("reportAllRodTokens", Napi::Function::New<Guard<reportAllRodTokens>>(env, "reportAllRodTokens"));
}

}  // namespace odxcp
