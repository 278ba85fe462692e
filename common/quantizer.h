#ifndef QFLEET_COMMON_QUANTIZER_H_
#define QFLEET_COMMON_QUANTIZER_H_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "common/tensor.h"

namespace qfleet {

// Per-output-channel uniform (round-to-nearest) quantization: the reference
// every faster kernel is tested against.
//
// A channel quantized at `bits` has codes q in [0, qmax], qmax = 2^bits - 1,
// and values (q - zero_point) * scale.
//
// kAsymmetric: the clipping range [lo, hi] is widened to contain 0, then
//   scale = (hi - lo) / qmax and zero_point = nearbyint(-lo / scale).
// kSymmetric (bits >= 2): zero_point = 2^(bits-1) and
//   scale = absmax / (2^(bits-1) - 1), so +-absmax are codes qmax and 1 and
//   code 0 (one extra negative step) only receives clipped values.
// kSymmetric at bits == 1 is quantized exactly as kAsymmetric: two levels
//   +-s are not expressible as (q - zero) * scale with an integer zero, so a
//   1-bit channel always gets the levels {lo', hi'} of the 0-inclusive range.
//
// Observers choose [lo, hi] (or absmax) from the channel's values:
//   kMinMax:     the channel's min and max.
//   kPercentile: hi = P(percentile) and lo = P(100 - percentile) of the
//                values (kAsymmetric), absmax = P(percentile) of |x|
//                (kSymmetric); P linearly interpolates between order
//                statistics. percentile must be in [50, 100]. If clipping
//                leaves an empty range the min/max range is used instead.
//   kMse:        the min/max range shrunk by a factor a from the grid
//                {1, ..., 0.2} (kMseGridPoints evenly spaced values) chosen
//                to minimize the channel's sum of squared fake-quant error:
//                a coarse pass over every kMseCoarseStep-th grid point (and
//                the last), then the grid points within kMseCoarseStep - 1
//                of the coarse winner; the best point seen wins, ties keep
//                the larger a. a = 1 (min/max) is always a candidate, so kMse
//                never has a larger error than kMinMax.
//
// Constant channels (every value equal to c) bypass the observer so they are
// reproduced exactly: c == 0 gives scale 1 (zero_point 2^(bits-1) for
// kSymmetric at bits >= 2, else 0); c != 0 gives scale |c| and a zero_point
// such that c is the code zero_point + sign(c). Scales are always finite and
// at least FLT_MIN.
//
// Error bound: for values inside the clipping range, |x - deq(q(x))| <=
// scale / 2 (plus float rounding), for every bits in 1..8. kMinMax never
// clips, so the bound holds for every element at 1..8 bits.
enum class QuantScheme { kSymmetric, kAsymmetric };
enum class Observer { kMinMax, kPercentile, kMse };

constexpr int kMseGridPoints = 100;
constexpr double kMseMinShrink = 0.2;
constexpr int kMseCoarseStep = 5;

struct QuantOptions {
  QuantScheme scheme = QuantScheme::kAsymmetric;
  Observer observer = Observer::kMinMax;
  double percentile = 99.99;  // kPercentile only, in [50, 100]
};

struct ChannelParams {
  float scale = 1.0f;      // > 0, finite
  int32_t zero_point = 0;  // in [0, 2^bits - 1]
};

// Chooses scale and zero point for one channel of `n` values at `x` (n may be
// 0: scale 1) with `bits` in 1..8, as described above. Returns
// InvalidArgument for bits out of range, x == nullptr with n > 0, a NaN/Inf
// value, a bad percentile or an unknown scheme/observer. Thread-safe.
absl::StatusOr<ChannelParams> ChooseChannelParams(const float* x, size_t n, int bits,
                                                  const QuantOptions& opt);

// Code for `x`: clamp(nearbyint(x / scale) + zero_point, 0, 2^bits - 1) with
// the default round-half-to-even mode. NaN maps to 0. `bits` must be in 1..8
// and `p` valid (not checked). Thread-safe.
inline uint8_t QuantizeValue(float x, ChannelParams p, int bits) {
  const float q = std::nearbyint(x / p.scale) + static_cast<float>(p.zero_point);
  const float qmax = static_cast<float>((1 << bits) - 1);
  if (!(q > 0.0f)) return 0;  // also NaN
  if (q >= qmax) return static_cast<uint8_t>((1 << bits) - 1);
  return static_cast<uint8_t>(q);
}

// Value of code `q`: (q - zero_point) * scale, the same float expression
// DequantizeTensor uses. Thread-safe.
inline float DequantizeValue(uint8_t q, ChannelParams p) {
  return static_cast<float>(static_cast<int32_t>(q) - p.zero_point) * p.scale;
}

// Quantizes the kFloat32 tensor `fp32` (channels = shape[0]) into a
// kPackedPerChannel tensor with the same name and shape. bits_per_channel has
// one entry (used for every channel) or one per channel, each in 1..8.
// Returns InvalidArgument if fp32 is not a valid kFloat32 tensor (NaN/Inf
// included) or the bits are wrong in count or range. Thread-safe.
absl::StatusOr<Tensor> QuantizePerChannel(const Tensor& fp32,
                                          const std::vector<int>& bits_per_channel,
                                          const QuantOptions& opt);

// QuantizePerChannel followed by DequantizeTensor ("fake quantization"):
// returns a kFloat32 tensor with the same name and shape holding the values
// the quantized tensor represents. Same failures as QuantizePerChannel.
// Thread-safe.
absl::StatusOr<Tensor> FakeQuantizePerChannel(const Tensor& fp32,
                                              const std::vector<int>& bits_per_channel,
                                              const QuantOptions& opt);

}  // namespace qfleet

#endif  // QFLEET_COMMON_QUANTIZER_H_
