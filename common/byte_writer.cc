#include "common/byte_writer.h"

#include <cstring>

namespace qfleet {

static_assert(sizeof(float) == 4, "qfleet formats need 32-bit IEEE floats");

void ByteWriter::PutLe(uint64_t v, int width) {
  for (int i = 0; i < width; ++i) {
    out_->push_back(static_cast<char>(static_cast<uint8_t>(v >> (8 * i))));
  }
}

void ByteWriter::PutF32(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  PutU32(bits);
}

void ByteWriter::PutBytes(const void* data, size_t n) {
  if (n > 0) out_->append(static_cast<const char*>(data), n);
}

}  // namespace qfleet
