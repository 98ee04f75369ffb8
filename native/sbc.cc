// SBC block commands used around a copy: READ CAPACITY(16), READ(16), WRITE(16),
// SYNCHRONIZE CACHE(16) and (10), WRITE SAME(16). Read copy-offload-reference.md 4.1-4.4.
// The 16-byte CDBs: LBA in bytes 2-9, a 32-bit count in 10-13, GROUP NUMBER in byte 14.
#include "be.h"
#include "encoders.h"
#include "fields.h"

namespace odxcp {
namespace {

constexpr uint8_t kRead16 = 0x88;
constexpr uint8_t kWrite16 = 0x8A;
constexpr uint8_t kSynchronizeCache10 = 0x35;
constexpr uint8_t kSynchronizeCache16 = 0x91;
constexpr uint8_t kWriteSame16 = 0x93;
constexpr uint8_t kServiceActionIn16 = 0x9E;
constexpr uint8_t kSaReadCapacity16 = 0x10;

// 32 bytes is the whole READ CAPACITY(16) parameter data (ref 4.1).
constexpr uint32_t kReadCapacity16DefaultAllocation = 32;

// The CDB the four block commands share, after their own fields: reads GROUP NUMBER, then
// checks the extent (the order of the checks decides which error a caller sees first).
Encoded BlockCommand16(const Fields& o, uint8_t opcode, uint8_t flags, uint64_t lba, uint64_t blocks,
                       Direction direction) {
  const uint64_t group = o.Uint("group", 0, kMaxU5, 0);
  CheckExtent(o, lba, blocks);
  Encoded e = NewCommand(16, opcode, flags, direction);
  PutBe64(&e.cdb[2], lba);
  PutBe32(&e.cdb[10], static_cast<uint32_t>(blocks));
  e.cdb[14] = static_cast<uint8_t>(group);
  return e;
}

// Common body of READ(16) / WRITE(16) (ref 4.2): byte 1 bit 4 DPO, bit 3 FUA.
Encoded ReadWrite16(const Fields& o, uint8_t opcode, Direction direction) {
  const uint64_t lba = o.U64("lba");
  const uint64_t blocks = o.Uint("blocks", 1, kMaxU32);
  const bool fua = o.Bool("fua", false);
  const bool dpo = o.Bool("dpo", false);
  // The data buffer is blocks x logical block length, which only the caller knows.
  return BlockCommand16(o, opcode, static_cast<uint8_t>((dpo ? 0x10 : 0) | (fua ? 0x08 : 0)), lba, blocks,
                        direction);
}

// ref 4.1: SERVICE ACTION IN(16) with SA 0x10; 10-13 ALLOCATION LENGTH; PMI (obsolete) 0.
Napi::Value readCapacity16(const Napi::CallbackInfo& info) {
  Fields o(info.Env(), "readCapacity16", info[0], "", true);
  const uint64_t alloc = o.Uint("allocationLength", 1, kMaxU32, kReadCapacity16DefaultAllocation);
  return ToJs(info.Env(), NewDataIn16(kServiceActionIn16, kSaReadCapacity16, static_cast<uint32_t>(alloc)));
}

Napi::Value read16(const Napi::CallbackInfo& info) {
  Fields o(info.Env(), "read16", info[0], "");
  return ToJs(info.Env(), ReadWrite16(o, kRead16, Direction::kFromDevice));
}

Napi::Value write16(const Napi::CallbackInfo& info) {
  Fields o(info.Env(), "write16", info[0], "");
  return ToJs(info.Env(), ReadWrite16(o, kWrite16, Direction::kToDevice));
}

// ref 4.3: byte 1 bit 1 IMMED; NUMBER OF BLOCKS 0 (the default) covers the rest of the medium.
Napi::Value synchronizeCache16(const Napi::CallbackInfo& info) {
  Fields o(info.Env(), "synchronizeCache16", info[0], "", true);
  const uint64_t lba = o.U64("lba", 0);
  const uint64_t blocks = o.Uint("blocks", 0, kMaxU32, 0);
  const bool immed = o.Bool("immed", false);
  return ToJs(info.Env(), BlockCommand16(o, kSynchronizeCache16, immed ? 0x02 : 0x00, lba, blocks, Direction::kNone));
}

// SBC-3 5.22: the 10-byte form, for targets that refuse the 16-byte one. Byte 1 bit 1 IMMED;
// 2-5 LBA (32 bit); 6 GROUP NUMBER; 7-8 NUMBER OF LOGICAL BLOCKS (16 bit, 0 = to the end).
Napi::Value synchronizeCache10(const Napi::CallbackInfo& info) {
  Fields o(info.Env(), "synchronizeCache10", info[0], "", true);
  const uint64_t lba = o.Uint("lba", 0, kMaxU32, 0);
  const uint64_t blocks = o.Uint("blocks", 0, kMaxU16, 0);
  const bool immed = o.Bool("immed", false);
  const uint64_t group = o.Uint("group", 0, kMaxU5, 0);
  if (blocks != 0 && lba > kMaxU32 - (blocks - 1)) {
    o.ThrowRange(o.Name("lba") + " + " + o.Name("blocks") + " - 1 must not exceed 4294967295 (lba " +
                 std::to_string(lba) + ", blocks " + std::to_string(blocks) + ")");
  }
  Encoded e = NewCommand(10, kSynchronizeCache10, immed ? 0x02 : 0x00, Direction::kNone);
  PutBe32(&e.cdb[2], static_cast<uint32_t>(lba));
  e.cdb[6] = static_cast<uint8_t>(group);
  PutBe16(&e.cdb[7], static_cast<uint32_t>(blocks));
  return ToJs(info.Env(), e);
}

// ref 4.4: byte 1 bit 4 ANCHOR, bit 3 UNMAP, bit 0 NDOB. With `block` the data-out is that
// block; without it NDOB=1 and nothing is sent. NUMBER OF BLOCKS 0 would mean "to the end of
// the medium", so 0 is refused: that must never happen by accident.
Napi::Value writeSame16(const Napi::CallbackInfo& info) {
  Fields o(info.Env(), "writeSame16", info[0], "");
  const uint64_t lba = o.U64("lba");
  const uint64_t blocks = o.Uint("blocks", 1, kMaxU32);
  const bool unmap = o.Bool("unmap", false);
  const bool anchor = o.Bool("anchor", false);
  Encoded e = BlockCommand16(o, kWriteSame16, static_cast<uint8_t>((anchor ? 0x10 : 0) | (unmap ? 0x08 : 0)), lba,
                             blocks, Direction::kNone);
  if (o.Has("block")) {
    e.data = o.Bytes("block", 1, 0x7FFFFFFF);
    e.direction = Direction::kToDevice;
  } else {
    e.cdb[1] |= 0x01;  // NDOB: no data-out buffer
  }
  return ToJs(info.Env(), e);
}

}  // namespace

void RegisterSbcEncoders(Napi::Env env, Napi::Object encoders) {
  encoders.Set("readCapacity16", Napi::Function::New<Guard<readCapacity16>>(env, "readCapacity16"));
  encoders.Set("read16", Napi::Function::New<Guard<read16>>(env, "read16"));
  encoders.Set("write16", Napi::Function::New<Guard<write16>>(env, "write16"));
  encoders.Set("synchronizeCache16",
               Napi::Function::New<Guard<synchronizeCache16>>(env, "synchronizeCache16"));
  encoders.Set("synchronizeCache10",
               Napi::Function::New<Guard<synchronizeCache10>>(env, "synchronizeCache10"));
  encoders.Set("writeSame16", Napi::Function::New<Guard<writeSame16>>(env, "writeSame16"));
}

}  // namespace odxcp
