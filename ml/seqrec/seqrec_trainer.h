#ifndef QFLEET_ML_SEQREC_SEQREC_TRAINER_H_
#define QFLEET_ML_SEQREC_SEQREC_TRAINER_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "common/seqrec/leave_one_out.h"
#include "ml/seqrec/seqrec_model.h"

namespace qfleet::ml {

// Progress after one epoch.
struct SeqRecEpochStats {
  int epoch = 0;         // 1-based
  double loss = 0;       // mean batch loss over the epoch
  int64_t steps = 0;     // optimizer steps so far, all epochs
  double seconds = 0;    // wall time of this epoch
};

struct SeqRecTrainOptions {
  int epochs = 20;
  int64_t batch_size = 128;     // SASRec 128 users; Caser 512 windows
  double learning_rate = 1e-3;  // Adam
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.98;     // SASRec's 0.98; Caser uses 0.999
  double weight_decay = 0.0;    // L2 added to every gradient (Adam weight_decay)
  int64_t max_steps = 0;        // stop after this many steps in all (0 = no cap)
  // SASRec only. 0: the published sampler's uniform batches. k > 0: each
  // epoch's shuffled users are cut into groups of k * batch_size, each group
  // is sorted by training length and cut into batches, and the batch order
  // is shuffled. Every user is still seen once per epoch, but batches hold
  // users of similar length, so far fewer padding columns are computed on
  // skewed data (SasRec::Encode skips all-padding columns).
  int64_t length_buckets = 0;
  uint64_t seed = 1;            // user/window order, negatives and dropout masks
  // Called after every epoch; returning false stops training early. The
  // model is in training mode; the callback may evaluate it (EvaluateSeqRec
  // restores the mode). May be empty.
  std::function<bool(const SeqRecEpochStats&)> on_epoch;
};

// The published training defaults for `backbone` (SASRec: batch 128, Adam
// 1e-3, beta2 0.98, no L2; Caser: batch 512, Adam 1e-3, beta2 0.999, L2 1e-6).
SeqRecTrainOptions DefaultSeqRecTrainOptions(Backbone backbone);

struct SeqRecTrainStats {
  std::vector<double> epoch_loss;  // one per finished epoch
  int64_t steps = 0;
  double seconds = 0;
  bool stopped_early = false;  // by on_epoch or max_steps
};

// Trains `model` on split.train: SASRec on one sequence per user per epoch
// (users with >= 2 training items, shuffled), Caser on every sliding window
// (shuffled); negatives from TrainNegativeSampler; Adam. Deterministic for
// a fixed seed and torch thread count (draws only from its own generators).
// InvalidArgument if the options are out of range, the model's num_items
// (or Caser's num_users) differs from the split's, or there is nothing to
// train on; Internal if the loss becomes non-finite or LibTorch throws.
// Not thread-safe for the same model.
absl::StatusOr<SeqRecTrainStats> TrainSeqRec(SeqRecModel& model,
                                             const seqrec::LeaveOneOutSplit& split,
                                             const SeqRecTrainOptions& options);

}  // namespace qfleet::ml

#endif  // QFLEET_ML_SEQREC_SEQREC_TRAINER_H_
