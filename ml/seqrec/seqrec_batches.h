#ifndef QFLEET_ML_SEQREC_SEQREC_BATCHES_H_
#define QFLEET_ML_SEQREC_SEQREC_BATCHES_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "common/seeded_random.h"
#include "common/seqrec/leave_one_out.h"
#include "ml/seqrec/seqrec_model.h"

namespace qfleet::ml {

// Draws training negatives: items 1..num_items that are not in the user's
// training history. Holds a sorted copy of every user's distinct training
// items. Thread-compatible (Sample is const; the rng is the caller's).
class TrainNegativeSampler {
 public:
  explicit TrainNegativeSampler(const seqrec::LeaveOneOutSplit& split);

  // A uniform item outside train[user]. If the user has touched (nearly)
  // every item, gives up after 64 rejected draws and returns the last draw.
  int32_t Sample(int64_t user, SeededRandom& rng) const;

 private:
  int64_t num_items_;
  std::vector<std::vector<int32_t>> seen_;  // per user, sorted, unique
};

// Users SASRec trains on: those with at least 2 training items (one input,
// one target), ascending.
std::vector<int32_t> SasRecTrainUsers(const seqrec::LeaveOneOutSplit& split);

// SASRec batch for `users` (as in the authors' sampler): input = train[u]
// without its last item, right-aligned in max_length columns (older items
// cut, left-padded with 0); positives = the item following each input
// position; negatives = one TrainNegativeSampler draw per non-padding
// position (0 elsewhere). Layout on SeqRecTrainBatch.
SeqRecTrainBatch MakeSasRecBatch(const seqrec::LeaveOneOutSplit& split,
                                 absl::Span<const int32_t> users, int64_t max_length,
                                 const TrainNegativeSampler& sampler, SeededRandom& rng);

// One Caser training instance: the window of train[user] whose T targets end
// just before index `end` (exclusive): targets train[end-T .. end), inputs
// the L items before them; indices below 0 read as padding 0.
struct CaserInstance {
  int32_t user;
  int32_t end;
};

// Every sliding window (step 1) of every user's training items: a user with
// n >= L + T items gives n - L - T + 1 windows, one with 2 <= n < L + T a
// single left-padded window, one with n < 2 none. In user order.
std::vector<CaserInstance> CaserTrainInstances(const seqrec::LeaveOneOutSplit& split,
                                               int64_t window, int64_t targets);

// Caser batch for `instances`: histories [B, window], users [B], positives
// [B, targets] (0 = padding target), negatives [B, negatives] drawn with
// `sampler`.
SeqRecTrainBatch MakeCaserBatch(const seqrec::LeaveOneOutSplit& split,
                                absl::Span<const CaserInstance> instances, int64_t window,
                                int64_t targets, int64_t negatives,
                                const TrainNegativeSampler& sampler, SeededRandom& rng);

// Left-padded history matrix [users.size(), length] (int64) whose row i is
// the last `length` items of EvalHistory(split, users[i], stage).
torch::Tensor MakeEvalHistories(const seqrec::LeaveOneOutSplit& split,
                                absl::Span<const int32_t> users, seqrec::EvalStage stage,
                                int64_t length);

}  // namespace qfleet::ml

#endif  // QFLEET_ML_SEQREC_SEQREC_BATCHES_H_
