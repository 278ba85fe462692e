#include "cloud/chord/static_allocation.h"

#include <algorithm>

#include <torch/torch.h>

#include "common/bit_allocator.h"
#include "common/seeded_random.h"
#include "common/status_macros.h"
#include "ml/chord/chord_device.h"
#include "ml/chord/quant_rows.h"
#include "ml/hessian_trace.h"
#include "ml/seqrec/seqrec_batches.h"

namespace qfleet::ml::chord {

absl::StatusOr<std::map<std::string, std::vector<double>>> BackboneSensitivity(
    SeqRecModel& model, const seqrec::LeaveOneOutSplit& split, int64_t batch_users,
    int num_samples, uint64_t seed) {
  if (batch_users < 1) return absl::InvalidArgumentError("batch_users must be >= 1");
  const SeqRecConfig& c = model.config();
  SeededRandom rng(seed);
  TrainNegativeSampler sampler(split);
  SeqRecTrainBatch batch;
  if (c.backbone == Backbone::kSasRec) {
    std::vector<int32_t> users = SasRecTrainUsers(split);
    if (users.empty()) return absl::InvalidArgumentError("no user to train on");
    rng.Shuffle(users);
    users.resize(std::min<size_t>(users.size(), batch_users));
    batch = MakeSasRecBatch(split, users, c.max_length, sampler, rng);
  } else {
    std::vector<CaserInstance> inst = CaserTrainInstances(split, c.window, c.targets);
    if (inst.empty()) return absl::InvalidArgumentError("no window to train on");
    rng.Shuffle(inst);
    inst.resize(std::min<size_t>(inst.size(), batch_users));
    batch = MakeCaserBatch(split, inst, c.window, c.targets, c.negatives, sampler, rng);
  }
  const bool was_training = model.is_training();
  model.eval();
  auto result = HessianTraceOfLoss(model, [&] { return model.Loss(batch); }, num_samples, seed);
  model.train(was_training);
  if (!result.ok()) return result.status();
  std::map<std::string, std::vector<double>> out;
  for (const LayerSensitivity& s : *result) out[s.name] = s.per_channel;
  return out;
}

absl::StatusOr<StaticSensitivity> ParseStaticSensitivity(const std::string& name) {
  if (name == "channel") return StaticSensitivity::kChannel;
  if (name == "layer") return StaticSensitivity::kLayer;
  return absl::InvalidArgumentError("static sensitivity '" + name.substr(0, 64) +
                                    "' is not channel or layer");
}

absl::StatusOr<std::vector<int>> StaticChannelBits(
    const ChannelCatalog& catalog, const std::map<std::string, std::vector<double>>& sensitivity,
    double budget_bits, const std::vector<int>& allowed_bits, int64_t window_rows,
    StaticSensitivity granularity) {
  for (int b : allowed_bits) {
    if (b < 1 || b > 8) return absl::InvalidArgumentError("allowed bits must lie in 1..8");
  }
  // Room for the rows a device keeps at the widest width (KeepOwnRow,
  // KeepWindowRows).
  ASSIGN_OR_RETURN(const int64_t kept, ElementsKeptOnTop(catalog, window_rows));
  if (kept > 0 && !allowed_bits.empty()) {
    const auto [lo, hi] = std::minmax_element(allowed_bits.begin(), allowed_bits.end());
    budget_bits -= static_cast<double>(*hi - *lo) * static_cast<double>(kept) /
                   static_cast<double>(catalog.total_elements());
  }
  std::vector<ChannelBitCost> costs;
  costs.reserve(catalog.total_channels());
  for (int64_t l = 0; l < catalog.num_layers(); ++l) {
    const ChordLayer& layer = catalog.layers()[l];
    const torch::Tensor& rows = catalog.rows(l);
    std::vector<torch::Tensor> errs;
    for (int b : allowed_bits) errs.push_back((FakeQuantRows(rows, b) - rows).pow(2).mean(1));
    torch::Tensor err = torch::stack(errs, 1).to(torch::kFloat64).contiguous();  // [C, W]
    auto e = err.accessor<double, 2>();
    auto it = sensitivity.find(layer.name);
    auto trace_of = [&](int64_t c) {
      return (it != sensitivity.end() && c < static_cast<int64_t>(it->second.size()))
                 ? std::max(it->second[c], 0.0)
                 : 0.0;
    };
    double layer_trace = 0;
    for (int64_t c = 0; c < layer.channels; ++c) layer_trace += trace_of(c);
    const double layer_sensitivity =
        layer_trace / static_cast<double>(std::max<int64_t>(layer.channels * layer.row_length, 1));
    for (int64_t c = 0; c < layer.channels; ++c) {
      ChannelBitCost cost;
      cost.elements = layer.row_length;
      cost.sensitivity = granularity == StaticSensitivity::kLayer
                             ? layer_sensitivity
                             : trace_of(c) / static_cast<double>(layer.row_length);
      for (size_t w = 0; w < allowed_bits.size(); ++w) cost.error.push_back(e[c][w]);
      costs.push_back(std::move(cost));
    }
  }
  BitAllocOptions options;
  options.allowed_bits = allowed_bits;
  options.average_bits = budget_bits;
  return AllocateBits(costs, options);
}

}  // namespace qfleet::ml::chord
