#include "ml/chord/channel_catalog.h"

#include <cmath>

#include <torch/torch.h>

#include "absl/strings/str_format.h"
#include "ml/chord/quant_rows.h"
#include "ml/layer_weights.h"

namespace qfleet::ml::chord {
namespace {

torch::Tensor Standardize(const torch::Tensor& x) {
  if (x.numel() < 2) return torch::zeros_like(x);
  torch::Tensor centered = x - x.mean();
  const double sd = centered.pow(2).mean().sqrt().item<double>();
  if (!(sd > 1e-12)) return torch::zeros_like(x);
  return centered / sd;
}

}  // namespace

absl::StatusOr<ChannelCatalog> ChannelCatalog::Create(
    const torch::nn::Module& model, const std::map<std::string, std::vector<double>>& sensitivity) {
  torch::NoGradGuard no_grad;
  ChannelCatalog c;
  std::vector<LayerWeight> weights = QuantizableLayers(model);
  if (weights.empty()) return absl::InvalidArgumentError("model has no quantizable layer");
  std::vector<torch::Tensor> features;
  for (const LayerWeight& lw : weights) {
    ChordLayer layer;
    layer.name = lw.layer;
    layer.channels = lw.channels;
    layer.row_length = lw.weight.numel() / lw.channels;
    layer.offset = c.total_channels_;
    torch::Tensor rows = lw.weight.detach().reshape({layer.channels, layer.row_length})
                             .to(torch::kFloat32).clone();
    torch::Tensor sens = torch::zeros({layer.channels}, torch::kFloat64);
    auto it = sensitivity.find(layer.name);
    if (it != sensitivity.end()) {
      if (static_cast<int64_t>(it->second.size()) != layer.channels) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "sensitivity of '%s' has %d entries for %d channels", layer.name, it->second.size(),
            layer.channels));
      }
      sens = torch::tensor(it->second, torch::kFloat64);
    }
    torch::Tensor norm = rows.pow(2).sum(1).sqrt().clamp_min(1e-12).log();
    torch::Tensor err = (FakeQuantRows(rows, 3) - rows).pow(2).mean(1).clamp_min(1e-20).log();
    torch::Tensor hess =
        (torch::sign(sens) * torch::log1p(sens.abs() * 1e3)).to(torch::kFloat32);
    torch::Tensor len = torch::full({layer.channels},
                                    std::log(static_cast<double>(layer.row_length)));
    features.push_back(torch::stack(
        {Standardize(norm), Standardize(err), Standardize(hess), len}, 1));
    c.total_channels_ += layer.channels;
    c.total_elements_ += layer.channels * layer.row_length;
    c.rows_.push_back(rows);
    c.layers_.push_back(layer);
  }
  c.features_ = torch::cat(features, 0);
  // The row-length feature is standardized over all channels (it is constant
  // within a layer).
  torch::Tensor len = c.features_.select(1, 3);
  len.copy_(Standardize(len));
  std::vector<torch::Tensor> el;
  for (const ChordLayer& l : c.layers_) {
    el.push_back(torch::full({l.channels}, static_cast<double>(l.row_length)));
  }
  c.elements_ = torch::cat(el, 0).to(torch::kFloat32);
  return c;
}

int64_t ChannelCatalog::LayerIndex(const std::string& name) const {
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (layers_[i].name == name) return static_cast<int64_t>(i);
  }
  return -1;
}

std::vector<uint32_t> ChannelCatalog::RowLengths() const {
  std::vector<uint32_t> out;
  for (const ChordLayer& l : layers_) out.push_back(static_cast<uint32_t>(l.row_length));
  return out;
}

}  // namespace qfleet::ml::chord
