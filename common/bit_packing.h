#ifndef QFLEET_COMMON_BIT_PACKING_H_
#define QFLEET_COMMON_BIT_PACKING_H_

#include <cstddef>
#include <cstdint>

namespace qfleet {

// Packed layout (the one every qfleet format uses): the codes form one
// LSB-first little-endian bit stream. Code i occupies stream bits
// [i*bits, (i+1)*bits), where stream bit k is bit (k % 8) of byte k / 8 and
// a code's least significant bit comes first. So code 0 sits in the low bits
// of byte 0, and a code may straddle two bytes (bits 3, 5, 6, 7). Examples:
//   bits=4: byte j = code[2j] | code[2j+1] << 4
//   bits=2: byte j = code[4j] | code[4j+1] << 2 | code[4j+2] << 4 | code[4j+3] << 6
//   bits=1: byte j = sum over k<8 of code[8j+k] << k
//   bits=3: byte 0 = c0 | c1 << 3 | (c2 & 3) << 6, byte 1 = c2 >> 2 | c3 << 1 | ...
// Unused high bits of the last byte are written as zero.

// Returns the bytes needed for `count` codes of `bits` bits,
// ceil(count * bits / 8), computed without overflow for any count. Returns 0
// when bits is outside 1..8. Thread-safe.
size_t PackedBytes(size_t count, int bits);

// Packs `count` codes (only the low `bits` bits of each are used) into
// PackedBytes(count, bits) bytes at `out`, in the layout above. `bits` must be
// in 1..8 (checked by assert; a release build writes nothing otherwise).
// `codes` and `out` must not overlap. Thread-safe (no shared state).
void PackBits(const uint8_t* codes, size_t count, int bits, uint8_t* out);

// Inverse of PackBits: reads exactly PackedBytes(count, bits) bytes at `in`
// and writes `count` codes, each in 0..2^bits-1, to `codes`; padding bits of
// the last byte are ignored. `bits` must be in 1..8 (assert; a release build
// writes nothing otherwise). Thread-safe (no shared state).
void UnpackBits(const uint8_t* in, size_t count, int bits, uint8_t* codes);

}  // namespace qfleet

#endif  // QFLEET_COMMON_BIT_PACKING_H_
