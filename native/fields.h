// Reading JS arguments into validated C++ values, and the result object every command encoder
// returns. Each check names the function and the field ("populateToken: ranges[2].blocks must
// be an integer in 1..4294967295 (got 0)"): TypeError for a wrong type, RangeError for a value
// outside the field's width or meaning. Nothing is truncated or coerced.
#ifndef ODXCP_FIELDS_H_
#define ODXCP_FIELDS_H_

#include <napi.h>

#include <cstdint>
#include <initializer_list>
#include <new>
#include <optional>
#include <string>
#include <vector>

namespace odxcp {

constexpr uint64_t kMaxU5 = 0x1F;  // GROUP NUMBER, PERIPHERAL DEVICE TYPE
constexpr uint64_t kMaxU8 = 0xFF;
constexpr uint64_t kMaxU16 = 0xFFFF;
constexpr uint64_t kMaxU24 = 0xFFFFFF;
constexpr uint64_t kMaxU32 = 0xFFFFFFFF;
constexpr uint64_t kMaxU64 = UINT64_MAX;

// One JS object whose properties are being read: the options of `fn` (path "") or an object
// nested in them (path "ranges[2]", "designator").
class Fields {
 public:
  // Throws TypeError unless `value` is an object. With `absentIsEmpty`, undefined stands for {}
  // (for commands whose options are all optional).
  Fields(Napi::Env env, const char* fn, Napi::Value value, std::string path,
         bool absentIsEmpty = false);

  // True when the property exists and is not undefined.
  bool Has(const char* key) const;

  // An integer number in min..max (required / with a default when undefined).
  uint64_t Uint(const char* key, uint64_t min, uint64_t max) const;
  uint64_t Uint(const char* key, uint64_t min, uint64_t max, uint64_t dflt) const;

  // A 64-bit field: a safe non-negative integer number or a bigint in 0..2^64-1.
  uint64_t U64(const char* key) const;
  uint64_t U64(const char* key, uint64_t dflt) const;

  bool Bool(const char* key) const;
  bool Bool(const char* key, bool dflt) const;

  // A Buffer (any ArrayBufferView) of min..max bytes, copied at once so that later getters
  // cannot change or detach it under us.
  std::vector<uint8_t> Bytes(const char* key, size_t min, size_t max) const;

  // The Buffer itself, not a copy (execute: the kernel reads or fills that memory).
  Napi::Buffer<uint8_t> BufferRef(const char* key, size_t min, size_t max) const;

  // A string that must be one of `names`; returns its index.
  size_t Choice(const char* key, std::initializer_list<const char*> names) const;

  // An array of min..max elements (its length is read once).
  Napi::Array Array(const char* key, uint32_t min, uint32_t max) const;
  // Element `index` of `array` (read from property `key`), which must be an object.
  Fields Element(const char* key, const Napi::Array& array, uint32_t index) const;
  // Property `key`, which must be an object.
  Fields Child(const char* key) const;

  // "ranges[2].blocks" style name of a property of this object.
  std::string Name(const char* key) const;
  [[noreturn]] void ThrowRange(const std::string& what) const;
  [[noreturn]] void ThrowType(const std::string& what) const;

  Napi::Env env() const { return env_; }
  const char* fn() const { return fn_; }

 private:
  Napi::Value Get(const char* key) const;
  uint64_t UintOf(const char* key, Napi::Value v, uint64_t min, uint64_t max) const;
  uint64_t U64Of(const char* key, Napi::Value v) const;

  Napi::Env env_;
  const char* fn_;
  Napi::Object object_;
  std::string path_;
};

// An integer number in min..max read from a bare argument (`name` is how messages call it).
uint64_t ReadUint(Napi::Env env, const char* fn, const std::string& name, Napi::Value value, uint64_t min,
                  uint64_t max);

// A block range must not run past LBA 2^64-1: refuse lba + blocks - 1 > 2^64-1 (reads o.lba and
// o.blocks in the message) rather than let a device see a wrapped range.
void CheckExtent(const Fields& o, uint64_t lba, uint64_t blocks);

// How a value looks in an error message: "NaN", "1.5", "-1", "12n", "a string", "null"...
std::string Describe(Napi::Value value);

// Throws "<fn>: <field> must be ..." as a RangeError / TypeError.
[[noreturn]] void ThrowRangeError(Napi::Env env, const char* fn, const std::string& what);
[[noreturn]] void ThrowTypeError(Napi::Env env, const char* fn, const std::string& what);

enum class Direction { kNone, kToDevice, kFromDevice };

// What a command encoder produces (lib/native.ts EncodedCommand).
struct Encoded {
  std::vector<uint8_t> cdb;
  Direction direction = Direction::kNone;
  std::optional<std::vector<uint8_t>> data;   // parameter list of a to-device command
  std::optional<uint32_t> allocationLength;   // buffer size for a from-device command
};

Napi::Object ToJs(Napi::Env env, const Encoded& encoded);
const char* DirectionName(Direction d);

// The start of every encoder's result: a zeroed CDB of `cdbLength` bytes with OPERATION CODE
// in byte 0 and byte 1 as given (a service action or flag bits); the caller stores the rest.
Encoded NewCommand(size_t cdbLength, uint8_t opcode, uint8_t byte1, Direction direction);
// A from-device command of at most `alloc` bytes; the caller stores ALLOCATION LENGTH where
// its CDB keeps it.
Encoded NewDataIn(size_t cdbLength, uint8_t opcode, uint8_t byte1, uint32_t alloc);
// The 16-byte form with a service action in byte 1 and ALLOCATION LENGTH in bytes 10-13
// (READ CAPACITY(16), the THIRD-PARTY COPY IN commands).
Encoded NewDataIn16(uint8_t opcode, uint8_t serviceAction, uint32_t alloc);

// Exported functions go through Guard so that no C++ exception other than Napi::Error (which
// node-addon-api turns into a JS throw) can reach the N-API boundary and terminate the process:
// a huge array that makes std::vector throw bad_alloc becomes a RangeError.
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value Guard(const Napi::CallbackInfo& info) {
  try {
    return F(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw Napi::RangeError::New(info.Env(), "odxcp: out of memory");
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("odxcp: internal error: ") + e.what());
  }
}

}  // namespace odxcp

#endif  // ODXCP_FIELDS_H_
