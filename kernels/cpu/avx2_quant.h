#ifndef QFLEET_KERNELS_CPU_AVX2_QUANT_H_
#define QFLEET_KERNELS_CPU_AVX2_QUANT_H_

// AVX2 forms of the element math in kernels/quant_math.h, 8 lanes at a time,
// for the x86 variants in this folder (include only under
// QFLEET_KERNELS_HAVE_AVX2_VARIANTS). Each helper carries the target
// attribute, so callers must be QFLEET_AVX2 functions too. Every lane
// follows the scalar definition operation for operation (IEEE division, round
// half to even, no FMA), so the results are bit-identical to it.

#include <immintrin.h>

#include <cstdint>

#define QFLEET_AVX2 __attribute__((target("avx2,fma")))

namespace qfleet::kernels {

// Broadcast per-channel constants.
struct Avx2Channel {
  __m256 scale;
  __m256 zero;  // zero point as float (exact: 0..255)
  __m256 qmax;
};

QFLEET_AVX2 inline Avx2Channel MakeAvx2Channel(float scale, int32_t zero, int bits) {
  return Avx2Channel{_mm256_set1_ps(scale), _mm256_set1_ps(static_cast<float>(zero)),
                     _mm256_set1_ps(static_cast<float>((1 << bits) - 1))};
}

// Codes of 8 values as integer-valued floats in [0, qmax]:
// clamp(nearbyint(x / scale) + zero, 0, qmax). NaN lanes become 0 because
// VMAXPS returns its second operand when the first is NaN; +-Inf clamp.
QFLEET_AVX2 inline __m256 QuantizeCodes8(__m256 x, const Avx2Channel& ch) {
  __m256 q = _mm256_round_ps(_mm256_div_ps(x, ch.scale),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  q = _mm256_add_ps(q, ch.zero);
  q = _mm256_max_ps(q, _mm256_setzero_ps());
  return _mm256_min_ps(q, ch.qmax);
}

// (q - zero) * scale for integer-valued float codes q. q - zero is exact, so
// this equals the scalar float(int(q) - zero) * scale.
QFLEET_AVX2 inline __m256 DequantizeCodes8(__m256 q, const Avx2Channel& ch) {
  return _mm256_mul_ps(_mm256_sub_ps(q, ch.zero), ch.scale);
}

// 8 integer-valued float codes in [0, 255] -> one byte each, code k in byte k
// of the result (little-endian).
QFLEET_AVX2 inline uint64_t CodesToBytes8(__m256 q) {
  const __m256i qi = _mm256_cvtps_epi32(q);
  const __m128i w16 =
      _mm_packus_epi32(_mm256_castsi256_si128(qi), _mm256_extracti128_si256(qi, 1));
  return static_cast<uint64_t>(_mm_cvtsi128_si64(_mm_packus_epi16(w16, w16)));
}

// Inverse of CodesToBytes8: byte k of `w` -> lane k as float.
QFLEET_AVX2 inline __m256 BytesToCodes8(uint64_t w) {
  const __m128i b = _mm_cvtsi64_si128(static_cast<long long>(w));
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b));
}

}  // namespace qfleet::kernels

#endif  // QFLEET_KERNELS_CPU_AVX2_QUANT_H_
