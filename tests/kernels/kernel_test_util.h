#ifndef QFLEET_TESTS_KERNELS_KERNEL_TEST_UTIL_H_
#define QFLEET_TESTS_KERNELS_KERNEL_TEST_UTIL_H_

// Shared fixtures of the kernel tests: seeded random matrices that hit the
// interesting cases (round-half ties, clipping, signed zeros) and per-channel
// params that exercise every bit-width.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/per_channel_params.h"
#include "kernels/quant_math.h"

namespace qfleet::kernels::testing {

// Row lengths every kernel test covers: empty, shorter than a vector, odd,
// around the 8/16/32-element steps, and long with a tail.
inline const std::vector<size_t>& RowLengths() {
  static const std::vector<size_t> kLengths = {0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 64, 1000};
  return kLengths;
}

// A [channels x row_len] matrix: mostly N(0, sigma_c) with a per-channel
// sigma and offset, sprinkled with exact halves (ties for round-half-even),
// zeros of both signs and a few large outliers.
inline std::vector<float> RandomMatrix(size_t channels, size_t row_len, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> pick(0, 31);
  std::vector<float> m(channels * row_len);
  for (size_t c = 0; c < channels; ++c) {
    const float sigma = 0.01f + 3.0f * static_cast<float>(c % 5);
    const float offset = static_cast<float>(static_cast<int>(c % 3) - 1) * sigma;
    for (size_t i = 0; i < row_len; ++i) {
      float v = offset + sigma * normal(rng);
      switch (pick(rng)) {
        case 0: v = 0.5f * static_cast<float>(static_cast<int>(8 * normal(rng))); break;
        case 1: v = 0.0f; break;
        case 2: v = -0.0f; break;
        case 3: v = 40.0f * sigma * normal(rng); break;
        default: break;
      }
      m[c * row_len + i] = v;
    }
  }
  return m;
}

// Per-channel params as owned vectors; view() gives the kernel argument.
struct OwnedParams {
  std::vector<uint8_t> bits;
  std::vector<float> scales;
  std::vector<int32_t> zero_points;
  PerChannelParams view() const { return {bits.data(), scales.data(), zero_points.data()}; }
};

// Params for `m`: channel c gets bit-width bits_of(c); most channels get
// min-max params of their row (alternating symmetric / asymmetric), every
// fourth a scale shrunk 4x (so values clip at both ends) and a random zero
// point, and scale 1 / zero 0 for empty rows.
template <typename BitsOf>
OwnedParams ParamsFor(const std::vector<float>& m, size_t channels, size_t row_len,
                      BitsOf bits_of, uint32_t seed) {
  std::mt19937 rng(seed);
  OwnedParams p;
  for (size_t c = 0; c < channels; ++c) {
    const int bits = bits_of(c);
    float mn = 0, mx = 0;
    for (size_t i = 0; i < row_len; ++i) {
      const float v = m[c * row_len + i];
      if (i == 0 || v < mn) mn = v;
      if (i == 0 || v > mx) mx = v;
    }
    QuantParams q = MinMaxQuantParams(mn, mx, bits, c % 2 == 1);
    if (c % 4 == 3) {
      q.scale /= 4;
      q.zero_point = std::uniform_int_distribution<int>(0, QuantMax(bits))(rng);
    }
    p.bits.push_back(static_cast<uint8_t>(bits));
    p.scales.push_back(q.scale);
    p.zero_points.push_back(q.zero_point);
  }
  return p;
}

// Overwrites every third element of each row of `m` with a rounding tie of
// that channel's params, x / scale == k + 0.5 for a k inside the code range,
// or one of its float neighbours: the inputs on which a reciprocal multiply,
// a fused operation or another rounding mode would change the code.
inline void InjectTies(std::vector<float>& m, size_t channels, size_t row_len,
                       const OwnedParams& p, uint32_t seed) {
  std::mt19937 rng(seed);
  for (size_t c = 0; c < channels; ++c) {
    const int qmax = QuantMax(p.bits[c]);
    std::uniform_int_distribution<int> code(-1, qmax);
    for (size_t i = c % 3; i < row_len; i += 3) {
      const float k = static_cast<float>(code(rng) - p.zero_points[c]);
      const float tie = (k + 0.5f) * p.scales[c];
      switch (i % 4) {
        case 0: m[c * row_len + i] = std::nextafter(tie, -1e30f); break;
        case 1: m[c * row_len + i] = std::nextafter(tie, 1e30f); break;
        default: m[c * row_len + i] = tie; break;
      }
    }
  }
}

// An output buffer of n elements with kGuard sentinel elements on each side,
// to catch a kernel writing outside its output.
template <typename T>
class Guarded {
 public:
  static constexpr size_t kGuard = 16;
  Guarded(size_t n, T fill) : buf_(n + 2 * kGuard, fill), fill_(fill) {}
  T* data() { return buf_.data() + kGuard; }
  std::vector<T> body() const { return {buf_.begin() + kGuard, buf_.end() - kGuard}; }
  bool GuardsIntact() const {
    for (size_t i = 0; i < kGuard; ++i) {
      if (std::memcmp(&buf_[i], &fill_, sizeof(T)) != 0) return false;
      if (std::memcmp(&buf_[buf_.size() - 1 - i], &fill_, sizeof(T)) != 0) return false;
    }
    return true;
  }

 private:
  std::vector<T> buf_;
  T fill_;
};

// Expects a and b to hold the same bytes, reporting the first differing
// element (a float compare would hide -0.0 vs 0.0 and reject equal NaNs).
template <typename T>
void ExpectBitIdentical(const std::vector<T>& a, const std::vector<T>& b,
                        const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(&a[i], &b[i], sizeof(T)) != 0) {
      ADD_FAILURE() << what << ": first difference at element " << i << ": " << +a[i]
                    << " vs " << +b[i];
      return;
    }
  }
}

}  // namespace qfleet::kernels::testing

#endif  // QFLEET_TESTS_KERNELS_KERNEL_TEST_UTIL_H_
