#include "ml/seqrec/seqrec_batches.h"

#include <algorithm>

#include <torch/torch.h>

namespace qfleet::ml {

TrainNegativeSampler::TrainNegativeSampler(const seqrec::LeaveOneOutSplit& split)
    : num_items_(split.num_items), seen_(split.train) {
  for (auto& s : seen_) {
    std::sort(s.begin(), s.end());
    s.erase(std::unique(s.begin(), s.end()), s.end());
  }
}

int32_t TrainNegativeSampler::Sample(int64_t user, SeededRandom& rng) const {
  const std::vector<int32_t>& seen = seen_[user];
  int32_t item = 0;
  for (int tries = 0; tries < 64; ++tries) {
    item = static_cast<int32_t>(rng.UniformBelow(num_items_) + 1);
    if (!std::binary_search(seen.begin(), seen.end(), item)) break;
  }
  return item;
}

std::vector<int32_t> SasRecTrainUsers(const seqrec::LeaveOneOutSplit& split) {
  std::vector<int32_t> users;
  for (int64_t u = 0; u < split.num_users; ++u) {
    if (split.train[u].size() >= 2) users.push_back(static_cast<int32_t>(u));
  }
  return users;
}

SeqRecTrainBatch MakeSasRecBatch(const seqrec::LeaveOneOutSplit& split,
                                 absl::Span<const int32_t> users, int64_t max_length,
                                 const TrainNegativeSampler& sampler, SeededRandom& rng) {
  const int64_t b = static_cast<int64_t>(users.size());
  SeqRecTrainBatch batch;
  batch.histories = torch::zeros({b, max_length}, torch::kLong);
  batch.positives = torch::zeros({b, max_length}, torch::kLong);
  batch.negatives = torch::zeros({b, max_length}, torch::kLong);
  batch.users = torch::empty({b}, torch::kLong);
  int64_t* hist = batch.histories.data_ptr<int64_t>();
  int64_t* pos = batch.positives.data_ptr<int64_t>();
  int64_t* neg = batch.negatives.data_ptr<int64_t>();
  for (int64_t r = 0; r < b; ++r) {
    const int32_t u = users[r];
    batch.users.data_ptr<int64_t>()[r] = u;
    const std::vector<int32_t>& seq = split.train[u];
    // Walk backwards: column c holds seq[i], its target is seq[i + 1].
    int64_t c = max_length - 1;
    for (int64_t i = static_cast<int64_t>(seq.size()) - 2; i >= 0 && c >= 0; --i, --c) {
      hist[r * max_length + c] = seq[i];
      pos[r * max_length + c] = seq[i + 1];
      neg[r * max_length + c] = sampler.Sample(u, rng);
    }
  }
  return batch;
}

std::vector<CaserInstance> CaserTrainInstances(const seqrec::LeaveOneOutSplit& split,
                                               int64_t window, int64_t targets) {
  std::vector<CaserInstance> out;
  const int64_t span = window + targets;
  for (int64_t u = 0; u < split.num_users; ++u) {
    const int64_t n = static_cast<int64_t>(split.train[u].size());
    if (n < 2) continue;
    if (n < span) {
      out.push_back({static_cast<int32_t>(u), static_cast<int32_t>(n)});
      continue;
    }
    for (int64_t end = span; end <= n; ++end) {
      out.push_back({static_cast<int32_t>(u), static_cast<int32_t>(end)});
    }
  }
  return out;
}

SeqRecTrainBatch MakeCaserBatch(const seqrec::LeaveOneOutSplit& split,
                                absl::Span<const CaserInstance> instances, int64_t window,
                                int64_t targets, int64_t negatives,
                                const TrainNegativeSampler& sampler, SeededRandom& rng) {
  const int64_t b = static_cast<int64_t>(instances.size());
  SeqRecTrainBatch batch;
  batch.histories = torch::zeros({b, window}, torch::kLong);
  batch.positives = torch::zeros({b, targets}, torch::kLong);
  batch.negatives = torch::empty({b, negatives}, torch::kLong);
  batch.users = torch::empty({b}, torch::kLong);
  int64_t* hist = batch.histories.data_ptr<int64_t>();
  int64_t* pos = batch.positives.data_ptr<int64_t>();
  int64_t* neg = batch.negatives.data_ptr<int64_t>();
  int64_t* usr = batch.users.data_ptr<int64_t>();
  for (int64_t r = 0; r < b; ++r) {
    const CaserInstance& inst = instances[r];
    const std::vector<int32_t>& seq = split.train[inst.user];
    usr[r] = inst.user;
    const int64_t first_target = inst.end - targets;
    for (int64_t t = 0; t < targets; ++t) {
      const int64_t i = first_target + t;
      if (i >= 0) pos[r * targets + t] = seq[i];
    }
    for (int64_t c = 0; c < window; ++c) {
      const int64_t i = first_target - window + c;
      if (i >= 0) hist[r * window + c] = seq[i];
    }
    for (int64_t k = 0; k < negatives; ++k) neg[r * negatives + k] = sampler.Sample(inst.user, rng);
  }
  return batch;
}

torch::Tensor MakeEvalHistories(const seqrec::LeaveOneOutSplit& split,
                                absl::Span<const int32_t> users, seqrec::EvalStage stage,
                                int64_t length) {
  const int64_t b = static_cast<int64_t>(users.size());
  torch::Tensor out = torch::zeros({b, length}, torch::kLong);
  int64_t* p = out.data_ptr<int64_t>();
  for (int64_t r = 0; r < b; ++r) {
    const std::vector<int32_t> h = seqrec::EvalHistory(split, users[r], stage);
    const int64_t n = static_cast<int64_t>(h.size());
    const int64_t take = std::min(n, length);
    for (int64_t k = 0; k < take; ++k) p[r * length + length - take + k] = h[n - take + k];
  }
  return out;
}

}  // namespace qfleet::ml
