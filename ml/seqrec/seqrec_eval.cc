#include "ml/seqrec/seqrec_eval.h"

#include <algorithm>
#include <numeric>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ml/seqrec/seqrec_batches.h"

namespace qfleet::ml {
namespace {

absl::Status CheckSample(const SeqRecModel& model, const seqrec::LeaveOneOutSplit& split,
                         const seqrec::EvalSample& s, int64_t batch_size) {
  if (batch_size < 1) return absl::InvalidArgumentError("batch_size must be >= 1");
  const int64_t n = s.NumUsers();
  if (n == 0 || s.num_negatives < 1 || static_cast<int64_t>(s.targets.size()) != n ||
      static_cast<int64_t>(s.negatives.size()) != n * s.num_negatives) {
    return absl::InvalidArgumentError("malformed evaluation sample");
  }
  if (split.num_items != model.config().num_items) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "model has %d items, split has %d", model.config().num_items, split.num_items));
  }
  for (int64_t i = 0; i < n; ++i) {
    const int32_t u = s.users[i];
    if (u < 0 || u >= split.num_users || u >= static_cast<int64_t>(split.train.size()) ||
        (model.config().backbone == Backbone::kCaser && u >= model.config().num_users)) {
      return absl::InvalidArgumentError(absl::StrFormat("sample user %d out of range", u));
    }
    if (s.targets[i] < 1 || s.targets[i] > split.num_items) {
      return absl::InvalidArgumentError(
          absl::StrFormat("sample target %d of user %d out of range", s.targets[i], u));
    }
  }
  for (int32_t item : s.negatives) {
    if (item < 1 || item > split.num_items) {
      return absl::InvalidArgumentError(absl::StrFormat("sample negative %d out of range", item));
    }
  }
  return absl::OkStatus();
}

std::vector<double> RankAll(SeqRecModel& model, const seqrec::LeaveOneOutSplit& split,
                            const seqrec::EvalSample& s, int64_t batch_size) {
  const int64_t n = s.NumUsers(), k = s.num_negatives;
  // Users of similar history length share a batch, so SASRec skips most
  // padding columns; ranks are written back in sample order.
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return split.train[s.users[a]].size() < split.train[s.users[b]].size();
  });
  std::vector<double> ranks(n);
  std::vector<int32_t> users;
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    const int64_t b = std::min(batch_size, n - begin);
    users.clear();
    for (int64_t r = 0; r < b; ++r) users.push_back(s.users[order[begin + r]]);
    torch::Tensor histories = MakeEvalHistories(split, users, s.stage, model.HistoryLength());
    torch::Tensor user_ids = torch::empty({b}, torch::kLong);
    torch::Tensor candidates = torch::empty({b, k + 1}, torch::kLong);
    int64_t* up = user_ids.data_ptr<int64_t>();
    int64_t* cp = candidates.data_ptr<int64_t>();
    for (int64_t r = 0; r < b; ++r) {
      const int64_t i = order[begin + r];
      up[r] = users[r];
      cp[r * (k + 1)] = s.targets[i];
      const int32_t* neg = s.negatives.data() + i * k;
      for (int64_t j = 0; j < k; ++j) cp[r * (k + 1) + 1 + j] = neg[j];
    }
    torch::Tensor scores =
        model.Score(histories, user_ids, candidates).to(torch::kFloat32).contiguous();
    const float* sp = scores.data_ptr<float>();
    for (int64_t r = 0; r < b; ++r) {
      const float* row = sp + r * (k + 1);
      ranks[order[begin + r]] = seqrec::RankAmongNegatives(row[0], absl::MakeConstSpan(row + 1, k));
    }
  }
  return ranks;
}

}  // namespace

absl::StatusOr<std::vector<double>> RankSeqRec(SeqRecModel& model,
                                               const seqrec::LeaveOneOutSplit& split,
                                               const seqrec::EvalSample& sample,
                                               int64_t batch_size) {
  if (absl::Status s = CheckSample(model, split, sample, batch_size); !s.ok()) return s;
  const bool was_training = model.is_training();
  try {
    torch::NoGradGuard no_grad;
    model.eval();
    std::vector<double> ranks = RankAll(model, split, sample, batch_size);
    model.train(was_training);
    return ranks;
  } catch (const c10::Error& e) {
    model.train(was_training);
    return absl::InternalError(absl::StrCat("evaluation failed: ", e.what_without_backtrace()));
  }
}

absl::StatusOr<seqrec::RankingMetrics> EvaluateSeqRec(SeqRecModel& model,
                                                      const seqrec::LeaveOneOutSplit& split,
                                                      const seqrec::EvalSample& sample,
                                                      int64_t batch_size) {
  absl::StatusOr<std::vector<double>> ranks = RankSeqRec(model, split, sample, batch_size);
  if (!ranks.ok()) return ranks.status();
  return seqrec::AverageRankingMetrics(*ranks);
}

}  // namespace qfleet::ml
