#include "cloud/chord/chord_trainer.h"

#include <chrono>
#include <cmath>

#include <torch/torch.h>

#include "absl/strings/str_format.h"
#include "common/seeded_random.h"
#include "common/status_macros.h"
#include "cloud/chord/tiering.h"
#include "ml/chord/user_weights.h"
#include "ml/seqrec/seqrec_batches.h"

namespace qfleet::ml::chord {
namespace {

absl::Status ValidateOptions(const ChordTrainOptions& o) {
  if (o.epochs < 1 || o.batch_users < 1 || !(o.learning_rate > 0) || !(o.temperature > 0) ||
      !(o.bits_penalty >= 0) || !(o.distill_weight >= 0) || o.max_users < 0 || o.max_steps < 0) {
    return absl::InvalidArgumentError(
        "chord training needs epochs, batch_users >= 1, learning_rate, temperature > 0, "
        "bits_penalty >= 0, max_users, max_steps >= 0");
  }
  for (int t = 0; t < 4; ++t) {
    if (o.tier_bits[t] < 0 || o.tier_bits[t] > 8 || (t > 0 && o.tier_bits[t] > o.tier_bits[t - 1])) {
      return absl::InvalidArgumentError("tier_bits must be non-increasing within 0..8");
    }
  }
  return absl::OkStatus();
}

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The frozen backbone's parameters, requires_grad off for the lifetime.
class FreezeGuard {
 public:
  explicit FreezeGuard(torch::nn::Module& m) {
    for (auto& p : m.parameters()) {
      saved_.push_back({p, p.requires_grad()});
      p.set_requires_grad(false);
    }
  }
  ~FreezeGuard() {
    for (auto& [p, r] : saved_) p.set_requires_grad(r);
  }

