#ifndef QFLEET_CLOUD_AGGREGATOR_H_
#define QFLEET_CLOUD_AGGREGATOR_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/tensor_container.h"

namespace qfleet::cloud {

// Checks that an uploaded update holds exactly the tensors of `global`, with
// the same shapes, and that every dequantized value is finite. Returns
// InvalidArgument naming the first offending tensor. Thread-safe.
absl::Status ValidateUpdate(const TensorContainer& global, const TensorContainer& update);

// FedAvg over client models (what agents upload: their local model after
// training, packed at the task's bit-width or FP32): returns
// sum_k w_k * model_k / sum_k w_k, every model dequantized first and summed
// in the order given. InvalidArgument when there are no models, the counts
// differ, a weight is negative or not finite, every weight is 0, or a model
// fails ValidateUpdate. Thread-safe.
absl::StatusOr<TensorContainer> FedAvgModels(const TensorContainer& global,
                                             const std::vector<TensorContainer>& models,
                                             const std::vector<double>& weights);

// FedAvg over a mix of models and deltas: upload k is a model, or, when
// is_delta[k], the change from `global` that the client trained from (a PTQ
// client's quantized local - global), counted as global + delta. Same
// failures as FedAvgModels, and InvalidArgument when is_delta's size is not
// the number of uploads or a global + delta value is not finite.
// Thread-safe.
absl::StatusOr<TensorContainer> FedAvgUpdates(const TensorContainer& global,
                                              const std::vector<TensorContainer>& uploads,
                                              const std::vector<double>& weights,
                                              const std::vector<bool>& is_delta);

// Caps FedAvg weights so that none exceeds `max_share` of the total of the
// returned weights (water-filling): weights above a level v become v, the
// rest are unchanged, with v = max_share x (sum of the rest + count capped
// x v); nothing is redistributed and zeros stay zero. In double, the
// largest result is <= max_share x the results' sum added smallest first (v
// lowered by ulps if rounding needs it). Weights within the cap come back
// as they are; otherwise, if max_share x (count of positive weights) <= 1,
// only equal shares come close: every positive weight becomes 1.
// Deterministic; permuting the input permutes the output alike.
// InvalidArgument for no weights, a negative or non-finite weight, all zero,
// a sum that overflows, or max_share not in (0, 1]. Thread-safe.
absl::StatusOr<std::vector<double>> CapWeights(std::vector<double> weights, double max_share);

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_AGGREGATOR_H_
