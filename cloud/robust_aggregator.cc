#include "cloud/robust_aggregator.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_format.h"
#include "cloud/aggregator.h"
#include "common/status_macros.h"
#include "kernels/fedavg.h"

namespace qfleet::cloud {

bool IsKnownAggregator(absl::string_view rule) {
  return rule == "fedavg" || rule == "median" || rule == "trimmed_mean";
}

namespace {

absl::Status CheckOptions(const AggregatorOptions& options) {
  if (!IsKnownAggregator(options.rule)) {
    return absl::InvalidArgumentError("aggregator '" + options.rule +
                                      "' is not one of fedavg, median, trimmed_mean");
  }
  if (!(options.trim_fraction >= 0 && options.trim_fraction < 0.5)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("trim_fraction=%g not in [0, 0.5)", options.trim_fraction));
  }
  if (!(options.clip_norm >= 0) || !std::isfinite(options.clip_norm)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("clip_norm=%g must be finite and >= 0", options.clip_norm));
  }
  return absl::OkStatus();
}

// FedAvgUpdates' checks on counts, weights and each upload.
absl::Status CheckInputs(const TensorContainer& global, const std::vector<TensorContainer>& uploads,
                         const std::vector<double>& weights, const std::vector<bool>& is_delta) {
  if (uploads.size() != weights.size()) {
    return absl::InvalidArgumentError("aggregate: updates and weights differ in count");
  }
  if (uploads.size() != is_delta.size()) {
    return absl::InvalidArgumentError("aggregate: updates and delta flags differ in count");
  }
  if (uploads.empty()) return absl::InvalidArgumentError("aggregate: no updates");
  bool any_positive = false;
  for (double w : weights) {
    if (!(w >= 0) || !std::isfinite(w)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("aggregate: weight %g is negative or not finite", w));
    }
    any_positive = any_positive || w > 0;
  }
  if (!any_positive) return absl::InvalidArgumentError("aggregate: every weight is 0");
  for (const TensorContainer& u : uploads) RETURN_IF_ERROR(ValidateUpdate(global, u));
  return absl::OkStatus();
}

// The dequantized upload tensor `name` of client k (ValidateUpdate passed).
absl::StatusOr<std::vector<float>> Raw(const std::vector<TensorContainer>& uploads, size_t k,
                                       const std::string& name) {
  return DequantizeTensor(*uploads[k].Find(name));
}

// Per client: min(1, clip_norm / |model_k - global|), the norm over every
// element of every tensor; all 1 when clip_norm is 0.
absl::StatusOr<std::vector<double>> ClipScales(const TensorContainer& global,
                                               const std::vector<TensorContainer>& uploads,
                                               const std::vector<bool>& is_delta,
                                               double clip_norm) {
  std::vector<double> scales(uploads.size(), 1.0);
  if (clip_norm == 0) return scales;
  std::vector<double> squares(uploads.size(), 0.0);
  for (const Tensor& g : global.tensors) {
    ASSIGN_OR_RETURN(std::vector<float> base, DequantizeTensor(g));
    for (size_t k = 0; k < uploads.size(); ++k) {
      ASSIGN_OR_RETURN(std::vector<float> raw, Raw(uploads, k, g.name));
      for (size_t i = 0; i < raw.size(); ++i) {
        const double d = is_delta[k] ? double{raw[i]} : double{raw[i]} - double{base[i]};
        squares[k] += d * d;
      }
    }
  }
  for (size_t k = 0; k < uploads.size(); ++k) {
    const double norm = std::sqrt(squares[k]);
    if (norm > clip_norm) scales[k] = clip_norm / norm;
  }
  return scales;
}

