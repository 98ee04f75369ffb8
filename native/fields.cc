// Argument validation shared by the encoders and the transport (see fields.h).
#include "fields.h"

#include "be.h"

#include <cmath>
#include <cstdio>
#include <utility>

namespace odxcp {

namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;  // Number.MAX_SAFE_INTEGER

std::string Range(uint64_t min, uint64_t max) {
  return std::to_string(min) + ".." + std::to_string(max);
}

}  // namespace

void ThrowRangeError(Napi::Env env, const char* fn, const std::string& what) {
  throw Napi::RangeError::New(env, std::string(fn) + ": " + what);
}

void ThrowTypeError(Napi::Env env, const char* fn, const std::string& what) {
  throw Napi::TypeError::New(env, std::string(fn) + ": " + what);
}

std::string Describe(Napi::Value v) {
  switch (v.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return v.As<Napi::Boolean>().Value() ? "true" : "false";
    case napi_number: {
      double d = v.As<Napi::Number>().DoubleValue();
      if (std::isnan(d)) return "NaN";
      if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
      char buf[64];
      if (d == std::floor(d) && std::fabs(d) < 1e21) {
        std::snprintf(buf, sizeof buf, "%.0f", d);
      } else {
        std::snprintf(buf, sizeof buf, "%.15g", d);
      }
      return buf;
    }
    case napi_bigint: {
      // A bigint's decimal form (String(x)) cannot throw.
      std::string s = v.ToString().Utf8Value();
      if (s.size() > 40) s = s.substr(0, 40) + "...";
      return s + "n";
    }
    case napi_string: return "a string";
    case napi_symbol: return "a symbol";
    case napi_function: return "a function";
    default:
      if (v.IsBuffer()) return "a Buffer of " + std::to_string(v.As<Napi::Buffer<uint8_t>>().Length()) + " bytes";
      if (v.IsArray()) return "an array";
      return "an object";
  }
}

Fields::Fields(Napi::Env env, const char* fn, Napi::Value value, std::string path, bool absentIsEmpty)
    : env_(env), fn_(fn), path_(std::move(path)) {
  const std::string self = path_.empty() ? "options" : path_;
  if (absentIsEmpty && (value.IsEmpty() || value.IsUndefined())) {
    object_ = Napi::Object::New(env);
    return;
  }
  if (value.IsEmpty() || !value.IsObject() || value.IsFunction()) {
    ThrowTypeError(env, fn, self + " must be an object (got " +
                                (value.IsEmpty() ? std::string("nothing") : Describe(value)) + ")");
  }
  object_ = value.As<Napi::Object>();
}

std::string Fields::Name(const char* key) const {
  return path_.empty() ? std::string(key) : path_ + "." + key;
}

void Fields::ThrowRange(const std::string& what) const { ThrowRangeError(env_, fn_, what); }
void Fields::ThrowType(const std::string& what) const { ThrowTypeError(env_, fn_, what); }

Napi::Value Fields::Get(const char* key) const {
  // A throwing getter or proxy trap surfaces as that JS exception (Napi::Error).
  return object_.Get(key);
}

bool Fields::Has(const char* key) const { return !Get(key).IsUndefined(); }

uint64_t ReadUint(Napi::Env env, const char* fn, const std::string& name, Napi::Value v, uint64_t min,
                  uint64_t max) {
  const std::string what = name + " must be an integer in " + Range(min, max);
  if (!v.IsNumber()) ThrowTypeError(env, fn, what + " (got " + Describe(v) + ")");
  const double d = v.As<Napi::Number>().DoubleValue();
  // Compare as doubles first: every bound used here (<= 2^32) is exact in a double.
  if (!std::isfinite(d) || d != std::floor(d) || d < static_cast<double>(min) ||
      d > static_cast<double>(max)) {
    ThrowRangeError(env, fn, what + " (got " + Describe(v) + ")");
  }
  return static_cast<uint64_t>(d);
}

void CheckExtent(const Fields& o, uint64_t lba, uint64_t blocks) {
  if (blocks != 0 && lba > kMaxU64 - (blocks - 1)) {
    o.ThrowRange(o.Name("lba") + " + " + o.Name("blocks") + " - 1 must not exceed 18446744073709551615 (lba " +
                 std::to_string(lba) + ", blocks " + std::to_string(blocks) + ")");
  }
}

uint64_t Fields::UintOf(const char* key, Napi::Value v, uint64_t min, uint64_t max) const {
  return ReadUint(env_, fn_, Name(key), v, min, max);
}

uint64_t Fields::Uint(const char* key, uint64_t min, uint64_t max) const {
  return UintOf(key, Get(key), min, max);
}

uint64_t Fields::Uint(const char* key, uint64_t min, uint64_t max, uint64_t dflt) const {
  Napi::Value v = Get(key);
  return v.IsUndefined() ? dflt : UintOf(key, v, min, max);
}

uint64_t Fields::U64Of(const char* key, Napi::Value v) const {
  const std::string what =
      Name(key) + " must be a safe integer or a bigint in 0..18446744073709551615";
  if (v.IsBigInt()) {
    bool lossless = false;
    const uint64_t value = v.As<Napi::BigInt>().Uint64Value(&lossless);
    // lossless is false for negative values and for values of 2^64 and above.
    if (!lossless) ThrowRange(what + " (got " + Describe(v) + ")");
    return value;
  }
  if (!v.IsNumber()) ThrowType(what + " (got " + Describe(v) + ")");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < 0 || d > kMaxSafeInteger) {
    ThrowRange(what + " (got " + Describe(v) + ")");
  }
  return static_cast<uint64_t>(d);
}

