#include "cloud/aggregator.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <vector>

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

// The sum of `w` added smallest first (independent of the order of `w`).
double AscendingSum(std::vector<double> w) {
  std::sort(w.begin(), w.end());
  return std::accumulate(w.begin(), w.end(), 0.0);
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

absl::StatusOr<std::vector<double>> CapWeights(std::vector<double> weights, double max_share) {
  if (weights.empty()) return absl::InvalidArgumentError("CapWeights: no weights");
  if (!(max_share > 0 && max_share <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("CapWeights: max_share=%g not in (0, 1]", max_share));
  }
  for (double w : weights) {
    if (!(w >= 0) || !std::isfinite(w)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("CapWeights: weight %g is negative or not finite", w));
    }
  }
  // Descending order; suffix[k] = sum of sorted[k..], added smallest first.
  std::vector<double> sorted = weights;
  std::sort(sorted.begin(), sorted.end(), std::greater<double>());
  const size_t n = sorted.size();
  std::vector<double> suffix(n + 1, 0.0);
  for (size_t k = n; k-- > 0;) suffix[k] = suffix[k + 1] + sorted[k];
  if (!std::isfinite(suffix[0])) return absl::InvalidArgumentError("CapWeights: sum overflows");
  if (suffix[0] == 0) return absl::InvalidArgumentError("CapWeights: every weight is 0");
  const size_t positive = static_cast<size_t>(
      std::count_if(sorted.begin(), sorted.end(), [](double w) { return w > 0; }));
  if (sorted[0] <= max_share * suffix[0]) return weights;
  if (max_share * static_cast<double>(positive) <= 1) {
    for (double& w : weights) w = w > 0 ? 1.0 : 0.0;
    return weights;
  }
  // k weights capped at v = max_share * suffix[k] / (1 - k * max_share): the
  // first k where the largest uncapped weight is within v. Such a k < positive
  // exists since max_share * positive > 1 (then k * max_share < 1 too).
  double level = 0;
  for (size_t k = 1; k < positive; ++k) {
    level = max_share * suffix[k] / (1 - static_cast<double>(k) * max_share);
    if (sorted[k] <= level) break;
  }
  auto apply = [&weights](double v) {
    std::vector<double> out = weights;
    for (double& w : out) w = std::min(w, v);
    return out;
  };
  std::vector<double> out = apply(level);
  // Rounding can leave the largest a few ulps over its share; lower v.
  for (int i = 0; i < 16; ++i) {
    const double total = AscendingSum(out);
    if (*std::max_element(out.begin(), out.end()) <= max_share * total) break;
    level = std::nextafter(level, 0.0);
    out = apply(level);
  }
  return out;
}

}  // namespace qfleet::cloud
