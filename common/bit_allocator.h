#ifndef QFLEET_COMMON_BIT_ALLOCATOR_H_
#define QFLEET_COMMON_BIT_ALLOCATOR_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace qfleet {

// Mixed-precision bit allocation (HAWQ-V2 style): picks one bit-width per
// output channel from an allowed set so that the modelled loss increase
//
//   L(b) = sum_c  sensitivity_c * elements_c * err_c(b_c)
//
// is small while the size-weighted average bit-width stays within budget:
//
//   sum_c elements_c * b_c  <=  floor(average_bits * sum_c elements_c).
//
// With sensitivity_c = (Hessian trace of the channel) / elements_c and
// err_c(b) the per-element mean squared quantization error, L is HAWQ-V2's
// sum over channels of Tr(H_c) / n_c * ||Q(W_c) - W_c||^2.
//
// Algorithm (greedy marginal gain, "lazy greedy"): every channel starts at
// the smallest allowed width. Repeatedly, among all upgrades of one channel
// from its current width b to any larger allowed width b' whose extra
// elements_c * (b' - b) bits still fit the remaining budget, take the one
// with the largest gain per bit, sensitivity_c * (err_c(b) - err_c(b')) /
// (b' - b); ties go to the lower channel index, then the smaller b'. Stops
// when no upgrade fits or only loss-increasing upgrades remain (upgrades with
// zero gain are taken, so the budget is spent even on insensitive channels).
// Exact for convex err curves in the continuous limit; otherwise a good
// approximation of the knapsack optimum. Deterministic: integer bit
// accounting, no randomness, no dependence on thread count.
struct ChannelBitCost {
  // Loss weight per unit of squared error per element; finite, >= 0.
  double sensitivity = 0;
  // Number of weights in the channel; >= 1.
  int64_t elements = 1;
  // Value range (max - min) of the channel, finite and >= 0. Used only when
  // `error` is empty: err(b) = UniformQuantMse(range, b).
  double range = 0;
  // Optional measured error table: err(allowed_bits[i]) = error[i], one
  // finite, >= 0 entry per allowed width (e.g. the per-element MSE of RTN).
  std::vector<double> error;
};

struct BitAllocOptions {
  // Allowed widths: strictly increasing, each in 1..8.
  std::vector<int> allowed_bits = {2, 3, 4, 8};
  // Budget: the elements-weighted mean bit-width may not exceed this; must
  // lie in [allowed_bits.front(), allowed_bits.back()].
  double average_bits = 4;
};

// Expected per-element MSE of uniform rounding over `range` with 2^bits
// levels: range^2 / (12 * (2^bits - 1)^2). bits must be >= 1. Thread-safe.
double UniformQuantMse(double range, int bits);

// Chooses a width from options.allowed_bits for every channel as described
// above; returns one width per channel, in input order. InvalidArgument for
// empty input, bad allowed bits, a budget outside [min, max] allowed bits or
// NaN, a NaN/Inf/negative sensitivity, range or table entry, elements < 1,
// or a table whose size differs from allowed_bits. Thread-safe.
absl::StatusOr<std::vector<int>> AllocateBits(const std::vector<ChannelBitCost>& channels,
                                              const BitAllocOptions& options);

// sum_c elements_c * bits_c / sum_c elements_c. `bits` must have one entry
// per channel (not checked beyond the size: returns 0 on mismatch or empty
// input). Thread-safe.
double AverageBits(const std::vector<ChannelBitCost>& channels, const std::vector<int>& bits);

}  // namespace qfleet

#endif  // QFLEET_COMMON_BIT_ALLOCATOR_H_
