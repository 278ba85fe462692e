#include "ml/seqrec/seqrec_eval.h"

#include <cmath>

#include <torch/torch.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/status_matchers.h"
#include "tests/ml/seqrec/test_util.h"

namespace qfleet::ml {
namespace {

using ::testing::ElementsAre;

// Scores a candidate by minus its id: lower ids rank higher. Records the
// history rows it was shown.
class LowIdsFirst : public SeqRecModel {
 public:
  explicit LowIdsFirst(const SeqRecConfig& c) : SeqRecModel(c) {}
  torch::Tensor Score(const torch::Tensor& histories, const torch::Tensor& users,
                      const torch::Tensor& candidates) override {
    seen_training = is_training();
    last_histories = histories.clone();
    return -candidates.to(torch::kFloat32);
  }
  torch::Tensor Loss(const SeqRecTrainBatch&) override { return torch::zeros({}); }
  torch::Tensor Query(const torch::Tensor& histories, const torch::Tensor&) override {
    return torch::zeros({histories.size(0), 1});
  }
  std::vector<std::string> QueryTables() const override { return {}; }
  bool seen_training = true;
  torch::Tensor last_histories;
};

// Scores every candidate the same.
class Constant : public LowIdsFirst {
 public:
  using LowIdsFirst::LowIdsFirst;
  torch::Tensor Score(const torch::Tensor&, const torch::Tensor&,
                      const torch::Tensor& candidates) override {
    return torch::zeros(candidates.sizes(), torch::kFloat32);
  }
};

seqrec::LeaveOneOutSplit HandSplit() {
  seqrec::LeaveOneOutSplit s;
  s.num_users = 2;
  s.num_items = 10;
  s.train = {{10, 6}, {6}};
  s.valid_target = {4, 7};
  s.test_target = {5, 2};
  return s;
}

seqrec::EvalSample HandSample() {
  seqrec::EvalSample e;
  e.stage = seqrec::EvalStage::kTest;
  e.num_negatives = 3;
  e.users = {0, 1};
  e.targets = {5, 2};
  e.negatives = {1, 7, 9, 3, 4, 8};
  return e;
}

SeqRecConfig Config() {
  SeqRecConfig c = DefaultSeqRecConfig(Backbone::kSasRec);
  c.num_items = 10;
  c.max_length = 3;
  return c;
}

TEST(EvaluateSeqRecTest, HandWorkedRanksAndMetrics) {
  LowIdsFirst model(Config());
  model.train();
  ASSERT_OK_AND_ASSIGN(std::vector<double> ranks,
                       RankSeqRec(model, HandSplit(), HandSample(), /*batch_size=*/1));
  // User 0: target 5 vs {1, 7, 9}: only item 1 scores higher -> rank 1.
  // User 1: target 2 vs {3, 4, 8}: best -> rank 0.
  EXPECT_THAT(ranks, ElementsAre(1.0, 0.0));
  // Evaluated in eval mode, training mode restored afterwards. Batches go
  // by history length, so the last one-user batch is user 0, whose test
  // history includes the validation item.
  EXPECT_FALSE(model.seen_training);
  EXPECT_TRUE(model.is_training());
  EXPECT_TRUE(torch::equal(model.last_histories,
                           torch::tensor({10, 6, 4}, torch::kLong).reshape({1, 3})));
  ASSERT_OK_AND_ASSIGN(seqrec::RankingMetrics m, EvaluateSeqRec(model, HandSplit(), HandSample()));
  EXPECT_EQ(m.users, 2);
  EXPECT_DOUBLE_EQ(m.hr5, 1.0);
  EXPECT_DOUBLE_EQ(m.hr10, 1.0);
  EXPECT_NEAR(m.ndcg10, (1.0 / std::log2(3.0) + 1.0) / 2, 1e-12);
}

TEST(EvaluateSeqRecTest, BatchesSeeTheRightHistories) {
  LowIdsFirst model(Config());
  seqrec::EvalSample sample = HandSample();
  ASSERT_OK(RankSeqRec(model, HandSplit(), sample, /*batch_size=*/8));
  // Sorted by training length: user 1 (1 item) first, then user 0.
  EXPECT_TRUE(torch::equal(model.last_histories,
                           torch::tensor({0, 6, 7, 10, 6, 4}, torch::kLong).reshape({2, 3})));
  sample.stage = seqrec::EvalStage::kValidation;
  sample.targets = {4, 7};
  ASSERT_OK(RankSeqRec(model, HandSplit(), sample, 8));
  EXPECT_TRUE(torch::equal(model.last_histories,
                           torch::tensor({0, 0, 6, 0, 10, 6}, torch::kLong).reshape({2, 3})));
}

TEST(EvaluateSeqRecTest, ConstantModelRanksInTheMiddle) {
  Constant model(Config());
  ASSERT_OK_AND_ASSIGN(std::vector<double> ranks, RankSeqRec(model, HandSplit(), HandSample()));
  EXPECT_THAT(ranks, ElementsAre(1.5, 1.5));  // three ties count half
}

TEST(EvaluateSeqRecTest, RejectsMismatchedSamples) {
  LowIdsFirst model(Config());
  seqrec::EvalSample s = HandSample();
  s.negatives.pop_back();
  EXPECT_THAT(RankSeqRec(model, HandSplit(), s), StatusIs(absl::StatusCode::kInvalidArgument));
  s = HandSample();
  s.targets[0] = 11;
  EXPECT_THAT(RankSeqRec(model, HandSplit(), s), StatusIs(absl::StatusCode::kInvalidArgument));
  s = HandSample();
  s.negatives[0] = 0;
  EXPECT_THAT(RankSeqRec(model, HandSplit(), s), StatusIs(absl::StatusCode::kInvalidArgument));
  s = HandSample();
  s.users[1] = 2;
  EXPECT_THAT(RankSeqRec(model, HandSplit(), s), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(RankSeqRec(model, HandSplit(), HandSample(), 0),
              StatusIs(absl::StatusCode::kInvalidArgument));
  SeqRecConfig other = Config();
  other.num_items = 11;
  LowIdsFirst wrong(other);
  EXPECT_THAT(RankSeqRec(wrong, HandSplit(), HandSample()),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace qfleet::ml
