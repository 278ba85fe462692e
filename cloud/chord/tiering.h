#ifndef QFLEET_CLOUD_CHORD_TIERING_H_
#define QFLEET_CLOUD_CHORD_TIERING_H_

#include <array>
#include <cstdint>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "common/plan_codec.h"
#include "ml/chord/channel_catalog.h"

namespace qfleet::ml::chord {

// Tier convention (common/budget_decode.h): tier 0 holds the channels the
// cloud ranks most important and gets the most bits; tier 3 the least.
//
// How the cloud sizes the tiers for a budget. With reference widths b_t
// (non-increasing, b_0 > b_3) the tier shares f_t of all weights (by
// element count) are: f_1, f_2 = middle_share (the "4-bit" and "3-bit"
// blocks), f_0 solved so that sum_t f_t b_t = budget, f_3 the rest. When the
// budget is too low for the middle shares they shrink (f_0 = 0); when it is
// too high, f_3 = 0 and f_0 and the middle shares are solved together.
//
// The default (4/3/3/2 bits, middle shares 1/4) cuts equal quarters at 3
// bits: a table a device decoding with budget_decode's default error model
// (tier importance 8/4/2/1, i.e. half a bit per tier at the optimum) keeps
// mixed. Tiers cut for 8/4/3/2 (one eighth at 8 bits, two thirds at 2) are
// decoded back to a uniform 3 bits by that model, which erases the plan.
struct TierPolicy {
  std::array<int, 4> reference_bits = {4, 3, 3, 2};
  std::array<double, 2> middle_share = {0.25, 0.25};
};

// Tier shares f_0..f_3 (sum 1) for `budget_bits` as described above.
// InvalidArgument if the reference widths are not non-increasing within
// 0..8 with b_0 > b_3, a middle share is outside [0, 1] or their sum above
// 1, or the budget is not finite or outside [b_3, b_0]. Thread-safe.
absl::StatusOr<std::array<double, 4>> TierFractions(double budget_bits, const TierPolicy& policy);

// Hard tiers: per user (row of `scores` [U, N]) channels sorted by score,
// highest first (ties: lower index first), are cut where the cumulative
// element count (elements [N]) passes f_0, f_0 + f_1, f_0 + f_1 + f_2 of the
// total; a channel belongs to the first tier whose cut it does not pass.
// So tier t never holds more than its share and the average bits under the
// reference widths never exceed the budget. Returns [U, N] int64 codes
// 0..3. Deterministic. Throws c10::Error on mismatched shapes.
torch::Tensor AssignTiers(const torch::Tensor& scores, const torch::Tensor& elements,
                          const std::array<double, 4>& fractions);

// Soft tiers for training: P(tier <= t) = sigmoid((score - tau_t) /
// (temperature * sd_u)), tau_t the midpoint between the last channel inside
// and the first outside cut t of AssignTiers, sd_u the user's score standard
// deviation (both treated as constants). Returns probabilities [U, N, 4]
// (differentiable with respect to scores). temperature > 0.
torch::Tensor SoftTiers(const torch::Tensor& scores, const torch::Tensor& elements,
                        const std::array<double, 4>& fractions, double temperature);

// The plan of one user: codes [N] (int, 0..3, catalog order) under the
// catalog's layer names and channel counts. InvalidArgument if codes has the
// wrong size or a code is out of range.
absl::StatusOr<PrecisionPlan> PlanFromCodes(const ChannelCatalog& catalog,
                                            const torch::Tensor& codes, uint64_t version);

}  // namespace qfleet::ml::chord

#endif  // QFLEET_CLOUD_CHORD_TIERING_H_
