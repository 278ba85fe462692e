#include <cmath>
#include <limits>

#include "kernels/channel_minmax.h"
#include "kernels/cpu/cpu_variants.h"

#if defined(QFLEET_KERNELS_HAVE_AVX2_VARIANTS)
#include "kernels/cpu/avx2_quant.h"
#endif

namespace qfleet::kernels {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Folds x[0..n) into (mn, mx) the way the reference does (NaN never wins a
// comparison, so it is skipped) and returns false if an element is not finite.
inline bool MinMaxScalar(const float* x, size_t n, float& mn, float& mx) {
  bool finite = true;
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) finite = false;
    if (x[i] < mn) mn = x[i];
    if (x[i] > mx) mx = x[i];
  }
  return finite;
}

// Writes one channel's results: zero normalized to +0.0 as in the reference.
inline void StoreChannel(size_t c, float mn, float mx, float* min, float* max,
                         float* absmax) {
  mn += 0.0f;
  mx += 0.0f;
  if (min != nullptr) min[c] = mn;
  if (max != nullptr) max[c] = mx;
  if (absmax != nullptr) absmax[c] = std::fmax(std::fabs(mn), std::fabs(mx));
}

#if defined(QFLEET_KERNELS_HAVE_AVX2_VARIANTS)

// One row with 2 x 8 running minima/maxima. VMINPS/VMAXPS return the second
// operand when the first is NaN, so NaN elements are skipped exactly as the
// reference's comparisons skip them; an unordered self-compare flags them.
// Infinities are seen in the result. Returns false if any element is not
// finite.
QFLEET_AVX2 bool MinMaxRowAvx2(const float* x, size_t n, float& mn_out, float& mx_out) {
  __m256 mn0 = _mm256_set1_ps(kInf), mn1 = mn0;
  __m256 mx0 = _mm256_set1_ps(-kInf), mx1 = mx0;
  __m256 nan = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 a = _mm256_loadu_ps(x + i);
    const __m256 b = _mm256_loadu_ps(x + i + 8);
    mn0 = _mm256_min_ps(a, mn0);
    mx0 = _mm256_max_ps(a, mx0);
    mn1 = _mm256_min_ps(b, mn1);
    mx1 = _mm256_max_ps(b, mx1);
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(a, b, _CMP_UNORD_Q));
  }
  for (; i + 8 <= n; i += 8) {
    const __m256 a = _mm256_loadu_ps(x + i);
    mn0 = _mm256_min_ps(a, mn0);
    mx0 = _mm256_max_ps(a, mx0);
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
  }
  alignas(32) float lo[8], hi[8];
  _mm256_store_ps(lo, _mm256_min_ps(mn0, mn1));
  _mm256_store_ps(hi, _mm256_max_ps(mx0, mx1));
  float mn = kInf, mx = -kInf;
  for (int k = 0; k < 8; ++k) {
    if (lo[k] < mn) mn = lo[k];
    if (hi[k] > mx) mx = hi[k];
  }
  const bool tail_finite = MinMaxScalar(x + i, n - i, mn, mx);
  mn_out = mn;
  mx_out = mx;
  return tail_finite && _mm256_movemask_ps(nan) == 0 && std::isfinite(mn) && std::isfinite(mx);
}

#endif  // QFLEET_KERNELS_HAVE_AVX2_VARIANTS

}  // namespace

bool ChannelMinMaxPortable(const float* in, size_t channels, size_t row_len, float* min,
                           float* max, float* absmax) {
  bool finite = true;
  for (size_t c = 0; c < channels; ++c) {
    float mn = 0.0f, mx = 0.0f;
    if (row_len > 0) {
      mn = kInf;
      mx = -kInf;
      finite &= MinMaxScalar(in + c * row_len, row_len, mn, mx);
    }
    StoreChannel(c, mn, mx, min, max, absmax);
  }
  return finite;
}

#if defined(QFLEET_KERNELS_HAVE_AVX2_VARIANTS)
QFLEET_AVX2 bool ChannelMinMaxAvx2(const float* in, size_t channels, size_t row_len,
                                   float* min, float* max, float* absmax) {
  bool finite = true;
  for (size_t c = 0; c < channels; ++c) {
    float mn = 0.0f, mx = 0.0f;
    if (row_len > 0) finite &= MinMaxRowAvx2(in + c * row_len, row_len, mn, mx);
    StoreChannel(c, mn, mx, min, max, absmax);
  }
  return finite;
}
#endif

bool ChannelMinMaxCpu(const float* in, size_t channels, size_t row_len, float* min,
                      float* max, float* absmax) {
#if defined(QFLEET_KERNELS_HAVE_AVX2_VARIANTS)
  if (CpuHasAvx2Fma()) return ChannelMinMaxAvx2(in, channels, row_len, min, max, absmax);
#endif
  return ChannelMinMaxPortable(in, channels, row_len, min, max, absmax);
}

}  // namespace qfleet::kernels
