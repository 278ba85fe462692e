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

// FedAvg over model deltas: returns global + sum_k w_k * delta_k / sum_k w_k.
// Deltas may be packed (they are dequantized) and are summed in the order
// given, so the result is independent of arrival order when callers sort
// clients. InvalidArgument when a delta does not match `global`, the weights
// do not match the deltas, or all weights are zero. Thread-safe.
absl::StatusOr<TensorContainer> FedAvgDeltas(const TensorContainer& global,
                                             const std::vector<TensorContainer>& deltas,
                                             const std::vector<double>& weights);

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_AGGREGATOR_H_