 private:
  std::vector<std::pair<torch::Tensor, bool>> saved_;
};

}  // namespace

torch::Tensor PadHistories(const std::vector<std::vector<int32_t>>& sequences, int64_t length) {
  torch::Tensor out = torch::zeros({static_cast<int64_t>(sequences.size()), length}, torch::kLong);
  auto a = out.accessor<int64_t, 2>();
  for (size_t i = 0; i < sequences.size(); ++i) {
    const auto& s = sequences[i];
    const int64_t n = std::min<int64_t>(length, static_cast<int64_t>(s.size()));
    for (int64_t j = 0; j < n; ++j) a[i][length - n + j] = s[s.size() - n + j];
  }
  return out;
}

torch::Tensor EncoderHistories(const ChordModel& chord, const seqrec::LeaveOneOutSplit& split,
                               absl::Span<const int32_t> users, seqrec::EvalStage stage) {
  std::vector<std::vector<int32_t>> seqs;
  seqs.reserve(users.size());
  for (int32_t u : users) seqs.push_back(seqrec::EvalHistory(split, u, stage));
  return PadHistories(seqs, chord.options().encoder.history);
}

absl::StatusOr<ChordTrainStats> TrainChord(ChordModel& chord, PersonalizedBackbone& backbone,
                                           const seqrec::LeaveOneOutSplit& split,
                                           const ChordTrainOptions& options) {
  RETURN_IF_ERROR(ValidateOptions(options));
  if (chord.options().hypernet.query_input) {
    return absl::FailedPreconditionError(
        "CHORD on the backbone's own query has nothing to train (its relevance is the FP32 score)");
  }
  const SeqRecConfig& config = backbone.model().config();
  if (config.num_items != split.num_items ||
      (config.backbone == Backbone::kCaser && config.num_users != split.num_users) ||
      chord.options().encoder.num_items != split.num_items) {
    return absl::InvalidArgumentError("split does not match the backbone / encoder sizes");
  }
  const ChannelCatalog& catalog = chord.catalog();
  ASSIGN_OR_RETURN(QuantTables tables,
                   QuantTables::Create(catalog, std::vector<int>(options.tier_bits.begin(),
                                                                 options.tier_bits.end())));
  ASSIGN_OR_RETURN(QuantTables fp_tables, QuantTables::Create(catalog, {32}));
  const bool sasrec = config.backbone == Backbone::kSasRec;
  std::vector<int32_t> users = SasRecTrainUsers(split);
  std::vector<std::vector<CaserInstance>> windows;  // Caser: per train user
  if (!sasrec) {
    std::vector<CaserInstance> all = CaserTrainInstances(split, config.window, config.targets);
    users.clear();
    for (const CaserInstance& in : all) {
      if (users.empty() || users.back() != in.user) {
        users.push_back(in.user);
        windows.emplace_back();
      }
      windows.back().push_back(in);
    }
  }
  if (users.empty()) return absl::InvalidArgumentError("no user to train on");
  SeededRandom rng(options.seed);
  if (options.max_users > 0 && static_cast<int64_t>(users.size()) > options.max_users) {
    std::vector<size_t> idx(users.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    rng.Shuffle(idx);
    idx.resize(options.max_users);
    std::sort(idx.begin(), idx.end());
    std::vector<int32_t> u2;
    std::vector<std::vector<CaserInstance>> w2;
    for (size_t i : idx) {
      u2.push_back(users[i]);
      if (!sasrec) w2.push_back(windows[i]);
    }
    users.swap(u2);
    windows.swap(w2);
  }
  TrainNegativeSampler sampler(split);
  FreezeGuard freeze(backbone.model());
  backbone.model().eval();
  std::vector<torch::Tensor> params = chord.encoder()->parameters();
  for (auto& p : chord.hypernet()->parameters()) params.push_back(p);
  torch::optim::Adam adam(params, torch::optim::AdamOptions(options.learning_rate));
  chord.encoder()->train();
  chord.hypernet()->train();
  const torch::Tensor elements = catalog.elements();
  const double total_elements = static_cast<double>(catalog.total_elements());
  torch::Tensor bits = torch::tensor(std::vector<float>(options.tier_bits.begin(), options.tier_bits.end()));
  const double budget = chord.options().budget_bits;
  const int64_t relevance_layer = chord.hypernet()->relevance_layer();
  const int64_t relevance_rows =
      relevance_layer >= 0 ? catalog.layers()[relevance_layer].channels : 0;
  // Relevance mode: the average bits of the hard tiers (fixed shares).
  double hard_bits = 0;
  for (int t = 0; t < 4; ++t) hard_bits += chord.fractions()[t] * options.tier_bits[t];

  ChordTrainStats stats;
  const auto run_start = std::chrono::steady_clock::now();
  std::vector<size_t> order(users.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  try {
    for (int epoch = 1; epoch <= options.epochs; ++epoch) {
      const auto start = std::chrono::steady_clock::now();
      rng.Shuffle(order);
      double sum_loss = 0, sum_task = 0, sum_bits = 0, sum_distill = 0;
      int64_t batches = 0;
      bool capped = false;
      for (size_t b0 = 0; b0 < order.size(); b0 += options.batch_users) {
        const size_t b1 = std::min(order.size(), b0 + static_cast<size_t>(options.batch_users));
        std::vector<int32_t> batch_users, prefix_users;
        std::vector<std::vector<int32_t>> prefixes;
        SeqRecTrainBatch batch;
        if (sasrec) {
          for (size_t i = b0; i < b1; ++i) {
            const int32_t u = users[order[i]];
            batch_users.push_back(u);
            const auto& t = split.train[u];
            prefixes.emplace_back(t.begin(), t.end() - 1);
            prefix_users.push_back(u);
          }
          batch = MakeSasRecBatch(split, batch_users, config.max_length, sampler, rng);
        } else {
          std::vector<CaserInstance> inst;
          for (size_t i = b0; i < b1; ++i) {
            const auto& w = windows[order[i]];
            const CaserInstance in = w[rng.UniformBelow(w.size())];
            inst.push_back(in);
            const auto& t = split.train[in.user];
            const int64_t end = std::max<int64_t>(0, in.end - config.targets);
            prefixes.emplace_back(t.begin(), t.begin() + end);
            prefix_users.push_back(in.user);
          }
          batch = MakeCaserBatch(split, inst, config.window, config.targets, config.negatives,
                                 sampler, rng);
        }
        torch::Tensor emb = chord.encoder()->forward(PadHistories(prefixes, chord.options().encoder.history));
        HypernetScores s = chord.hypernet()->forward(emb);
        // Relevance mode trains on its own loss; otherwise the paper's
        // objective (task + bit penalty + optional distillation).
        torch::Tensor loss, task, avg_bits, distill = torch::zeros({});
        if (relevance_rows > 0) {
          // Relevance mode: imitate the FP32 backbone's score of every row
          // of the relevance layer after the same prefix (1 - Pearson
          // correlation per user). The tiers follow the ranking alone.
          torch::Tensor target;
          {
            torch::NoGradGuard no_grad;
            const int64_t b = static_cast<int64_t>(prefixes.size());
            UserWeights fp = UserWeights::Hard(
                catalog, fp_tables, torch::zeros({b, catalog.total_channels()}, torch::kLong));
            torch::Tensor uid = torch::empty({b}, torch::kLong);
            for (int64_t i = 0; i < b; ++i) uid[i] = static_cast<int64_t>(prefix_users[i]);
            torch::Tensor cand = torch::arange(relevance_rows, torch::kLong).unsqueeze(0).expand({b, relevance_rows});
            target = backbone.Score(fp, PadHistories(prefixes, backbone.HistoryLength()), uid, cand);
          }
          // The norm is smoothed: a constant row (a user whose embedding is
          // still 0, e.g. an empty Caser window prefix at the start) has a
          // zero gradient instead of 0/0.
          auto centred = [](const torch::Tensor& x) {
            torch::Tensor c = x - x.mean(1, true);
            return c / (c.pow(2).sum(1, true) + 1e-12).sqrt();
          };
          loss = 1.0 - (centred(s.relevance) * centred(target)).sum(1).mean();
          task = loss;
          avg_bits = torch::full({1}, hard_bits, torch::kFloat64);
        } else {
          torch::Tensor probs = SoftTiers(s.log_score, elements, chord.fractions(), options.temperature);
          torch::Tensor mix = probs;
          if (options.straight_through) {
            torch::Tensor hard = torch::one_hot(AssignTiers(s.log_score, elements, chord.fractions()), 4)
                                     .to(torch::kFloat32);
            mix = hard + probs - probs.detach();
          }
          UserWeights weights = UserWeights::Soft(catalog, tables, mix);
          task = backbone.Loss(weights, batch).mean();
          if (options.distill_weight > 0) {
            torch::Tensor target;
            {
              torch::NoGradGuard no_grad;
              UserWeights fp = UserWeights::Hard(
                  catalog, fp_tables,
                  torch::zeros({mix.size(0), catalog.total_channels()}, torch::kLong));
              target = backbone.TargetLogits(fp, batch).first;
            }
            auto [z, mask] = backbone.TargetLogits(weights, batch);
            distill = ((z - target).pow(2) * mask).sum() / mask.sum().clamp_min(1.0);
          }
          torch::Tensor expected = torch::matmul(probs, bits);                    // [U, N]
          avg_bits = torch::matmul(expected, elements) / total_elements;  // [U]
          torch::Tensor penalty = options.bits_penalty * (avg_bits - budget).pow(2).mean();
          loss = task + penalty + options.distill_weight * distill;
        }
        const double lv = loss.item<double>();
        if (!std::isfinite(lv)) {
          return absl::InternalError(absl::StrFormat("chord loss became %g at step %d", lv, stats.steps));
        }
        adam.zero_grad();
        loss.backward();
        adam.step();
        ++stats.steps;
        ++batches;
        sum_loss += lv;
        sum_task += task.item<double>();
        sum_distill += distill.item<double>();
        sum_bits += avg_bits.mean().item<double>();
        if (options.max_steps > 0 && stats.steps >= options.max_steps) {
          capped = true;
          break;
        }
      }
      ChordEpochStats e;
      e.epoch = epoch;
      e.loss = sum_loss / std::max<int64_t>(1, batches);
      e.task_loss = sum_task / std::max<int64_t>(1, batches);
      e.expected_bits = sum_bits / std::max<int64_t>(1, batches);
      e.distill = sum_distill / std::max<int64_t>(1, batches);
      e.steps = stats.steps;
      e.seconds = Seconds(start);
      stats.epochs.push_back(e);
      if (options.on_epoch && !options.on_epoch(e)) break;
      if (capped) break;
    }
  } catch (const c10::Error& err) {
    return absl::InternalError(err.what_without_backtrace());
  }
  chord.encoder()->eval();
  chord.hypernet()->eval();
  stats.seconds = Seconds(run_start);
  return stats;
}

}  // namespace qfleet::ml::chord
