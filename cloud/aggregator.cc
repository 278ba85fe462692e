#include "cloud/aggregator.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "kernels/fedavg.h"

namespace qfleet::cloud {

absl::Status ValidateUpdate(const TensorContainer& global, const TensorContainer& update) {
  if (update.tensors.size() != global.tensors.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "update holds %d tensors, the model has %d", update.tensors.size(), global.tensors.size()));
  }
  for (const Tensor& g : global.tensors) {
    const Tensor* u = update.Find(g.name);
    if (u == nullptr) {
      return absl::InvalidArgumentError(absl::StrFormat("update lacks tensor '%s'", g.name));
    }
    if (u->shape != g.shape) {
      return absl::InvalidArgumentError(
          absl::StrFormat("update tensor '%s' has the wrong shape", g.name));
    }
    RETURN_IF_ERROR(ValidateTensor(*u));
    ASSIGN_OR_RETURN(std::vector<float> values, DequantizeTensor(*u));
    for (float v : values) {
      if (!std::isfinite(v)) {
        return absl::InvalidArgumentError(
            absl::StrFormat("update tensor '%s' holds a non-finite value", g.name));
      }
    }
  }
  return absl::OkStatus();
}

namespace {

// Weighted average of `inputs` tensor by tensor; input k is counted as
// global + input when is_delta[k].
absl::StatusOr<TensorContainer> Average(const TensorContainer& global,
                                        const std::vector<TensorContainer>& inputs,
                                        const std::vector<double>& weights,
                                        const std::vector<bool>& is_delta) {
  if (inputs.size() != weights.size()) {
    return absl::InvalidArgumentError("FedAvg: updates and weights differ in count");
  }
  if (inputs.size() != is_delta.size()) {
    return absl::InvalidArgumentError("FedAvg: updates and delta flags differ in count");
  }
  if (inputs.empty()) return absl::InvalidArgumentError("FedAvg: no updates");
  for (const TensorContainer& d : inputs) RETURN_IF_ERROR(ValidateUpdate(global, d));

  TensorContainer out;
  std::vector<std::vector<float>> dequantized(inputs.size());
  std::vector<const float*> ptrs(inputs.size());
  const bool any_delta = std::find(is_delta.begin(), is_delta.end(), true) != is_delta.end();
  std::vector<float> base;
  for (const Tensor& g : global.tensors) {
    if (any_delta) {
      ASSIGN_OR_RETURN(base, DequantizeTensor(g));
    }
    for (size_t k = 0; k < inputs.size(); ++k) {
      ASSIGN_OR_RETURN(dequantized[k], DequantizeTensor(*inputs[k].Find(g.name)));
      if (is_delta[k]) {
        for (size_t i = 0; i < base.size(); ++i) {
          dequantized[k][i] += base[i];
          if (!std::isfinite(dequantized[k][i])) {
            return absl::InvalidArgumentError(absl::StrFormat(
                "delta %d plus the global model overflows in tensor '%s'", k, g.name));
          }
        }
      }
      ptrs[k] = dequantized[k].data();
    }
    Tensor t;
    t.name = g.name;
    t.shape = g.shape;
    t.values.resize(dequantized[0].size());
    RETURN_IF_ERROR(kernels::WeightedAverage(kernels::DeviceKind::kCpu, ptrs, weights,
                                             t.values.size(), t.values.data()));
    out.tensors.push_back(std::move(t));
  }
  return out;
}

}  // namespace

absl::StatusOr<TensorContainer> FedAvgModels(const TensorContainer& global,
                                             const std::vector<TensorContainer>& models,
                                             const std::vector<double>& weights) {
  return Average(global, models, weights, std::vector<bool>(models.size(), false));
}

absl::StatusOr<TensorContainer> FedAvgUpdates(const TensorContainer& global,
                                              const std::vector<TensorContainer>& uploads,
                                              const std::vector<double>& weights,
                                              const std::vector<bool>& is_delta) {
  return Average(global, uploads, weights, is_delta);
}

}  // namespace qfleet::cloud
