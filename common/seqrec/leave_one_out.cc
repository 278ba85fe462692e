#include "common/seqrec/leave_one_out.h"

namespace qfleet::seqrec {

int64_t LeaveOneOutSplit::NumEvaluated() const {
  int64_t n = 0;
  for (int32_t t : valid_target) n += t != 0;
  return n;
}

absl::StatusOr<LeaveOneOutSplit> SplitLeaveOneOut(const Interactions& data) {
  if (absl::Status s = ValidateInteractions(data); !s.ok()) return s;
  LeaveOneOutSplit split;
  split.num_users = data.num_users;
  split.num_items = data.num_items;
  split.train.resize(data.num_users);
  split.valid_target.assign(data.num_users, 0);
  split.test_target.assign(data.num_users, 0);
  for (int64_t u = 0; u < data.num_users; ++u) {
    const std::vector<int32_t>& seq = data.sequences[u];
    if (seq.size() < 3) {
      split.train[u] = seq;
      continue;
    }
    split.train[u].assign(seq.begin(), seq.end() - 2);
    split.valid_target[u] = seq[seq.size() - 2];
    split.test_target[u] = seq.back();
  }
  return split;
}

std::vector<int32_t> EvalHistory(const LeaveOneOutSplit& split, int64_t u, EvalStage stage) {
  std::vector<int32_t> history = split.train[u];
  if (stage == EvalStage::kTest && split.valid_target[u] != 0) {
    history.push_back(split.valid_target[u]);
  }
  return history;
}

int32_t EvalTarget(const LeaveOneOutSplit& split, int64_t u, EvalStage stage) {
  return stage == EvalStage::kValidation ? split.valid_target[u] : split.test_target[u];
}

}  // namespace qfleet::seqrec