uint64_t Fields::U64(const char* key) const { return U64Of(key, Get(key)); }

uint64_t Fields::U64(const char* key, uint64_t dflt) const {
  Napi::Value v = Get(key);
  return v.IsUndefined() ? dflt : U64Of(key, v);
}

bool Fields::Bool(const char* key) const {
  Napi::Value v = Get(key);
  if (!v.IsBoolean()) ThrowType(Name(key) + " must be a boolean (got " + Describe(v) + ")");
  return v.As<Napi::Boolean>().Value();
}

bool Fields::Bool(const char* key, bool dflt) const {
  Napi::Value v = Get(key);
  if (v.IsUndefined()) return dflt;
  if (!v.IsBoolean()) ThrowType(Name(key) + " must be a boolean (got " + Describe(v) + ")");
  return v.As<Napi::Boolean>().Value();
}

Napi::Buffer<uint8_t> Fields::BufferRef(const char* key, size_t min, size_t max) const {
  const std::string what =
      Name(key) + " must be a Buffer of " +
      (min == max ? "exactly " + std::to_string(min) : std::to_string(min) + ".." + std::to_string(max)) +
      " bytes";
  Napi::Value v = Get(key);
  if (!v.IsBuffer()) ThrowType(what + " (got " + Describe(v) + ")");
  auto buf = v.As<Napi::Buffer<uint8_t>>();
  const size_t len = buf.Length();
  if (len < min || len > max) ThrowRange(what + " (got " + std::to_string(len) + " bytes)");
  return buf;
}

std::vector<uint8_t> Fields::Bytes(const char* key, size_t min, size_t max) const {
  Napi::Buffer<uint8_t> buf = BufferRef(key, min, max);
  const uint8_t* p = buf.Data();
  return buf.Length() == 0 ? std::vector<uint8_t>() : std::vector<uint8_t>(p, p + buf.Length());
}

size_t Fields::Choice(const char* key, std::initializer_list<const char*> names) const {
  std::string what = Name(key) + " must be one of";
  for (const char* n : names) what += std::string(" '") + n + "'";
  Napi::Value v = Get(key);
  if (!v.IsString()) ThrowType(what + " (got " + Describe(v) + ")");
  const std::string s = v.As<Napi::String>().Utf8Value();
  size_t i = 0;
  for (const char* n : names) {
    if (s == n) return i;
    ++i;
  }
  std::string shown = s.size() > 40 ? s.substr(0, 40) + "..." : s;
  ThrowRange(what + " (got '" + shown + "')");
}

Napi::Array Fields::Array(const char* key, uint32_t min, uint32_t max) const {
  const std::string what = Name(key) + " must be an array of " + Range(min, max) + " elements";
  Napi::Value v = Get(key);
  if (!v.IsArray()) ThrowType(what + " (got " + Describe(v) + ")");
  auto array = v.As<Napi::Array>();
  const uint32_t n = array.Length();
  if (n < min || n > max) ThrowRange(what + " (got " + std::to_string(n) + ")");
  return array;
}

Fields Fields::Element(const char* key, const Napi::Array& array, uint32_t index) const {
  return Fields(env_, fn_, array.Get(index), Name(key) + "[" + std::to_string(index) + "]");
}

Fields Fields::Child(const char* key) const { return Fields(env_, fn_, Get(key), Name(key)); }

const char* DirectionName(Direction d) {
  switch (d) {
    case Direction::kToDevice: return "to-device";
    case Direction::kFromDevice: return "from-device";
    case Direction::kNone: break;
  }
  return "none";
}

Napi::Object ToJs(Napi::Env env, const Encoded& e) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("cdb", Napi::Buffer<uint8_t>::Copy(env, e.cdb.data(), e.cdb.size()));
  o.Set("direction", DirectionName(e.direction));
  if (e.data) o.Set("data", Napi::Buffer<uint8_t>::Copy(env, e.data->data(), e.data->size()));
  if (e.allocationLength) o.Set("allocationLength", Napi::Number::New(env, *e.allocationLength));
  return o;
}

Encoded NewCommand(size_t cdbLength, uint8_t opcode, uint8_t byte1, Direction direction) {
  Encoded e;
  e.cdb.assign(cdbLength, 0);
  e.cdb[0] = opcode;
  e.cdb[1] = byte1;
  e.direction = direction;
  return e;
}

Encoded NewDataIn(size_t cdbLength, uint8_t opcode, uint8_t byte1, uint32_t alloc) {
  Encoded e = NewCommand(cdbLength, opcode, byte1, Direction::kFromDevice);
  e.allocationLength = alloc;
  return e;
}

Encoded NewDataIn16(uint8_t opcode, uint8_t serviceAction, uint32_t alloc) {
  Encoded e = NewDataIn(16, opcode, serviceAction, alloc);
  PutBe32(&e.cdb[10], alloc);
  return e;
}

}  // namespace odxcp
