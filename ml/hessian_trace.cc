#include "ml/hessian_trace.h"

#include <cmath>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/seeded_random.h"
#include "ml/layer_weights.h"

namespace qfleet::ml {
namespace {

// A tensor shaped like `like` with independent +-1 entries, one bit of the
// generator per element.
torch::Tensor Rademacher(const torch::Tensor& like, SeededRandom& rng) {
  torch::Tensor v = torch::empty(like.sizes(), torch::kFloat32);
  float* p = v.data_ptr<float>();
  const int64_t n = v.numel();
  uint64_t bits = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (i % 64 == 0) bits = rng.NextU64();
    p[i] = (bits & 1) ? 1.0f : -1.0f;
    bits >>= 1;
  }
  return v.to(like.scalar_type());
}

}  // namespace

absl::StatusOr<std::vector<LayerSensitivity>> HessianTraceOfLoss(
    torch::nn::Module& module, const std::function<torch::Tensor()>& loss_fn, int num_samples,
    uint64_t seed) {
  if (num_samples < 1) {
    return absl::InvalidArgumentError(absl::StrFormat("num_samples %d < 1", num_samples));
  }
  const std::vector<LayerWeight> layers = QuantizableLayers(module);
  if (layers.empty()) return absl::InvalidArgumentError("the module has no quantizable weight");
  std::vector<LayerSensitivity> out(layers.size());
  for (size_t l = 0; l < layers.size(); ++l) {
    out[l].name = layers[l].layer;
    out[l].num_params = layers[l].weight.numel();
    out[l].per_channel.assign(static_cast<size_t>(layers[l].channels), 0.0);
  }
  try {
    std::vector<torch::Tensor> weights;
    for (const LayerWeight& l : layers) weights.push_back(l.weight);
    torch::Tensor loss = loss_fn();
    if (!loss.defined() || loss.numel() != 1 || !std::isfinite(loss.item<double>())) {
      return absl::InvalidArgumentError("the loss is not a finite scalar");
    }
    const std::vector<torch::Tensor> grads =
        torch::autograd::grad({loss}, weights, /*grad_outputs=*/{}, /*retain_graph=*/true,
                              /*create_graph=*/true, /*allow_unused=*/true);
    // Only gradients that depend on the weights have a second derivative.
    std::vector<size_t> live;
    for (size_t l = 0; l < grads.size(); ++l) {
      if (grads[l].defined() && grads[l].requires_grad()) live.push_back(l);
    }
    SeededRandom rng(seed);
    for (int s = 0; s < num_samples; ++s) {
      std::vector<torch::Tensor> v;
      for (const torch::Tensor& w : weights) v.push_back(Rademacher(w, rng));
      if (live.empty()) continue;
      std::vector<torch::Tensor> outputs, grad_outputs;
      for (size_t l : live) {
        outputs.push_back(grads[l]);
        grad_outputs.push_back(v[l]);
      }
      const std::vector<torch::Tensor> hv =
          torch::autograd::grad(outputs, weights, grad_outputs, /*retain_graph=*/true,
                                /*create_graph=*/false, /*allow_unused=*/true);
      for (size_t l = 0; l < layers.size(); ++l) {
        if (!hv[l].defined()) continue;
        const torch::Tensor per_channel =
            (v[l] * hv[l]).reshape({layers[l].channels, -1}).sum(1).to(torch::kFloat64).contiguous();
        const double* p = per_channel.data_ptr<double>();
        for (int64_t c = 0; c < layers[l].channels; ++c) out[l].per_channel[c] += p[c];
      }
    }
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("Hessian trace failed: ", e.what_without_backtrace()));
  }
  for (LayerSensitivity& s : out) {
    s.trace = 0;
    for (double& c : s.per_channel) {
      c /= num_samples;
      s.trace += c;
    }
  }
  return out;
}

absl::StatusOr<std::vector<LayerSensitivity>> HessianTrace(FmnistCnn& model, const torch::Tensor& x,
                                                           const torch::Tensor& y, int num_samples,
                                                           uint64_t seed) {
  if (!x.defined() || !y.defined() || x.dim() != 4 || x.size(0) == 0 || x.size(1) != 1 ||
      x.size(2) != 28 || x.size(3) != 28 || y.dim() != 1 ||
      y.size(0) != x.size(0) || !x.is_floating_point() || y.scalar_type() != torch::kInt64) {
    return absl::InvalidArgumentError(
        "HessianTrace needs a non-empty float batch x [n,1,28,28] and int64 labels y [n]");
  }
  return HessianTraceOfLoss(
      *model, [&] { return torch::nn::functional::cross_entropy(model->forward(x), y); },
      num_samples, seed);
}

}  // namespace qfleet::ml
