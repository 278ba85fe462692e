#include "ml/plan_apply.h"

#include <set>
#include <utility>

#include <torch/torch.h>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "ml/layer_weights.h"
#include "ml/model_io.h"

namespace qfleet::ml {

absl::Status ApplyChannelBits(torch::nn::Module& module, const ChannelBitMap& bits,
                              const QuantOptions& options) {
  // Quantize everything first; write only when every layer succeeded.
  std::vector<std::pair<torch::Tensor, torch::Tensor>> staged;
  std::set<std::string> seen;
  for (const auto& [name, widths] : bits) {
    ASSIGN_OR_RETURN(LayerWeight layer, FindLayer(module, name));
    if (!seen.insert(layer.param_name).second) {
      return absl::InvalidArgumentError(
          absl::StrFormat("layer '%s' is named twice in the bit map", layer.layer));
    }
    if (widths.size() != 1 && static_cast<int64_t>(widths.size()) != layer.channels) {
      return absl::InvalidArgumentError(
          absl::StrFormat("layer '%s': %d bit-widths for %d channels (need 1 or one per channel)",
                          layer.layer, widths.size(), layer.channels));
    }
    const Tensor fp32 = FromTorch(layer.param_name, layer.weight);
    ASSIGN_OR_RETURN(const Tensor fake, FakeQuantizePerChannel(fp32, widths, options));
    ASSIGN_OR_RETURN(torch::Tensor value, ToTorch(fake));
    staged.emplace_back(layer.weight, std::move(value));
  }
  torch::NoGradGuard no_grad;
  for (auto& [weight, value] : staged) weight.copy_(value);
  return absl::OkStatus();
}

absl::Status ApplyPlan(torch::nn::Module& module, const PrecisionPlan& plan,
                       const std::array<int, 4>& tier_to_bits, const QuantOptions& options) {
  RETURN_IF_ERROR(ValidatePlan(plan));
  for (size_t t = 0; t < tier_to_bits.size(); ++t) {
    if (tier_to_bits[t] < 1 || tier_to_bits[t] > 8) {
      return absl::InvalidArgumentError(
          absl::StrFormat("tier %d maps to %d bits, not in 1..8", t, tier_to_bits[t]));
    }
  }
  ChannelBitMap bits;
  size_t offset = 0;
  for (size_t l = 0; l < plan.layer_names.size(); ++l) {
    ASSIGN_OR_RETURN(LayerWeight layer, FindLayer(module, plan.layer_names[l]));
    if (static_cast<int64_t>(plan.channels[l]) != layer.channels) {
      return absl::InvalidArgumentError(
          absl::StrFormat("plan layer '%s' has %d channels, the model's has %d",
                          plan.layer_names[l], plan.channels[l], layer.channels));
    }
    std::vector<int>& widths = bits[plan.layer_names[l]];
    for (uint32_t c = 0; c < plan.channels[l]; ++c) widths.push_back(tier_to_bits[plan.codes[offset + c]]);
    offset += plan.channels[l];
  }
  return ApplyChannelBits(module, bits, options);
}

}  // namespace qfleet::ml
