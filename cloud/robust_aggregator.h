#ifndef QFLEET_CLOUD_ROBUST_AGGREGATOR_H_
#define QFLEET_CLOUD_ROBUST_AGGREGATOR_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/tensor_container.h"

namespace qfleet::cloud {

// How a round's uploads become the next global model (a campaign's
// `aggregator`, `trim_fraction` and `clip_norm`).
struct AggregatorOptions {
  // "fedavg" (weighted mean), "median" or "trimmed_mean" (coordinate-wise,
  // unweighted); see Aggregate.
  std::string rule = "fedavg";
  // trimmed_mean: the share of values dropped at each end, in [0, 0.5).
  double trim_fraction = 0.1;
  // > 0: each client's update (its model - global) is scaled to an L2 norm
  // of at most clip_norm before the rule runs; 0 = off.
  double clip_norm = 0;
};

// True for "fedavg", "median" and "trimmed_mean".
bool IsKnownAggregator(absl::string_view rule);

// Aggregates uploads as FedAvgUpdates takes them (upload k a model, or when
// is_delta[k] a delta from `global`). Client k's model is the dequantized
// upload (+ global for a delta). With clip_norm > 0 its update u_k = model_k
// - global (L2 norm over every element of every tensor) is first scaled to
// global + u_k * min(1, clip_norm / |u_k|); models within the norm are kept
// as they are. Then per coordinate:
//   fedavg: sum_k w_k model_k / sum_k w_k; without clipping exactly
//     FedAvgUpdates (bit-identical).
//   median: the median over the clients with weight > 0 (the mean of the
//     two middle values for an even count), unweighted.
//   trimmed_mean: over the m clients with weight > 0, drop the
//     floor(trim_fraction x m) largest and smallest values and average the
//     rest, unweighted.
// median and trimmed_mean do not depend on the order of the uploads. The
// result holds `global`'s tensors in its order, as FP32. InvalidArgument for
// an unknown rule, trim_fraction outside [0, 0.5), clip_norm negative or not
// finite, and every failure of FedAvgUpdates (counts differ, no uploads, bad
// weights, an upload failing ValidateUpdate, global + delta not finite).
// Thread-safe.
absl::StatusOr<TensorContainer> Aggregate(const TensorContainer& global,
                                          const std::vector<TensorContainer>& uploads,
                                          const std::vector<double>& weights,
                                          const std::vector<bool>& is_delta,
                                          const AggregatorOptions& options);

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_ROBUST_AGGREGATOR_H_
