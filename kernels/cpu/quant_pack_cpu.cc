#include <cstdint>
#include <cstring>

#include "common/bit_packing.h"
#include "kernels/cpu/cpu_variants.h"
#include "kernels/quant_math.h"
#include "kernels/quant_pack.h"

#if defined(QFLEET_KERNELS_HAVE_AVX2_VARIANTS)
#include "kernels/cpu/avx2_quant.h"
#endif

// The group kernels move 8 codes as the 8 bytes of a uint64_t through memcpy,
// which is the packed byte order only on little-endian machines.
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define QFLEET_KERNELS_LITTLE_ENDIAN 1
#endif

namespace qfleet::kernels {
namespace {

// 8 codes, one per byte of `w` (code k in byte k, each < 2^bits), squeezed
// into the low 8*bits bits in the PackBits layout (code k at bits
// [k*bits, (k+1)*bits)): neighbours are merged pairwise, 8 -> 4 -> 2 -> 1
// fields, each merge shifting the upper field down onto the lower one.
inline uint64_t PackGroup8(uint64_t w, int bits) {
  w = (w & 0x00FF00FF00FF00FFull) | ((w & 0xFF00FF00FF00FF00ull) >> (8 - bits));
  w = (w & 0x0000FFFF0000FFFFull) | ((w & 0xFFFF0000FFFF0000ull) >> (16 - 2 * bits));
  w = (w & 0x00000000FFFFFFFFull) | ((w & 0xFFFFFFFF00000000ull) >> (32 - 4 * bits));
  return w;
}

// Inverse of PackGroup8: the low 8*bits bits of `w` (higher bits ignored) ->
// code k in byte k.
inline uint64_t UnpackGroup8(uint64_t w, int bits) {
  if (bits < 8) w &= (uint64_t{1} << (8 * bits)) - 1;
  const uint64_t m4 = (uint64_t{1} << (4 * bits)) - 1;
  w = (w & m4) | ((w >> (4 * bits)) << 32);
  const uint64_t m2 = ((uint64_t{1} << (2 * bits)) - 1) * 0x0000000100000001ull;
  w = (w & m2) | (((w >> (2 * bits)) & m2) << 16);
  const uint64_t m1 = ((uint64_t{1} << bits) - 1) * 0x0001000100010001ull;
  w = (w & m1) | (((w >> bits) & m1) << 8);
  return w;
}

// Group g of a row owns bytes [g*bits, (g+1)*bits). Writing (reading) all 8
// bytes of the word is allowed while they stay inside the row: the extra
// bytes written are zeros that the next groups overwrite.
inline void StoreGroup(uint8_t* row, size_t g, int bits, size_t row_bytes, uint64_t w) {
  const size_t at = g * static_cast<size_t>(bits);
  if (at + 8 <= row_bytes) {
    std::memcpy(row + at, &w, 8);
  } else {
    std::memcpy(row + at, &w, static_cast<size_t>(bits));
  }
}
inline uint64_t LoadGroup(const uint8_t* row, size_t g, int bits, size_t row_bytes) {
  const size_t at = g * static_cast<size_t>(bits);
  uint64_t w = 0;
  if (at + 8 <= row_bytes) {
    std::memcpy(&w, row + at, 8);
  } else {
    std::memcpy(&w, row + at, static_cast<size_t>(bits));
  }
  return w;
}

// The last n % 8 codes of a row: a short bit stream starting on the byte
// boundary after the whole groups, exactly as the reference writes it.
void PackTail(const float* x, size_t n, float scale, int32_t zero, int bits, uint8_t* o) {
  uint32_t acc = 0;
  int acc_bits = 0;
  for (size_t i = 0; i < n; ++i) {
    acc |= static_cast<uint32_t>(QuantizeCode(x[i], scale, zero, bits)) << acc_bits;
    acc_bits += bits;
    while (acc_bits >= 8) {
      *o++ = static_cast<uint8_t>(acc);
      acc >>= 8;
      acc_bits -= 8;
    }
  }
  if (acc_bits > 0) *o = static_cast<uint8_t>(acc);
}

void UnpackTail(const uint8_t* p, size_t n, float scale, int32_t zero, int bits, float* y) {
  const uint32_t mask = (1u << bits) - 1u;
  uint32_t acc = 0;
  int acc_bits = 0;
  for (size_t i = 0; i < n; ++i) {
    if (acc_bits < bits) {
      acc |= static_cast<uint32_t>(*p++) << acc_bits;
      acc_bits += 8;
    }
    y[i] = DequantizeCode(static_cast<uint8_t>(acc & mask), scale, zero);
    acc >>= bits;
    acc_bits -= bits;
  }
}

// Calls row_fn(c, offset, row_bytes) for each channel c, with the byte offset
// and size of its packed row.
template <typename RowFn>
inline void ForEachPackedRow(size_t channels, size_t row_len, const uint8_t* bits,
                             RowFn row_fn) {
  size_t offset = 0;
  for (size_t c = 0; c < channels; ++c) {
    const size_t row_bytes = PackedBytes(row_len, bits[c]);
    row_fn(c, offset, row_bytes);
    offset += row_bytes;
  }
}

void QuantPackRowPortable(const float* x, size_t n, float scale, int32_t zero, int bits,
                          uint8_t* row, size_t row_bytes) {
  const size_t groups = n / 8;
  for (size_t g = 0; g < groups; ++g) {
    uint64_t w = 0;
    for (int k = 0; k < 8; ++k) {
      w |= static_cast<uint64_t>(QuantizeCode(x[8 * g + k], scale, zero, bits)) << (8 * k);
    }
    StoreGroup(row, g, bits, row_bytes, PackGroup8(w, bits));
  }
  PackTail(x + 8 * groups, n % 8, scale, zero, bits, row + groups * bits);
}

void UnpackRowPortable(const uint8_t* row, size_t row_bytes, size_t n, float scale,
                       int32_t zero, int bits, float* y) {
  const size_t groups = n / 8;
  for (size_t g = 0; g < groups; ++g) {
    const uint64_t w = UnpackGroup8(LoadGroup(row, g, bits, row_bytes), bits);
    for (int k = 0; k < 8; ++k) {
      y[8 * g + k] = DequantizeCode(static_cast<uint8_t>(w >> (8 * k)), scale, zero);
    }
  }
  UnpackTail(row + groups * bits, n % 8, scale, zero, bits, y + 8 * groups);
}

#if defined(QFLEET_KERNELS_HAVE_AVX2_VARIANTS)
QFLEET_AVX2 void QuantPackRowAvx2(const float* x, size_t n, float scale, int32_t zero,
                                  int bits, uint8_t* row, size_t row_bytes) {
  const Avx2Channel ch = MakeAvx2Channel(scale, zero, bits);
  const size_t groups = n / 8;
  for (size_t g = 0; g < groups; ++g) {
    const uint64_t w = CodesToBytes8(QuantizeCodes8(_mm256_loadu_ps(x + 8 * g), ch));
    StoreGroup(row, g, bits, row_bytes, PackGroup8(w, bits));
  }
  PackTail(x + 8 * groups, n % 8, scale, zero, bits, row + groups * bits);
}

QFLEET_AVX2 void UnpackRowAvx2(const uint8_t* row, size_t row_bytes, size_t n, float scale,
                               int32_t zero, int bits, float* y) {
  const Avx2Channel ch = MakeAvx2Channel(scale, zero, bits);
  const size_t groups = n / 8;
  for (size_t g = 0; g < groups; ++g) {
    const uint64_t w = UnpackGroup8(LoadGroup(row, g, bits, row_bytes), bits);
    _mm256_storeu_ps(y + 8 * g, DequantizeCodes8(BytesToCodes8(w), ch));
  }
  UnpackTail(row + groups * bits, n % 8, scale, zero, bits, y + 8 * groups);
}
#endif  // QFLEET_KERNELS_HAVE_AVX2_VARIANTS

}  // namespace

void QuantizePackPerChannelPortable(const float* in, size_t channels, size_t row_len,
                                    const PerChannelParams& params, uint8_t* packed) {
#if defined(QFLEET_KERNELS_LITTLE_ENDIAN)
  ForEachPackedRow(channels, row_len, params.bits, [&](size_t c, size_t offset, size_t bytes) {
    QuantPackRowPortable(in + c * row_len, row_len, params.scales[c], params.zero_points[c],
                         params.bits[c], packed + offset, bytes);
  });
#else
  QuantizePackPerChannelRef(in, channels, row_len, params, packed);
#endif
}

void UnpackDequantizePerChannelPortable(const uint8_t* packed, size_t channels,
                                        size_t row_len, const PerChannelParams& params,
                                        float* out) {
#if defined(QFLEET_KERNELS_LITTLE_ENDIAN)
  ForEachPackedRow(channels, row_len, params.bits, [&](size_t c, size_t offset, size_t bytes) {
    UnpackRowPortable(packed + offset, bytes, row_len, params.scales[c],
                      params.zero_points[c], params.bits[c], out + c * row_len);
  });
#else
  UnpackDequantizePerChannelRef(packed, channels, row_len, params, out);
#endif
}

#if defined(QFLEET_KERNELS_HAVE_AVX2_VARIANTS)
void QuantizePackPerChannelAvx2(const float* in, size_t channels, size_t row_len,
                                const PerChannelParams& params, uint8_t* packed) {
  ForEachPackedRow(channels, row_len, params.bits, [&](size_t c, size_t offset, size_t bytes) {
    QuantPackRowAvx2(in + c * row_len, row_len, params.scales[c], params.zero_points[c],
                     params.bits[c], packed + offset, bytes);
  });
}

void UnpackDequantizePerChannelAvx2(const uint8_t* packed, size_t channels, size_t row_len,
                                    const PerChannelParams& params, float* out) {
  ForEachPackedRow(channels, row_len, params.bits, [&](size_t c, size_t offset, size_t bytes) {
    UnpackRowAvx2(packed + offset, bytes, row_len, params.scales[c], params.zero_points[c],
                  params.bits[c], out + c * row_len);
  });
}
#endif

void QuantizePackPerChannelCpu(const float* in, size_t channels, size_t row_len,
                               const PerChannelParams& params, uint8_t* packed) {
#if defined(QFLEET_KERNELS_HAVE_AVX2_VARIANTS)
  if (CpuHasAvx2Fma()) return QuantizePackPerChannelAvx2(in, channels, row_len, params, packed);
#endif
  QuantizePackPerChannelPortable(in, channels, row_len, params, packed);
}

void UnpackDequantizePerChannelCpu(const uint8_t* packed, size_t channels, size_t row_len,
                                   const PerChannelParams& params, float* out) {
#if defined(QFLEET_KERNELS_HAVE_AVX2_VARIANTS)
  if (CpuHasAvx2Fma()) {
    return UnpackDequantizePerChannelAvx2(packed, channels, row_len, params, out);
  }
#endif
  UnpackDequantizePerChannelPortable(packed, channels, row_len, params, out);
}

}  // namespace qfleet::kernels
