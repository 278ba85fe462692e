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

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_AGGREGATOR_H_
