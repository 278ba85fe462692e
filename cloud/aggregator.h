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
// in the order given. Same failures as FedAvgDeltas. Thread-safe.
absl::StatusOr<TensorContainer> FedAvgModels(const TensorContainer& global,
                                             const std::vector<TensorContainer>& models,
                                             const std::vector<double>& weights);

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_AGGREGATOR_H_
