#ifndef QFLEET_COMMON_SEQREC_LEAVE_ONE_OUT_H_
#define QFLEET_COMMON_SEQREC_LEAVE_ONE_OUT_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "common/seqrec/interactions.h"

namespace qfleet::seqrec {

// Which held-out item an evaluation ranks.
enum class EvalStage { kValidation, kTest };

// Leave-one-out split of Interactions (the SASRec / Caser protocol).
//   A user with n >= 3 interactions: train[u] = the first n-2 items,
//   valid_target[u] = item n-1 (second to last), test_target[u] = item n (last).
//   A user with n < 3 interactions keeps all of them in train[u] and has
//   valid_target[u] = test_target[u] = 0: trained on, never evaluated.
struct LeaveOneOutSplit {
  int64_t num_users = 0;
  int64_t num_items = 0;
  std::vector<std::vector<int32_t>> train;  // per user, time order
  std::vector<int32_t> valid_target;        // per user, 0 = not evaluated
  std::vector<int32_t> test_target;         // per user, 0 = not evaluated

  // True when user u has held-out targets. u must be in range.
  bool Evaluated(int64_t u) const { return valid_target[u] != 0; }
  // Number of users with held-out targets. Thread-compatible.
  int64_t NumEvaluated() const;
};

// Splits `data` as described on LeaveOneOutSplit. InvalidArgument if `data`
// fails ValidateInteractions. Thread-safe.
absl::StatusOr<LeaveOneOutSplit> SplitLeaveOneOut(const Interactions& data);

// The history a model sees when it predicts user u's target at `stage`:
// train[u] for kValidation, train[u] + valid_target[u] for kTest (the
// validation item is known by test time). u must be in range.
std::vector<int32_t> EvalHistory(const LeaveOneOutSplit& split, int64_t u, EvalStage stage);

// The held-out item of user u at `stage` (0 if u is not evaluated).
int32_t EvalTarget(const LeaveOneOutSplit& split, int64_t u, EvalStage stage);

}  // namespace qfleet::seqrec

#endif  // QFLEET_COMMON_SEQREC_LEAVE_ONE_OUT_H_
