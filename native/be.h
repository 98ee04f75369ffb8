// Big-endian stores for CDBs and parameter lists. Every multi-byte SCSI field is big-endian
// (copy-offload-reference.md, conventions at the top). Callers have already range-checked the
// value against the field width (fields.h), so nothing here truncates a value silently.
#ifndef ODXCP_BE_H_
#define ODXCP_BE_H_

#include <cstdint>

namespace odxcp {

inline void PutBe16(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

inline void PutBe24(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 16);
  p[1] = static_cast<uint8_t>(v >> 8);
  p[2] = static_cast<uint8_t>(v);
}

inline void PutBe32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

inline void PutBe64(uint8_t* p, uint64_t v) {
  PutBe32(p, static_cast<uint32_t>(v >> 32));
  PutBe32(p + 4, static_cast<uint32_t>(v));
}

}  // namespace odxcp

#endif  // ODXCP_BE_H_
