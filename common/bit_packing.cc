#include "common/bit_packing.h"

#include <array>
#include <cassert>
#include <cstring>

namespace qfleet {
namespace {

bool ValidBits(int bits) { return bits >= 1 && bits <= 8; }

// kSpread<B>[b] holds the 8/B codes of byte b, for table-driven unpacking.
template <int B>
constexpr std::array<std::array<uint8_t, 8 / B>, 256> MakeSpreadTable() {
  std::array<std::array<uint8_t, 8 / B>, 256> t{};
  for (int b = 0; b < 256; ++b) {
    for (int k = 0; k < 8 / B; ++k) t[b][k] = static_cast<uint8_t>((b >> (k * B)) & ((1 << B) - 1));
  }
  return t;
}
constexpr auto kSpread1 = MakeSpreadTable<1>();
constexpr auto kSpread2 = MakeSpreadTable<2>();

// Generic bit-stream loops for any width; the fast paths for 4, 2 and 1 bits
// below handle whole bytes and leave their tail to these.
void PackGeneric(const uint8_t* codes, size_t count, int bits, uint8_t* out) {
  const uint32_t mask = (1u << bits) - 1u;
  uint32_t acc = 0;
  int acc_bits = 0;
  size_t o = 0;
  for (size_t i = 0; i < count; ++i) {
    acc |= (codes[i] & mask) << acc_bits;
    acc_bits += bits;
    while (acc_bits >= 8) {
      out[o++] = static_cast<uint8_t>(acc);
      acc >>= 8;
      acc_bits -= 8;
    }
  }
  if (acc_bits > 0) out[o] = static_cast<uint8_t>(acc);
}

void UnpackGeneric(const uint8_t* in, size_t count, int bits, uint8_t* codes) {
  const uint32_t mask = (1u << bits) - 1u;
  uint32_t acc = 0;
  int acc_bits = 0;
  size_t next = 0;
  for (size_t i = 0; i < count; ++i) {
    if (acc_bits < bits) {
      acc |= static_cast<uint32_t>(in[next++]) << acc_bits;
      acc_bits += 8;
    }
    codes[i] = static_cast<uint8_t>(acc & mask);
    acc >>= bits;
    acc_bits -= bits;
  }
}

void Pack4(const uint8_t* c, size_t count, uint8_t* out) {
  const size_t whole = count / 2;
  for (size_t j = 0; j < whole; ++j) {
    out[j] = static_cast<uint8_t>((c[2 * j] & 0x0F) | ((c[2 * j + 1] & 0x0F) << 4));
  }
  if (count % 2) out[whole] = static_cast<uint8_t>(c[2 * whole] & 0x0F);
}

void Unpack4(const uint8_t* in, size_t count, uint8_t* c) {
  const size_t whole = count / 2;
  for (size_t j = 0; j < whole; ++j) {
    c[2 * j] = in[j] & 0x0F;
    c[2 * j + 1] = in[j] >> 4;
  }
  if (count % 2) c[2 * whole] = in[whole] & 0x0F;
}

void Pack2(const uint8_t* c, size_t count, uint8_t* out) {
  const size_t whole = count / 4;
  for (size_t j = 0; j < whole; ++j) {
    const uint8_t* q = c + 4 * j;
    out[j] = static_cast<uint8_t>((q[0] & 3) | ((q[1] & 3) << 2) | ((q[2] & 3) << 4) |
                                  ((q[3] & 3) << 6));
  }
  if (count % 4) PackGeneric(c + 4 * whole, count % 4, 2, out + whole);
}

void Unpack2(const uint8_t* in, size_t count, uint8_t* c) {
  const size_t whole = count / 4;
  for (size_t j = 0; j < whole; ++j) std::memcpy(c + 4 * j, kSpread2[in[j]].data(), 4);
  if (count % 4) UnpackGeneric(in + whole, count % 4, 2, c + 4 * whole);
}

void Pack1(const uint8_t* c, size_t count, uint8_t* out) {
  const size_t whole = count / 8;
  for (size_t j = 0; j < whole; ++j) {
    const uint8_t* q = c + 8 * j;
    uint32_t b = 0;
    for (int k = 0; k < 8; ++k) b |= static_cast<uint32_t>(q[k] & 1) << k;
    out[j] = static_cast<uint8_t>(b);
  }
  if (count % 8) PackGeneric(c + 8 * whole, count % 8, 1, out + whole);
}

void Unpack1(const uint8_t* in, size_t count, uint8_t* c) {
  const size_t whole = count / 8;
  for (size_t j = 0; j < whole; ++j) std::memcpy(c + 8 * j, kSpread1[in[j]].data(), 8);
  if (count % 8) UnpackGeneric(in + whole, count % 8, 1, c + 8 * whole);
}

}  // namespace

size_t PackedBytes(size_t count, int bits) {
  if (!ValidBits(bits)) return 0;
  const size_t b = static_cast<size_t>(bits);
  return (count / 8) * b + ((count % 8) * b + 7) / 8;
}

void PackBits(const uint8_t* codes, size_t count, int bits, uint8_t* out) {
  assert(ValidBits(bits));
  if (!ValidBits(bits) || count == 0) return;
  switch (bits) {
    case 8:
      std::memcpy(out, codes, count);
      return;
    case 4:
      Pack4(codes, count, out);
      return;
    case 2:
      Pack2(codes, count, out);
      return;
    case 1:
      Pack1(codes, count, out);
      return;
    default:
      PackGeneric(codes, count, bits, out);
  }
}

void UnpackBits(const uint8_t* in, size_t count, int bits, uint8_t* codes) {
  assert(ValidBits(bits));
  if (!ValidBits(bits) || count == 0) return;
  switch (bits) {
    case 8:
      std::memcpy(codes, in, count);
      return;
    case 4:
      Unpack4(in, count, codes);
      return;
    case 2:
      Unpack2(in, count, codes);
      return;
    case 1:
      Unpack1(in, count, codes);
      return;
    default:
      UnpackGeneric(in, count, bits, codes);
  }
}

}  // namespace qfleet