// Client k's model values for tensor `g` (base = g dequantized): the upload,
// plus base for a delta, its update scaled by `scale` when that is < 1.
absl::StatusOr<std::vector<float>> ClientModel(const Tensor& g, const std::vector<float>& base,
                                               const std::vector<TensorContainer>& uploads,
                                               const std::vector<bool>& is_delta, size_t k,
                                               double scale) {
  ASSIGN_OR_RETURN(std::vector<float> values, Raw(uploads, k, g.name));
  if (scale >= 1 && !is_delta[k]) return values;
  for (size_t i = 0; i < values.size(); ++i) {
    bool finite;
    if (scale < 1) {
      const double d = is_delta[k] ? double{values[i]} : double{values[i]} - double{base[i]};
      const double clipped = double{base[i]} + scale * d;
      // Checked before the cast: a double outside float's range has no float.
      finite = std::fabs(clipped) <= std::numeric_limits<float>::max();
      if (finite) values[i] = static_cast<float>(clipped);
    } else {
      values[i] += base[i];  // as FedAvgUpdates does, in float
      finite = std::isfinite(values[i]);
    }
    if (!finite) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s %d plus the global model overflows in tensor '%s'",
                          scale < 1 ? "clipped update" : "delta", k, g.name));
    }
  }
  return values;
}

// Median (even count: mean of the two middle values) or trimmed mean of
// `*column`, which it sorts; `cut` values dropped at each end (trimmed mean
// only). Sums in sorted order, so the order of the clients does not matter.
float Robust(bool median, size_t cut, std::vector<float>* column) {
  std::vector<float>& v = *column;
  std::sort(v.begin(), v.end());
  const size_t m = v.size();
  if (median) {
    if (m % 2 == 1) return v[m / 2];
    return static_cast<float>((double{v[m / 2 - 1]} + double{v[m / 2]}) / 2);
  }
  double sum = 0;
  for (size_t i = cut; i < m - cut; ++i) sum += v[i];
  return static_cast<float>(sum / static_cast<double>(m - 2 * cut));
}

}  // namespace

absl::StatusOr<TensorContainer> Aggregate(const TensorContainer& global,
                                          const std::vector<TensorContainer>& uploads,
                                          const std::vector<double>& weights,
                                          const std::vector<bool>& is_delta,
                                          const AggregatorOptions& options) {
  RETURN_IF_ERROR(CheckOptions(options));
  if (options.rule == "fedavg" && options.clip_norm == 0) {
    return FedAvgUpdates(global, uploads, weights, is_delta);
  }
  RETURN_IF_ERROR(CheckInputs(global, uploads, weights, is_delta));
  ASSIGN_OR_RETURN(std::vector<double> scales,
                   ClipScales(global, uploads, is_delta, options.clip_norm));

  std::vector<size_t> counted;  // median and trimmed mean: weight > 0
  for (size_t k = 0; k < uploads.size(); ++k) {
    if (weights[k] > 0) counted.push_back(k);
  }
  const bool median = options.rule == "median";
  const size_t cut = static_cast<size_t>(
      std::floor(options.trim_fraction * static_cast<double>(counted.size())));
  if (options.rule == "trimmed_mean" && 2 * cut >= counted.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "trimmed_mean: trimming %d of %d updates at each end leaves none", cut, counted.size()));
  }

  TensorContainer out;
  std::vector<std::vector<float>> models(uploads.size());
  for (const Tensor& g : global.tensors) {
    ASSIGN_OR_RETURN(std::vector<float> base, DequantizeTensor(g));
    for (size_t k = 0; k < uploads.size(); ++k) {
      ASSIGN_OR_RETURN(models[k], ClientModel(g, base, uploads, is_delta, k, scales[k]));
    }
    Tensor t;
    t.name = g.name;
    t.shape = g.shape;
    t.values.resize(base.size());
    if (options.rule == "fedavg") {
      std::vector<const float*> ptrs(uploads.size());
      for (size_t k = 0; k < uploads.size(); ++k) ptrs[k] = models[k].data();
      RETURN_IF_ERROR(kernels::WeightedAverage(kernels::DeviceKind::kCpu, ptrs, weights,
                                               t.values.size(), t.values.data()));
    } else {
      std::vector<float> column(counted.size());
      for (size_t i = 0; i < t.values.size(); ++i) {
        for (size_t j = 0; j < counted.size(); ++j) column[j] = models[counted[j]][i];
        t.values[i] = Robust(median, cut, &column);
      }
    }
    out.tensors.push_back(std::move(t));
  }
  return out;
}

}  // namespace qfleet::cloud
