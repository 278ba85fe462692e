#ifndef QFLEET_ML_SEQREC_SEQREC_EVAL_H_
#define QFLEET_ML_SEQREC_SEQREC_EVAL_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "common/seqrec/eval_sampler.h"
#include "common/seqrec/leave_one_out.h"
#include "common/seqrec/ranking_metrics.h"
#include "ml/seqrec/seqrec_model.h"

namespace qfleet::ml {

// Ranks of each sampled user's held-out item: for sample.users[i], the model
// scores [target, its num_negatives negatives] given EvalHistory(split, user,
// sample.stage) and the result is seqrec::RankAmongNegatives (0 = best,
// ties half). Runs in eval mode without gradient, `batch_size` users at a
// time, and restores the model's train/eval mode. InvalidArgument if the
// sample does not fit the split or the model (ids out of range, sizes), or
// batch_size < 1; Internal if LibTorch throws. Not thread-safe per model.
absl::StatusOr<std::vector<double>> RankSeqRec(SeqRecModel& model,
                                               const seqrec::LeaveOneOutSplit& split,
                                               const seqrec::EvalSample& sample,
                                               int64_t batch_size = 1024);

// HR@5/10 and NDCG@5/10 averaged over the sample's users (RankSeqRec, then
// seqrec::AverageRankingMetrics). Same failures as RankSeqRec.
absl::StatusOr<seqrec::RankingMetrics> EvaluateSeqRec(SeqRecModel& model,
                                                      const seqrec::LeaveOneOutSplit& split,
                                                      const seqrec::EvalSample& sample,
                                                      int64_t batch_size = 1024);

}  // namespace qfleet::ml

#endif  // QFLEET_ML_SEQREC_SEQREC_EVAL_H_
