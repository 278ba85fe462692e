#include <cstdint>

#include "kernels/cpu/cpu_variants.h"
#include "kernels/fake_quant.h"
#include "kernels/quant_math.h"

#if defined(QFLEET_KERNELS_HAVE_AVX2_VARIANTS)
#include "kernels/cpu/avx2_quant.h"
#endif

namespace qfleet::kernels {
namespace {

void FakeQuantRowScalar(const float* x, size_t n, float scale, int32_t zero, int bits,
                        float* y) {
  for (size_t i = 0; i < n; ++i) y[i] = FakeQuantValue(x[i], scale, zero, bits);
}

#if defined(QFLEET_KERNELS_HAVE_AVX2_VARIANTS)

template <bool kStream>
QFLEET_AVX2 inline void Store8(float* y, __m256 v) {
  if constexpr (kStream) {
    _mm256_stream_ps(y, v);
  } else {
    _mm256_storeu_ps(y, v);
  }
}

// One row, 32 values per step. With kStream the scalar head runs until `y`
// is 32-byte aligned (as VMOVNTPS needs); the element math is the same
// either way, so where the split falls does not change any value.
template <bool kStream>
QFLEET_AVX2 void FakeQuantRowAvx2(const float* x, size_t n, float scale, int32_t zero,
                                  int bits, float* y) {
  size_t i = 0;
  if constexpr (kStream) {
    while (i < n && (reinterpret_cast<uintptr_t>(y + i) & 31) != 0) {
      y[i] = FakeQuantValue(x[i], scale, zero, bits);
      ++i;
    }
  }
  const Avx2Channel ch = MakeAvx2Channel(scale, zero, bits);
  for (; i + 32 <= n; i += 32) {
    const __m256 a0 = _mm256_loadu_ps(x + i);
    const __m256 a1 = _mm256_loadu_ps(x + i + 8);
    const __m256 a2 = _mm256_loadu_ps(x + i + 16);
    const __m256 a3 = _mm256_loadu_ps(x + i + 24);
    Store8<kStream>(y + i, DequantizeCodes8(QuantizeCodes8(a0, ch), ch));
    Store8<kStream>(y + i + 8, DequantizeCodes8(QuantizeCodes8(a1, ch), ch));
    Store8<kStream>(y + i + 16, DequantizeCodes8(QuantizeCodes8(a2, ch), ch));
    Store8<kStream>(y + i + 24, DequantizeCodes8(QuantizeCodes8(a3, ch), ch));
  }
  for (; i + 8 <= n; i += 8) {
    Store8<kStream>(y + i, DequantizeCodes8(QuantizeCodes8(_mm256_loadu_ps(x + i), ch), ch));
  }
  for (; i < n; ++i) y[i] = FakeQuantValue(x[i], scale, zero, bits);
}

#endif  // QFLEET_KERNELS_HAVE_AVX2_VARIANTS

}  // namespace

void FakeQuantPerChannelPortable(const float* in, size_t channels, size_t row_len,
                                 const PerChannelParams& params, float* out) {
  for (size_t c = 0; c < channels; ++c) {
    FakeQuantRowScalar(in + c * row_len, row_len, params.scales[c], params.zero_points[c],
                       params.bits[c], out + c * row_len);
  }
}

#if defined(QFLEET_KERNELS_HAVE_AVX2_VARIANTS)
QFLEET_AVX2 void FakeQuantPerChannelAvx2(const float* in, size_t channels, size_t row_len,
                                         const PerChannelParams& params, float* out,
                                         bool streaming_stores) {
  // Non-temporal stores need 4-byte aligned floats to ever reach 32-byte
  // alignment; anything else takes the ordinary store path.
  const bool stream = streaming_stores && (reinterpret_cast<uintptr_t>(out) & 3) == 0;
  for (size_t c = 0; c < channels; ++c) {
    const float* x = in + c * row_len;
    float* y = out + c * row_len;
    if (stream) {
      FakeQuantRowAvx2<true>(x, row_len, params.scales[c], params.zero_points[c],
                             params.bits[c], y);
    } else {
      FakeQuantRowAvx2<false>(x, row_len, params.scales[c], params.zero_points[c],
                              params.bits[c], y);
    }
  }
  // Streaming stores are weakly ordered: fence so the output is visible to
  // whoever reads it after this call returns (other threads included).
  if (stream) _mm_sfence();
}
#endif

void FakeQuantPerChannelCpu(const float* in, size_t channels, size_t row_len,
                            const PerChannelParams& params, float* out) {
#if defined(QFLEET_KERNELS_HAVE_AVX2_VARIANTS)
  if (CpuHasAvx2Fma()) {
    const bool stream = channels * row_len * sizeof(float) >= kStreamingStoreBytes;
    FakeQuantPerChannelAvx2(in, channels, row_len, params, out, stream);
    return;
  }
#endif
  FakeQuantPerChannelPortable(in, channels, row_len, params, out);
}

}  // namespace qfleet::kernels
