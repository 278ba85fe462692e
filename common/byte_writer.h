#ifndef QFLEET_COMMON_BYTE_WRITER_H_
#define QFLEET_COMMON_BYTE_WRITER_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace qfleet {

// Appends fixed-width little-endian fields to a std::string, byte by byte
// (never by copying a struct), for the wire and disk formats in common/.
// Floats are written as their IEEE-754 binary32 bit pattern. Does not own
// `out`, which must outlive the writer. Not thread-safe.
class ByteWriter {
 public:
  explicit ByteWriter(std::string* out) : out_(out) {}

  void PutU8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void PutU16(uint16_t v) { PutLe(v, 2); }
  void PutU32(uint32_t v) { PutLe(v, 4); }
  void PutU64(uint64_t v) { PutLe(v, 8); }
  void PutI32(int32_t v) { PutLe(static_cast<uint32_t>(v), 4); }
  void PutI64(int64_t v) { PutLe(static_cast<uint64_t>(v), 8); }
  void PutF32(float v);
  void PutBytes(const void* data, size_t n);
  void PutString(absl::string_view s) { PutBytes(s.data(), s.size()); }

  // Bytes in the underlying string (including any it held before).
  size_t size() const { return out_->size(); }

 private:
  void PutLe(uint64_t v, int width);

  std::string* out_;
};

}  // namespace qfleet

#endif  // QFLEET_COMMON_BYTE_WRITER_H_
