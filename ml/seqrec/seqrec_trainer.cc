#include "ml/seqrec/seqrec_trainer.h"

#include <chrono>
#include <cmath>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/seeded_random.h"
#include "ml/seqrec/seqrec_batches.h"

namespace qfleet::ml {
namespace {

absl::Status CheckArguments(const SeqRecModel& model, const seqrec::LeaveOneOutSplit& split,
                            const SeqRecTrainOptions& o) {
  if (o.epochs < 1 || o.batch_size < 1 || !(o.learning_rate > 0) ||
      !std::isfinite(o.learning_rate) || !(o.adam_beta1 >= 0 && o.adam_beta1 < 1) ||
      !(o.adam_beta2 >= 0 && o.adam_beta2 < 1) || !(o.weight_decay >= 0) || o.max_steps < 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "bad training options: epochs=%d batch=%d lr=%g betas=(%g,%g) l2=%g max_steps=%d",
        o.epochs, o.batch_size, o.learning_rate, o.adam_beta1, o.adam_beta2, o.weight_decay,
        o.max_steps));
  }
  if (static_cast<int64_t>(split.train.size()) != split.num_users) {
    return absl::InvalidArgumentError("split.train does not have one sequence per user");
  }
  const SeqRecConfig& c = model.config();
  if (c.num_items != split.num_items) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "model has %d items, data has %d", c.num_items, split.num_items));
  }
  if (c.backbone == Backbone::kCaser && c.num_users != split.num_users) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "Caser model has %d users, data has %d", c.num_users, split.num_users));
  }
  return absl::OkStatus();
}

// The training examples (SASRec users or Caser windows) and one epoch's
// batches over them, in a seeded order.
class BatchSource {
 public:
  BatchSource(const SeqRecModel& model, const seqrec::LeaveOneOutSplit& split)
      : config_(model.config()), split_(split), sampler_(split) {
    if (config_.backbone == Backbone::kSasRec) {
      users_ = SasRecTrainUsers(split);
    } else {
      windows_ = CaserTrainInstances(split, config_.window, config_.targets);
    }
  }
  size_t size() const {
    return config_.backbone == Backbone::kSasRec ? users_.size() : windows_.size();
  }
  // Shuffles the examples and cuts them into batches (see length_buckets).
  void NewEpoch(SeededRandom& rng, int64_t batch_size, int64_t length_buckets) {
    ranges_.clear();
    if (config_.backbone == Backbone::kCaser) {
      rng.Shuffle(windows_);
    } else {
      rng.Shuffle(users_);
      if (length_buckets > 0) {
        const size_t group = static_cast<size_t>(batch_size * length_buckets);
        for (size_t g = 0; g < users_.size(); g += group) {
          auto end = users_.begin() + std::min(users_.size(), g + group);
          std::stable_sort(users_.begin() + g, end, [&](int32_t a, int32_t b) {
            return split_.train[a].size() < split_.train[b].size();
          });
        }
      }
    }
    for (size_t begin = 0; begin < size(); begin += batch_size) {
      ranges_.push_back({begin, std::min<size_t>(batch_size, size() - begin)});
    }
    if (config_.backbone == Backbone::kSasRec && length_buckets > 0) rng.Shuffle(ranges_);
  }
  const std::vector<std::pair<size_t, size_t>>& batches() const { return ranges_; }
  SeqRecTrainBatch Make(std::pair<size_t, size_t> range, SeededRandom& rng) const {
    const auto [begin, n] = range;
    if (config_.backbone == Backbone::kSasRec) {
      return MakeSasRecBatch(split_, absl::MakeConstSpan(users_).subspan(begin, n),
                             config_.max_length, sampler_, rng);
    }
    return MakeCaserBatch(split_, absl::MakeConstSpan(windows_).subspan(begin, n), config_.window,
                          config_.targets, config_.negatives, sampler_, rng);
  }

 private:
  const SeqRecConfig& config_;
  const seqrec::LeaveOneOutSplit& split_;
  TrainNegativeSampler sampler_;
  std::vector<int32_t> users_;
  std::vector<CaserInstance> windows_;
  std::vector<std::pair<size_t, size_t>> ranges_;  // (begin, count) per batch
};

absl::StatusOr<SeqRecTrainStats> TrainLoop(SeqRecModel& model,
                                           const seqrec::LeaveOneOutSplit& split,
                                           const SeqRecTrainOptions& o) {
  BatchSource source(model, split);
  if (source.size() == 0) {
    return absl::InvalidArgumentError("no training examples (every user has < 2 training items)");
  }
  SeededRandom rng(o.seed);
  model.SeedDropout(o.seed ^ 0xD50F0A7ull);
  model.train();
  torch::optim::Adam opt(model.parameters(), torch::optim::AdamOptions(o.learning_rate)
                                                 .betas({o.adam_beta1, o.adam_beta2})
                                                 .weight_decay(o.weight_decay));
  const auto start = std::chrono::steady_clock::now();
  SeqRecTrainStats stats;
  for (int epoch = 1; epoch <= o.epochs && !stats.stopped_early; ++epoch) {
    const auto epoch_start = std::chrono::steady_clock::now();
    source.NewEpoch(rng, o.batch_size, o.length_buckets);
    double loss_sum = 0;
    int64_t batches = 0;
    for (const auto& range : source.batches()) {
      if (o.max_steps > 0 && stats.steps >= o.max_steps) {
        stats.stopped_early = true;
        break;
      }
      SeqRecTrainBatch batch = source.Make(range, rng);
      opt.zero_grad();
      torch::Tensor loss = model.Loss(batch);
      const double value = loss.item<double>();
      if (!std::isfinite(value)) {
        return absl::InternalError(
            absl::StrFormat("training loss became %g at step %d", value, stats.steps));
      }
      loss.backward();
      opt.step();
      loss_sum += value;
      ++batches;
      ++stats.steps;
    }
    if (batches == 0) break;
    SeqRecEpochStats e;
    e.epoch = epoch;
    e.loss = loss_sum / batches;
    e.steps = stats.steps;
    e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
    stats.epoch_loss.push_back(e.loss);
    if (o.on_epoch && !o.on_epoch(e)) stats.stopped_early = true;
    model.train();
  }
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

}  // namespace

SeqRecTrainOptions DefaultSeqRecTrainOptions(Backbone backbone) {
  SeqRecTrainOptions o;
  if (backbone == Backbone::kCaser) {
    o.batch_size = 512;
    o.adam_beta2 = 0.999;
    o.weight_decay = 1e-6;
  }
  return o;
}

absl::StatusOr<SeqRecTrainStats> TrainSeqRec(SeqRecModel& model,
                                             const seqrec::LeaveOneOutSplit& split,
                                             const SeqRecTrainOptions& options) {
  if (absl::Status s = CheckArguments(model, split, options); !s.ok()) return s;
  try {
    return TrainLoop(model, split, options);
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("training failed: ", e.what_without_backtrace()));
  }
}

}  // namespace qfleet::ml
