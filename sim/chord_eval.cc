#include "sim/chord_eval.h"

#include <chrono>
#include <functional>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "ml/chord/chord_device.h"
#include "cloud/chord/chord_trainer.h"
#include "cloud/chord/tiering.h"
#include "ml/chord/user_weights.h"
#include "ml/model_io.h"
#include "ml/plan_apply.h"
#include "ml/seqrec/seqrec_batches.h"
#include "ml/seqrec/seqrec_factory.h"

namespace qfleet::ml::chord {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Bits [B, N] for the sample users [begin, end).
using BitsFn = std::function<absl::StatusOr<torch::Tensor>(int64_t begin, int64_t end)>;

struct MethodRun {
  std::vector<double> ranks;
  double avg_bits = 0;
  double seconds = 0;
};

absl::StatusOr<MethodRun> RankMethod(PersonalizedBackbone& backbone, const ChannelCatalog& catalog,
                                     const QuantTables& tables,
                                     const seqrec::LeaveOneOutSplit& split,
                                     const seqrec::EvalSample& sample, int64_t batch_users,
                                     const BitsFn& bits_for) {
  MethodRun run;
  const auto start = Clock::now();
  const int64_t n = sample.NumUsers(), neg = sample.num_negatives;
  const torch::Tensor elements = catalog.elements().to(torch::kFloat64);
  const double total = static_cast<double>(catalog.total_elements());
  double bits_sum = 0;
  torch::NoGradGuard no_grad;
  for (int64_t b0 = 0; b0 < n; b0 += batch_users) {
    const int64_t b1 = std::min(n, b0 + batch_users), b = b1 - b0;
    absl::Span<const int32_t> users(sample.users.data() + b0, b);
    torch::Tensor histories = MakeEvalHistories(split, users, sample.stage, backbone.HistoryLength());
    torch::Tensor cand = torch::empty({b, neg + 1}, torch::kLong);
    auto ca = cand.accessor<int64_t, 2>();
    for (int64_t i = 0; i < b; ++i) {
      ca[i][0] = sample.targets[b0 + i];
      for (int64_t j = 0; j < neg; ++j) ca[i][j + 1] = sample.negatives[(b0 + i) * neg + j];
    }
    torch::Tensor uid = torch::empty({b}, torch::kLong);
    for (int64_t i = 0; i < b; ++i) uid[i] = static_cast<int64_t>(users[i]);
    ASSIGN_OR_RETURN(torch::Tensor bits, bits_for(b0, b1));
    bits_sum += torch::matmul(bits.to(torch::kFloat64).clamp_max(32), elements).sum().item<double>() / total;
    ASSIGN_OR_RETURN(torch::Tensor index, WidthIndexForBits(tables, bits));
    UserWeights w = UserWeights::Hard(catalog, tables, index);
    torch::Tensor scores = backbone.Score(w, histories, uid, cand).contiguous();
    auto sa = scores.accessor<float, 2>();
    for (int64_t i = 0; i < b; ++i) {
      std::vector<float> negs(neg);
      for (int64_t j = 0; j < neg; ++j) negs[j] = sa[i][j + 1];
      run.ranks.push_back(seqrec::RankAmongNegatives(sa[i][0], negs));
    }
  }
  run.avg_bits = n > 0 ? bits_sum / n : 0;
  run.seconds = Seconds(start);
  return run;
}

// Per-channel bits [B, N] of plans `codes` [B, N] decoded per device.
absl::StatusOr<torch::Tensor> DecodeCodes(const ChannelCatalog& catalog, const torch::Tensor& codes,
                                          const ChordEvalOptions& options) {
  torch::Tensor tier_bits = torch::empty({codes.size(0), 4}, torch::kLong);
  const std::vector<uint32_t> row_lengths = catalog.RowLengths();
  for (int64_t u = 0; u < codes.size(0); ++u) {
    ASSIGN_OR_RETURN(PrecisionPlan plan, PlanFromCodes(catalog, codes[u], 0));
    ASSIGN_OR_RETURN(BudgetDecision d,
                     DecodeForBudget(plan, row_lengths, options.budget_bits, options.decode));
    for (int t = 0; t < 4; ++t) tier_bits[u][t] = d.tier_bits[t];
  }
  return tier_bits.gather(1, codes);
}

}  // namespace

