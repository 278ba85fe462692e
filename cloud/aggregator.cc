#include "cloud/aggregator.h"

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

absl::StatusOr<TensorContainer> FedAvgDeltas(const TensorContainer& global,
                                             const std::vector<TensorContainer>& deltas,
                                             const std::vector<double>& weights) {
  if (deltas.size() != weights.size()) {
    return absl::InvalidArgumentError("FedAvg: deltas and weights differ in count");
  }
  if (deltas.empty()) return absl::InvalidArgumentError("FedAvg: no updates");
  for (const TensorContainer& d : deltas) RETURN_IF_ERROR(ValidateUpdate(global, d));

  TensorContainer out;
  std::vector<std::vector<float>> dequantized(deltas.size());
  std::vector<const float*> inputs(deltas.size());
  for (const Tensor& g : global.tensors) {
    ASSIGN_OR_RETURN(std::vector<float> base, DequantizeTensor(g));
    for (size_t k = 0; k < deltas.size(); ++k) {
      ASSIGN_OR_RETURN(dequantized[k], DequantizeTensor(*deltas[k].Find(g.name)));
      inputs[k] = dequantized[k].data();
    }
    std::vector<float> avg(base.size());
    RETURN_IF_ERROR(kernels::WeightedAverage(kernels::DeviceKind::kCpu, inputs, weights,
                                             base.size(), avg.data()));
    Tensor t;
    t.name = g.name;
    t.shape = g.shape;
    t.values.resize(base.size());
    for (size_t i = 0; i < base.size(); ++i) t.values[i] = base[i] + avg[i];
    out.tensors.push_back(std::move(t));
  }
  return out;
}

}  // namespace qfleet::cloud
