#include "common/byte_reader.h"

#include <cstring>

namespace qfleet {

bool ByteReader::ReadLe(int width, uint64_t* v) {
  if (remaining() < static_cast<size_t>(width)) return false;
  uint64_t result = 0;
  for (int i = 0; i < width; ++i) {
    result |= static_cast<uint64_t>(static_cast<uint8_t>(data_[pos_ + i])) << (8 * i);
  }
  pos_ += static_cast<size_t>(width);
  *v = result;
  return true;
}

bool ByteReader::ReadU8(uint8_t* v) {
  uint64_t x;
  if (!ReadLe(1, &x)) return false;
  *v = static_cast<uint8_t>(x);
  return true;
}

bool ByteReader::ReadU16(uint16_t* v) {
  uint64_t x;
  if (!ReadLe(2, &x)) return false;
  *v = static_cast<uint16_t>(x);
  return true;
}

bool ByteReader::ReadU32(uint32_t* v) {
  uint64_t x;
  if (!ReadLe(4, &x)) return false;
  *v = static_cast<uint32_t>(x);
  return true;
}

bool ByteReader::ReadU64(uint64_t* v) { return ReadLe(8, v); }

bool ByteReader::ReadI32(int32_t* v) {
  uint32_t x;
  if (!ReadU32(&x)) return false;
  *v = static_cast<int32_t>(x);
  return true;
}

bool ByteReader::ReadI64(int64_t* v) {
  uint64_t x;
  if (!ReadLe(8, &x)) return false;
  *v = static_cast<int64_t>(x);
  return true;
}

bool ByteReader::ReadF32(float* v) {
  uint32_t bits;
  if (!ReadU32(&bits)) return false;
  std::memcpy(v, &bits, sizeof(bits));
  return true;
}

bool ByteReader::ReadBytes(size_t n, absl::string_view* out) {
  if (remaining() < n) return false;
  *out = data_.substr(pos_, n);
  pos_ += n;
  return true;
}

bool ByteReader::Skip(size_t n) {
  if (remaining() < n) return false;
  pos_ += n;
  return true;
}

}  // namespace qfleet
