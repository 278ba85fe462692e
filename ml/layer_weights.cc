#include "ml/layer_weights.h"

#include <torch/torch.h>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace qfleet::ml {

std::vector<LayerWeight> QuantizableLayers(const torch::nn::Module& module) {
  constexpr char kSuffix[] = ".weight";
  std::vector<LayerWeight> out;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    if (item.value().dim() < 2) continue;
    LayerWeight l;
    l.param_name = item.key();
    l.layer = l.param_name;
    if (absl::EndsWith(l.layer, kSuffix)) l.layer.resize(l.layer.size() - (sizeof(kSuffix) - 1));
    l.weight = item.value();
    l.channels = l.weight.size(0);
    out.push_back(std::move(l));
  }
  return out;
}

absl::StatusOr<LayerWeight> FindLayer(const torch::nn::Module& module, const std::string& name) {
  std::vector<LayerWeight> layers = QuantizableLayers(module);
  for (LayerWeight& l : layers) {
    if (l.layer == name || l.param_name == name) return std::move(l);
  }
  std::vector<std::string> known;
  for (const LayerWeight& l : layers) known.push_back(l.layer);
  return absl::InvalidArgumentError(absl::StrFormat("unknown layer '%s' (the model has: %s)", name,
                                                    absl::StrJoin(known, ", ")));
}

}  // namespace qfleet::ml
