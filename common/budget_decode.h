#ifndef QFLEET_COMMON_BUDGET_DECODE_H_
#define QFLEET_COMMON_BUDGET_DECODE_H_

#include <array>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "common/plan_codec.h"

namespace qfleet {

// How a device turns a plan's tier codes into bit-widths. Tier 0 holds the
// channels the cloud found most important, tier 3 the least.
struct BudgetDecodeOptions {
  // Bit-widths the device can run; 0 means "pruned" (the channel is zeroed).
  std::vector<int> allowed_bits = {0, 1, 2, 3, 4, 5, 6, 8};
  // Relative importance of a weight in each tier; the decoder minimizes
  // sum_t weights_t * importance_t * 4^(-bits_t) (the RTN error model: each
  // extra bit divides the squared error by 4; a pruned weight costs 1).
  std::array<double, 4> tier_importance = {8, 4, 2, 1};
};

// The table a device chose and what it costs.
struct BudgetDecision {
  std::array<int, 4> tier_bits = {0, 0, 0, 0};  // non-increasing
  double avg_bits = 0;  // weighted by channel size over all channels
  std::array<uint64_t, 4> tier_weights = {0, 0, 0, 0};  // weights per tier
};

// Chooses the tier -> bits table that meets `budget_bits` (average bits per
// weight, each channel weighted by its size `row_lengths[layer]`) with the
// least modelled error; tiers keep non-increasing bits. Ties go to the table
// with more bits in higher tiers. InvalidArgument when the plan is invalid,
// row_lengths does not match its layers, the budget is not finite or no
// table fits under it. Deterministic; thread-safe.
absl::StatusOr<BudgetDecision> DecodeForBudget(const PrecisionPlan& plan,
                                               const std::vector<uint32_t>& row_lengths,
                                               double budget_bits,
                                               const BudgetDecodeOptions& options = {});

// Per-channel bit-widths of every layer under `tier_bits`, in plan order.
std::vector<std::vector<int>> ChannelBits(const PrecisionPlan& plan,
                                          const std::array<int, 4>& tier_bits);

}  // namespace qfleet

#endif  // QFLEET_COMMON_BUDGET_DECODE_H_
