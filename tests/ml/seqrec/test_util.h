#ifndef QFLEET_TESTS_ML_SEQREC_TEST_UTIL_H_
#define QFLEET_TESTS_ML_SEQREC_TEST_UTIL_H_

#include <memory>

#include "common/seqrec/leave_one_out.h"
#include "common/seqrec/synthetic.h"
#include "ml/seqrec/seqrec_factory.h"
#include "ml/seqrec/seqrec_model.h"

namespace qfleet::ml::testing {

// A small synthetic data set with strong sequential structure, split
// leave-one-out: quick to train on, far from random when learned.
inline seqrec::LeaveOneOutSplit SmallSplit(int64_t users = 400, int64_t items = 300,
                                           uint64_t seed = 3) {
  seqrec::SyntheticOptions o;
  o.num_users = users;
  o.num_items = items;
  o.clusters = 10;
  o.mean_length = 10;
  o.markov_prob = 0.8;
  o.successors = 2;
  o.seed = seed;
  return seqrec::SplitLeaveOneOut(seqrec::GenerateSynthetic(o).value()).value();
}

// A small config of `backbone` sized for `split`.
inline SeqRecConfig SmallConfig(Backbone backbone, const seqrec::LeaveOneOutSplit& split) {
  SeqRecConfig c = DefaultSeqRecConfig(backbone);
  c.num_items = split.num_items;
  c.num_users = split.num_users;
  c.hidden = 32;
  c.max_length = 20;
  c.dropout = 0.2;
  return c;
}

inline std::shared_ptr<SeqRecModel> SmallModel(Backbone backbone,
                                               const seqrec::LeaveOneOutSplit& split,
                                               uint64_t seed = 1) {
  return MakeSeqRecModel(SmallConfig(backbone, split), seed).value();
}

}  // namespace qfleet::ml::testing

#endif  // QFLEET_TESTS_ML_SEQREC_TEST_UTIL_H_
