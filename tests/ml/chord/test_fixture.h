#ifndef QFLEET_TESTS_ML_CHORD_TEST_FIXTURE_H_
#define QFLEET_TESTS_ML_CHORD_TEST_FIXTURE_H_

#include <memory>

#include "gtest/gtest.h"

#include "ml/chord/channel_catalog.h"
#include "tests/ml/seqrec/test_util.h"

namespace qfleet::ml::chord::testing {

// A tiny split and backbone: fast enough for sub-second tests.
inline seqrec::LeaveOneOutSplit TinySplit() {
  return ml::testing::SmallSplit(/*users=*/120, /*items=*/80, /*seed=*/5);
}

inline std::shared_ptr<SeqRecModel> TinyModel(Backbone backbone,
                                              const seqrec::LeaveOneOutSplit& split) {
  SeqRecConfig c = ml::testing::SmallConfig(backbone, split);
  c.hidden = 16;
  c.max_length = 12;
  c.num_blocks = 1;
  return MakeSeqRecModel(c, 3).value();
}

// The tiny backbone of GetParam() (eval mode) and its catalog.
class TinyBackboneTest : public ::testing::TestWithParam<Backbone> {
 protected:
  void SetUp() override {
    split_ = TinySplit();
    model_ = TinyModel(GetParam(), split_);
    model_->eval();
    catalog_ = std::make_unique<ChannelCatalog>(ChannelCatalog::Create(*model_).value());
  }
  seqrec::LeaveOneOutSplit split_;
  std::shared_ptr<SeqRecModel> model_;
  std::unique_ptr<ChannelCatalog> catalog_;
};

}  // namespace qfleet::ml::chord::testing

#endif  // QFLEET_TESTS_ML_CHORD_TEST_FIXTURE_H_