absl::StatusOr<std::vector<ChordMethodResult>> EvaluateChordMethods(
    ChordModel& chord, PersonalizedBackbone& backbone, const seqrec::LeaveOneOutSplit& split,
    const seqrec::EvalSample& sample, const ChordEvalOptions& options) {
  const ChannelCatalog& catalog = chord.catalog();
  const int64_t n_channels = catalog.total_channels();
  if (options.batch_users < 1 || options.timing_devices < 0) {
    return absl::InvalidArgumentError("batch_users must be >= 1, timing_devices >= 0");
  }
  if (sample.NumUsers() == 0) return absl::InvalidArgumentError("empty evaluation sample");
  if (!options.static_bits.empty() && static_cast<int64_t>(options.static_bits.size()) != n_channels) {
    return absl::InvalidArgumentError("static_bits needs one width per channel");
  }
  try {
    std::vector<int> widths = {32};
    for (int b = 0; b <= 8; ++b) widths.push_back(b);
    ASSIGN_OR_RETURN(QuantTables tables, QuantTables::Create(catalog, widths));
    int64_t model_bytes = 0;
    for (const auto& p : backbone.model().parameters()) model_bytes += 4 * p.numel();
    backbone.model().eval();
    chord.encoder()->eval();
    chord.hypernet()->eval();

    std::vector<ChordMethodResult> results;
    results.reserve(8 + options.rtn_bits.size());  // `add` hands out pointers
    auto add = [&](const std::string& name, const BitsFn& fn) -> absl::StatusOr<ChordMethodResult*> {
      ASSIGN_OR_RETURN(MethodRun run, RankMethod(backbone, catalog, tables, split, sample,
                                                 options.batch_users, fn));
      ChordMethodResult r;
      r.name = name;
      r.avg_bits = run.avg_bits;
      r.metrics = seqrec::AverageRankingMetrics(run.ranks);
      r.model_bytes = model_bytes;
      r.eval_seconds = run.seconds;
      r.ranks = std::move(run.ranks);
      results.push_back(std::move(r));
      return &results.back();
    };
    // The evaluated users b0..b1: each keeps its own row of a per-user
    // table at tier 0, as its device does (KeepOwnRow).
    auto Users = [&sample](int64_t b0, int64_t b1) {
      return absl::Span<const int32_t>(sample.users.data() + b0, static_cast<size_t>(b1 - b0));
    };
    // Their windows (the rows of the input-only item table they read), or
    // nothing without the window rule.
    auto KeepWindows = [&](torch::Tensor& codes, int64_t b0, int64_t b1, int64_t top) -> absl::Status {
      if (!options.keep_window) return absl::OkStatus();
      torch::Tensor windows =
          MakeEvalHistories(split, Users(b0, b1), sample.stage, backbone.HistoryLength());
      return KeepWindowRows(catalog, codes, windows, top);
    };
    auto uniform = [&](int bits) -> BitsFn {
      return [bits, n_channels](int64_t b0, int64_t b1) -> absl::StatusOr<torch::Tensor> {
        return torch::full({b1 - b0, n_channels}, bits, torch::kLong);
      };
    };
    RETURN_IF_ERROR(add("fp32", uniform(32)).status());
    for (int b : options.rtn_bits) RETURN_IF_ERROR(add(absl::StrCat("rtn", b), uniform(b)).status());

    // A plan's size on the wire (the same for every plan over this catalog).
    ASSIGN_OR_RETURN(PrecisionPlan probe,
                     PlanFromCodes(catalog, torch::zeros({n_channels}, torch::kLong), 0));
    ASSIGN_OR_RETURN(std::string probe_bytes, EncodePlan(probe));
    const int64_t plan_bytes = static_cast<int64_t>(probe_bytes.size());

    if (!options.static_bits.empty()) {
      torch::Tensor row = torch::tensor(std::vector<int64_t>(options.static_bits.begin(),
                                                             options.static_bits.end()));
      // The static plan's tier 0 is its widest width.
      const int64_t top = row.max().item<int64_t>();
      ASSIGN_OR_RETURN(ChordMethodResult * r,
                       add("static", [&](int64_t b0, int64_t b1) -> absl::StatusOr<torch::Tensor> {
                         torch::Tensor bits = row.unsqueeze(0).expand({b1 - b0, n_channels}).clone();
                         RETURN_IF_ERROR(KeepOwnRows(catalog, bits, Users(b0, b1), top));
                         RETURN_IF_ERROR(KeepWindows(bits, b0, b1, top));
                         return bits;
                       }));
      r->plan_bytes = plan_bytes;  // four widths fit the same 2-bit codes
    }

    // chord-mean: one plan from the mean embedding.
    ASSIGN_OR_RETURN(torch::Tensor mean_emb,
                     MeanUserEmbedding(chord, backbone.model(), split, seqrec::EvalStage::kValidation));
    ASSIGN_OR_RETURN(torch::Tensor mean_codes, chord.GenerateCodes(mean_emb));
    // One plan for every user: decoded once unless each device moves its
    // own row of a per-user table first.
    torch::Tensor mean_bits;
    if (catalog.LayerIndex(kPerUserLayer) < 0) {
      ASSIGN_OR_RETURN(mean_bits, DecodeCodes(catalog, mean_codes, options));
    }
    ASSIGN_OR_RETURN(ChordMethodResult * rm,
                     add("chord-mean", [&](int64_t b0, int64_t b1) -> absl::StatusOr<torch::Tensor> {
                       if (mean_bits.defined()) return mean_bits.expand({b1 - b0, n_channels});
                       torch::Tensor codes = mean_codes.expand({b1 - b0, n_channels}).clone();
                       RETURN_IF_ERROR(KeepOwnRows(catalog, codes, Users(b0, b1)));
                       RETURN_IF_ERROR(KeepWindows(codes, b0, b1, 0));
                       return DecodeCodes(catalog, codes, options);
                     }));
    rm->plan_bytes = plan_bytes;

    // chord: the device encodes, the cloud generates plans in one batch.
    const auto enc_start = Clock::now();
    ASSIGN_OR_RETURN(torch::Tensor emb,
                     UserEmbeddings(chord, backbone.model(), split, sample.users, sample.stage));
    const double encode_s = Seconds(enc_start);
    const auto plan_start = Clock::now();
    ASSIGN_OR_RETURN(std::vector<PrecisionPlan> plans, chord.GeneratePlans(emb, options.plan_version));
    std::vector<std::string> wire;
    wire.reserve(plans.size());
    for (const PrecisionPlan& p : plans) {
      ASSIGN_OR_RETURN(std::string bytes, EncodePlan(p));
      wire.push_back(std::move(bytes));
    }
    const double plan_s = Seconds(plan_start);
    torch::Tensor codes = torch::empty({static_cast<int64_t>(plans.size()), n_channels}, torch::kLong);
    for (size_t u = 0; u < plans.size(); ++u) {
      codes[u].copy_(torch::tensor(std::vector<int64_t>(plans[u].codes.begin(), plans[u].codes.end())));
    }
    ASSIGN_OR_RETURN(ChordMethodResult * rc,
                     add("chord", [&](int64_t b0, int64_t b1) -> absl::StatusOr<torch::Tensor> {
                       torch::Tensor mine = codes.slice(0, b0, b1).clone();
                       RETURN_IF_ERROR(KeepOwnRows(catalog, mine, Users(b0, b1)));
                       RETURN_IF_ERROR(KeepWindows(mine, b0, b1, 0));
                       return DecodeCodes(catalog, mine, options);
                     }));
    rc->plan_bytes = static_cast<int64_t>(wire.front().size());
    rc->tier_diff_vs_mean =
        torch::matmul(codes.ne(mean_codes).to(torch::kFloat64), catalog.elements().to(torch::kFloat64))
            .mean()
            .item<double>() /
        static_cast<double>(catalog.total_elements());
    rc->plan_ms_per_device = 1e3 * plan_s / static_cast<double>(plans.size());
    rc->encode_ms_per_device = 1e3 * encode_s / static_cast<double>(plans.size());

    if (options.oracle_relevance) {
      HypernetOptions ho = chord.hypernet()->options();
      if (ho.relevance_layer.empty()) ho.relevance_layer = "item_emb";
      ASSIGN_OR_RETURN(const RelevanceLayout layout, RelevanceLayout::Create(catalog, ho));
      const int64_t items = layout.rows();
      ASSIGN_OR_RETURN(torch::Tensor fp32_index,
                       WidthIndexForBits(tables, torch::full({1, n_channels}, 32, torch::kLong)));
      ASSIGN_OR_RETURN(
          ChordMethodResult * ro,
          add("oracle-relevance", [&](int64_t b0, int64_t b1) -> absl::StatusOr<torch::Tensor> {
            const int64_t b = b1 - b0;
            absl::Span<const int32_t> users(sample.users.data() + b0, b);
            torch::Tensor histories =
                MakeEvalHistories(split, users, sample.stage, backbone.HistoryLength());
            torch::Tensor uid = torch::empty({b}, torch::kLong);
            for (int64_t i = 0; i < b; ++i) uid[i] = static_cast<int64_t>(users[i]);
            torch::Tensor cand = torch::arange(items, torch::kLong).unsqueeze(0).expand({b, items});
            UserWeights fp32 = UserWeights::Hard(catalog, tables, fp32_index.expand({b, n_channels}));
            torch::Tensor relevance = backbone.Score(fp32, histories, uid, cand).to(torch::kFloat32);
            torch::Tensor codes = AssignTiers(layout.RankKey(relevance), catalog.elements(), chord.fractions());
            RETURN_IF_ERROR(KeepOwnRows(catalog, codes, users));
            RETURN_IF_ERROR(KeepWindows(codes, b0, b1, 0));
            return DecodeCodes(catalog, codes, options);
          }));
      ro->plan_bytes = plan_bytes;
    }

    // The device path on a full copy of the backbone, for a few devices.
    const int64_t timed = std::min<int64_t>(options.timing_devices, static_cast<int64_t>(wire.size()));
    if (timed > 0) {
      const TensorContainer fp = ModuleToContainer(backbone.model());
      ASSIGN_OR_RETURN(std::shared_ptr<SeqRecModel> copy,
                       SeqRecModelFromContainer(fp, backbone.model().config()));
      const std::vector<uint32_t> row_lengths = catalog.RowLengths();
      double apply_s = 0;
      for (int64_t u = 0; u < timed; ++u) {
        RETURN_IF_ERROR(LoadContainer(fp, *copy));
        const auto start = Clock::now();
        ASSIGN_OR_RETURN(PrecisionPlan plan, DecodePlan(wire[u]));
        ASSIGN_OR_RETURN(BudgetDecision d,
                         DecodeForBudget(plan, row_lengths, options.budget_bits, options.decode));
        RETURN_IF_ERROR(ApplyPlan(*copy, plan, d.tier_bits));
        apply_s += Seconds(start);
      }
      rc->apply_ms_per_device = 1e3 * apply_s / static_cast<double>(timed);
      rm->apply_ms_per_device = rc->apply_ms_per_device;
    }
    return results;
  } catch (const c10::Error& e) {
    return absl::InternalError(e.what_without_backtrace());
  }
}

}  // namespace qfleet::ml::chord
