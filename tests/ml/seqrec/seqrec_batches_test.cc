#include "ml/seqrec/seqrec_batches.h"

#include <set>

#include <torch/torch.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/ml/seqrec/test_util.h"

namespace qfleet::ml {
namespace {

using ::testing::ElementsAre;

std::vector<int64_t> Flat(const torch::Tensor& t) {
  torch::Tensor c = t.contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

std::vector<int64_t> Row(const torch::Tensor& t, int64_t r) { return Flat(t[r]); }

seqrec::LeaveOneOutSplit HandSplit() {
  seqrec::LeaveOneOutSplit s;
  s.num_users = 3;
  s.num_items = 200;
  s.train = {{1, 2, 3, 4}, {5}, {10, 11, 12, 13, 14, 15, 16, 17, 18, 19}};
  s.valid_target = {6, 0, 20};
  s.test_target = {7, 0, 21};
  return s;
}

TEST(TrainNegativeSamplerTest, NeverReturnsTrainingItems) {
  seqrec::LeaveOneOutSplit s = HandSplit();
  TrainNegativeSampler sampler(s);
  SeededRandom rng(1);
  for (int i = 0; i < 2000; ++i) {
    const int32_t item = sampler.Sample(2, rng);
    EXPECT_GE(item, 1);
    EXPECT_LE(item, 200);
    EXPECT_TRUE(item < 10 || item > 19) << item;
  }
}

TEST(SasRecBatchTest, ShiftsTargetsAndRightAligns) {
  seqrec::LeaveOneOutSplit s = HandSplit();
  TrainNegativeSampler sampler(s);
  SeededRandom rng(1);
  EXPECT_THAT(SasRecTrainUsers(s), ElementsAre(0, 2));  // user 1 has one item
  const std::vector<int32_t> users = {0, 2};
  SeqRecTrainBatch b = MakeSasRecBatch(s, users, 6, sampler, rng);
  EXPECT_THAT(Row(b.histories, 0), ElementsAre(0, 0, 0, 1, 2, 3));
  EXPECT_THAT(Row(b.positives, 0), ElementsAre(0, 0, 0, 2, 3, 4));
  // Longer than max_length: the most recent items are kept.
  EXPECT_THAT(Row(b.histories, 1), ElementsAre(13, 14, 15, 16, 17, 18));
  EXPECT_THAT(Row(b.positives, 1), ElementsAre(14, 15, 16, 17, 18, 19));
  EXPECT_THAT(Flat(b.users), ElementsAre(0, 2));
  std::vector<int64_t> neg0 = Row(b.negatives, 0);
  for (int c = 0; c < 3; ++c) EXPECT_EQ(neg0[c], 0);
  for (int c = 3; c < 6; ++c) EXPECT_GT(neg0[c], 4);  // not in {1, 2, 3, 4}
}

TEST(CaserBatchTest, SlidingWindowsAndPadding) {
  seqrec::LeaveOneOutSplit s = HandSplit();
  // L = 3, T = 2: user 0 (4 items < 5) gives one padded window, user 2
  // (10 items) gives 10 - 5 + 1 = 6 windows, user 1 none.
  std::vector<CaserInstance> inst = CaserTrainInstances(s, 3, 2);
  ASSERT_EQ(inst.size(), 7u);
  EXPECT_EQ(inst[0].user, 0);
  EXPECT_EQ(inst[0].end, 4);
  EXPECT_EQ(inst[1].user, 2);
  EXPECT_EQ(inst[1].end, 5);
  EXPECT_EQ(inst[6].end, 10);
  TrainNegativeSampler sampler(s);
  SeededRandom rng(2);
  SeqRecTrainBatch b = MakeCaserBatch(s, {inst[0], inst[1], inst[6]}, 3, 2, 4, sampler, rng);
  EXPECT_THAT(Row(b.histories, 0), ElementsAre(0, 1, 2));
  EXPECT_THAT(Row(b.positives, 0), ElementsAre(3, 4));
  EXPECT_THAT(Row(b.histories, 1), ElementsAre(10, 11, 12));
  EXPECT_THAT(Row(b.positives, 1), ElementsAre(13, 14));
  EXPECT_THAT(Row(b.histories, 2), ElementsAre(15, 16, 17));
  EXPECT_THAT(Row(b.positives, 2), ElementsAre(18, 19));
  EXPECT_THAT(Flat(b.users), ElementsAre(0, 2, 2));
  EXPECT_EQ(b.negatives.sizes(), (std::vector<int64_t>{3, 4}));
  for (int64_t item : Row(b.negatives, 2)) EXPECT_TRUE(item < 10 || item > 19);
}

TEST(CaserBatchTest, VeryShortSequencesHavePaddingTargets) {
  seqrec::LeaveOneOutSplit s = HandSplit();
  s.train[0] = {1, 2};
  std::vector<CaserInstance> inst = CaserTrainInstances(s, 5, 3);
  TrainNegativeSampler sampler(s);
  SeededRandom rng(2);
  SeqRecTrainBatch b = MakeCaserBatch(s, {inst[0]}, 5, 3, 3, sampler, rng);
  EXPECT_THAT(Row(b.histories, 0), ElementsAre(0, 0, 0, 0, 0));
  EXPECT_THAT(Row(b.positives, 0), ElementsAre(0, 1, 2));
}

TEST(EvalHistoriesTest, AddsValidationItemAtTestStage) {
  seqrec::LeaveOneOutSplit s = HandSplit();
  const std::vector<int32_t> users = {0, 2};
  torch::Tensor v = MakeEvalHistories(s, users, seqrec::EvalStage::kValidation, 5);
  torch::Tensor t = MakeEvalHistories(s, users, seqrec::EvalStage::kTest, 5);
  EXPECT_THAT(Row(v, 0), ElementsAre(0, 1, 2, 3, 4));
  EXPECT_THAT(Row(t, 0), ElementsAre(1, 2, 3, 4, 6));
  EXPECT_THAT(Row(t, 1), ElementsAre(16, 17, 18, 19, 20));
}

}  // namespace
}  // namespace qfleet::ml
