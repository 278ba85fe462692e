#include "common/budget_decode.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace qfleet {

absl::StatusOr<BudgetDecision> DecodeForBudget(const PrecisionPlan& plan,
                                               const std::vector<uint32_t>& row_lengths,
                                               double budget_bits,
                                               const BudgetDecodeOptions& options) {
  RETURN_IF_ERROR(ValidatePlan(plan));
  if (row_lengths.size() != plan.layer_names.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%d row lengths for %d plan layers", row_lengths.size(), plan.layer_names.size()));
  }
  if (!std::isfinite(budget_bits) || budget_bits < 0) {
    return absl::InvalidArgumentError(absl::StrFormat("budget %g bits is not valid", budget_bits));
  }
  std::vector<int> allowed = options.allowed_bits;
  std::sort(allowed.begin(), allowed.end());
  allowed.erase(std::unique(allowed.begin(), allowed.end()), allowed.end());
  if (allowed.empty() || allowed.front() < 0 || allowed.back() > 8) {
    return absl::InvalidArgumentError("allowed bits must be a non-empty subset of 0..8");
  }
  for (double imp : options.tier_importance) {
    if (!std::isfinite(imp) || imp < 0) return absl::InvalidArgumentError("bad tier importance");
  }

  BudgetDecision best;
  size_t pos = 0;
  for (size_t layer = 0; layer < plan.channels.size(); ++layer) {
    for (uint32_t c = 0; c < plan.channels[layer]; ++c) {
      best.tier_weights[plan.codes[pos++]] += row_lengths[layer];
    }
  }
  double total = 0;
  for (uint64_t w : best.tier_weights) total += static_cast<double>(w);
  if (total == 0) return absl::InvalidArgumentError("plan covers no weights");

  double best_cost = INFINITY;
  bool found = false;
  const size_t k = allowed.size();
  for (size_t i0 = 0; i0 < k; ++i0) {
    for (size_t i1 = 0; i1 <= i0; ++i1) {
      for (size_t i2 = 0; i2 <= i1; ++i2) {
        for (size_t i3 = 0; i3 <= i2; ++i3) {
          const std::array<int, 4> bits = {allowed[i0], allowed[i1], allowed[i2], allowed[i3]};
          double sum_bits = 0, cost = 0;
          for (int t = 0; t < 4; ++t) {
            const double w = static_cast<double>(best.tier_weights[t]);
            sum_bits += w * bits[t];
            cost += w * options.tier_importance[t] * std::pow(4.0, -bits[t]);
          }
          const double avg = sum_bits / total;
          if (avg > budget_bits + 1e-12) continue;
          // Enumeration runs from fewer to more bits in tier 0 first, so a
          // tie keeps the later (higher-tier-heavier) table.
          if (!found || cost <= best_cost) {
            found = true;
            best_cost = cost;
            best.tier_bits = bits;
            best.avg_bits = avg;
          }
        }
      }
    }
  }
  if (!found) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "no tier table meets %g bits with the allowed bit-widths (minimum %d)", budget_bits,
        allowed.front()));
  }
  return best;
}

std::vector<std::vector<int>> ChannelBits(const PrecisionPlan& plan,
                                          const std::array<int, 4>& tier_bits) {
  std::vector<std::vector<int>> out(plan.channels.size());
  size_t pos = 0;
  for (size_t layer = 0; layer < plan.channels.size(); ++layer) {
    out[layer].resize(plan.channels[layer]);
    for (uint32_t c = 0; c < plan.channels[layer]; ++c) {
      out[layer][c] = tier_bits[plan.codes[pos++] & 3];
    }
  }
  return out;
}

}  // namespace qfleet
