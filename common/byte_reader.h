#ifndef QFLEET_COMMON_BYTE_READER_H_
#define QFLEET_COMMON_BYTE_READER_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace qfleet {

// Bounds-checked cursor over a byte buffer holding fixed-width little-endian
// fields (the counterpart of ByteWriter). Every Read* returns false and
// consumes nothing when fewer bytes remain than the field needs, so a
// decoder can never read past the buffer. Does not own the bytes, which must
// outlive the reader. Not thread-safe.
class ByteReader {
 public:
  explicit ByteReader(absl::string_view data) : data_(data) {}

  bool ReadU8(uint8_t* v);
  bool ReadU16(uint16_t* v);
  bool ReadU32(uint32_t* v);
  bool ReadU64(uint64_t* v);
  bool ReadI32(int32_t* v);
  bool ReadI64(int64_t* v);
  bool ReadF32(float* v);
  // Returns a view of the next `n` bytes (into the reader's buffer).
  bool ReadBytes(size_t n, absl::string_view* out);
  bool Skip(size_t n);

  size_t offset() const { return pos_; }
  size_t remaining() const { return data_.size() - pos_; }
  // The whole buffer, for CRCs over already-read ranges.
  absl::string_view data() const { return data_; }

 private:
  bool ReadLe(int width, uint64_t* v);

  absl::string_view data_;
  size_t pos_ = 0;
};

}  // namespace qfleet

#endif  // QFLEET_COMMON_BYTE_READER_H_
