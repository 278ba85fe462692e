#include "device/seqrec_eval.h"

#include <algorithm>
#include <chrono>

#include <torch/torch.h>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "common/seqrec/ranking_metrics.h"
#include "common/status_macros.h"
#include "common/tensor_container.h"
#include "ml/chord/chord_device.h"
#include "ml/chord/user_encoder.h"
#include "ml/plan_apply.h"
#include "ml/seqrec/seqrec_model.h"

namespace qfleet::device {
namespace {

namespace ch = ml::chord;

// [1, length] int64: the last `length` items of `history`, left-padded.
torch::Tensor HistoryRow(const std::vector<int32_t>& history, int64_t length) {
  torch::Tensor row = torch::zeros({1, length}, torch::kLong);
  auto a = row.accessor<int64_t, 2>();
  const int64_t n = std::min<int64_t>(length, static_cast<int64_t>(history.size()));
  for (int64_t i = 0; i < n; ++i) a[0][length - n + i] = history[history.size() - n + i];
  return row;
}

}  // namespace

absl::Status ValidateSeqRecDeviceData(const SeqRecDeviceData& d) {
  if (d.history.empty()) return absl::InvalidArgumentError("recommendation device has no history");
  if (d.held_out < 1) return absl::InvalidArgumentError("held-out item must be an item id >= 1");
  if (d.negatives.empty()) return absl::InvalidArgumentError("recommendation device has no negatives");
  for (int32_t i : d.history) {
    if (i < 1) return absl::InvalidArgumentError("history holds an item id < 1");
  }
  for (int32_t i : d.negatives) {
    if (i < 1 || i == d.held_out) {
      return absl::InvalidArgumentError("negatives must be item ids >= 1 other than the held-out item");
    }
  }
  if (d.user < 0) return absl::InvalidArgumentError("user id must be >= 0");
  if (!(d.budget_bits == 0 || (d.budget_bits >= 1 && d.budget_bits <= 8))) {
    return absl::InvalidArgumentError(absl::StrFormat("budget %g bits not in [1, 8]", d.budget_bits));
  }
  return ml::ParseBackbone(d.backbone).status();
}

absl::StatusOr<SeqRecDeviceData> SeqRecDeviceDataFor(const seqrec::LeaveOneOutSplit& split,
                                                     const seqrec::EvalSample& sample,
                                                     int64_t user) {
  auto it = std::lower_bound(sample.users.begin(), sample.users.end(), static_cast<int32_t>(user));
  if (it == sample.users.end() || *it != user) {
    return absl::InvalidArgumentError(absl::StrFormat("user %d is not an evaluated user", user));
  }
  const int64_t i = it - sample.users.begin();
  SeqRecDeviceData d;
  d.user = user;
  d.history = seqrec::EvalHistory(split, user, sample.stage);
  d.held_out = sample.targets[i];
  d.negatives.assign(sample.negatives.begin() + i * sample.num_negatives,
                     sample.negatives.begin() + (i + 1) * sample.num_negatives);
  return d;
}

absl::StatusOr<std::map<std::string, double>> RunSeqRecEvalTask(FleetClient& client,
                                                                const DeviceTask& task,
                                                                const std::string& model_bytes,
                                                                const SeqRecDeviceData& data) {
  RETURN_IF_ERROR(ValidateSeqRecDeviceData(data));
  const std::string& method = task.eval_method;
  const bool rtn = method.size() == 4 && absl::StartsWith(method, "rtn") && method[3] >= '1' &&
                   method[3] <= '8';
  const bool planned = method == "static" || method == "chord-mean" || method == "chord";
  if (method != "fp32" && !rtn && !planned) {
    return absl::InvalidArgumentError("unknown eval method '" + method.substr(0, 64) + "'");
  }
  torch::NoGradGuard no_grad;
  ASSIGN_OR_RETURN(TensorContainer container, DecodeContainer(model_bytes));
  ASSIGN_OR_RETURN(const ml::Backbone kind, ml::ParseBackbone(data.backbone));
  ASSIGN_OR_RETURN(std::unique_ptr<ch::DeviceBundle> bundle,
                   ch::DeviceBundleFromContainer(container, ml::DefaultSeqRecConfig(kind)));
  const int64_t num_items = bundle->backbone->config().num_items;
  if (data.held_out > num_items ||
      *std::max_element(data.negatives.begin(), data.negatives.end()) > num_items ||
      *std::max_element(data.history.begin(), data.history.end()) > num_items) {
    return absl::InvalidArgumentError(
        absl::StrFormat("device items exceed the served model's %d items", num_items));
  }
  std::map<std::string, double> m;
  m["model_bytes"] = bundle->fp32_bytes;
  m["plan_bytes"] = 0;
  m["avg_bits"] = 32;

  // Widths per channel, then one quantization pass over the whole backbone;
  // apply_ms runs from the plan's arrival to the quantized model.
  auto t0 = std::chrono::steady_clock::now();
  ml::ChannelBitMap bits;
  if (rtn) {
    const int b = method[3] - '0';
    for (const ch::ChordLayer& l : bundle->catalog.layers()) bits[l.name] = {b};
    m["avg_bits"] = b;
  } else if (planned) {
    std::vector<float> embedding;
    if (method == "chord") {
      // Before any quantization: the encoder's output, or the FP32
      // backbone's own query.
      ASSIGN_OR_RETURN(torch::Tensor e,
                       ch::DeviceUserEmbeddings(*bundle, HistoryRow(data.history, bundle->EmbeddingHistory()),
                                                torch::full({1}, data.user, torch::kLong)));
      e = e.contiguous();
      embedding.assign(e.data_ptr<float>(), e.data_ptr<float>() + e.numel());
    }
    ASSIGN_OR_RETURN(DevicePlan plan, client.RequestPlan(method, embedding));
    const double budget = data.budget_bits > 0    ? data.budget_bits
                          : task.budget_bits > 0 ? task.budget_bits
                                                 : 3.0;
    ASSIGN_OR_RETURN(const BudgetDecodeOptions decode,
                     ch::WithTierImportance(data.decode, plan.tier_importance));
    t0 = std::chrono::steady_clock::now();
    // The backbone's window: the only rows of an input-only item table
    // (Caser's item_emb) that this device reads (KeepWindowRows).
    const torch::Tensor window = HistoryRow(data.history, bundle->backbone->HistoryLength());
    ASSIGN_OR_RETURN(ch::DecodedPlan decoded,
                     ch::DecodeDevicePlan(*bundle, plan.bytes, plan.tier_bits, budget, decode, data.user,
                                          absl::MakeConstSpan(window.data_ptr<int64_t>(),
                                                              static_cast<size_t>(window.numel()))));
    for (const ch::ChordLayer& l : bundle->catalog.layers()) {
      bits[l.name].assign(decoded.channel_bits.begin() + l.offset,
                          decoded.channel_bits.begin() + l.offset + l.channels);
    }
    m["avg_bits"] = decoded.avg_bits;
    m["low_bits"] = decoded.tier_bits[3];  // the width of the plan's lowest tier
    m["plan_bytes"] = static_cast<double>(plan.bytes.size());
    if (method == "chord") {
      m["plan_cached"] = plan.cached ? 1 : 0;
      if (!plan.cached) m["plan_gen_ms"] = plan.generation_us / 1e3;
    }
  }
  if (!bits.empty()) {
    RETURN_IF_ERROR(ml::ApplyChannelBits(*bundle->backbone, bits));
    m["apply_ms"] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }

  // Rank the held-out item against the negatives with the device's weights.
  const int64_t neg = static_cast<int64_t>(data.negatives.size());
  torch::Tensor cand = torch::empty({1, neg + 1}, torch::kLong);
  auto ca = cand.accessor<int64_t, 2>();
  ca[0][0] = data.held_out;
  for (int64_t j = 0; j < neg; ++j) ca[0][j + 1] = data.negatives[j];
  torch::Tensor users = torch::full({1}, data.user, torch::kLong);
  ASSIGN_OR_RETURN(torch::Tensor scores,
                   ml::ScoreSeqRec(*bundle->backbone,
                                       HistoryRow(data.history, bundle->backbone->HistoryLength()),
                                       users, cand));
  scores = scores.contiguous();
  const float* s = scores.data_ptr<float>();
  const double rank = seqrec::RankAmongNegatives(s[0], absl::Span<const float>(s + 1, neg));
  seqrec::AddRankMetrics(rank, m);
  return m;
}

}  // namespace qfleet::device
