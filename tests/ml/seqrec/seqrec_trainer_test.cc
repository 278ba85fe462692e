#include "ml/seqrec/seqrec_trainer.h"

#include <torch/torch.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/seqrec/eval_sampler.h"
#include "common/status_matchers.h"
#include "ml/model_io.h"
#include "ml/seqrec/seqrec_batches.h"
#include "ml/seqrec/seqrec_eval.h"
#include "tests/ml/seqrec/test_util.h"

namespace qfleet::ml {
namespace {

using ::testing::HasSubstr;
using testing::SmallConfig;
using testing::SmallModel;
using testing::SmallSplit;

SeqRecTrainOptions SmallTrainOptions(Backbone backbone, int epochs) {
  SeqRecTrainOptions o = DefaultSeqRecTrainOptions(backbone);
  o.epochs = epochs;
  o.batch_size = backbone == Backbone::kSasRec ? 64 : 128;
  o.learning_rate = 5e-3;
  o.seed = 11;
  return o;
}

class TrainerTest : public ::testing::TestWithParam<Backbone> {
 protected:
  void SetUp() override { torch::set_num_threads(1); }
};

TEST_P(TrainerTest, ReducesLossAndBeatsRandomRanking) {
  seqrec::LeaveOneOutSplit split = SmallSplit();
  auto model = SmallModel(GetParam(), split);
  ASSERT_OK_AND_ASSIGN(seqrec::EvalSample sample,
                       seqrec::BuildEvalSample(split, seqrec::EvalStage::kTest, {}));
  ASSERT_OK_AND_ASSIGN(seqrec::RankingMetrics before, EvaluateSeqRec(*model, split, sample));
  std::vector<int> epochs_seen;
  SeqRecTrainOptions o = SmallTrainOptions(GetParam(), 6);
  o.on_epoch = [&](const SeqRecEpochStats& e) {
    epochs_seen.push_back(e.epoch);
    return true;
  };
  ASSERT_OK_AND_ASSIGN(SeqRecTrainStats stats, TrainSeqRec(*model, split, o));
  ASSERT_EQ(stats.epoch_loss.size(), 6u);
  EXPECT_EQ(epochs_seen, (std::vector<int>{1, 2, 3, 4, 5, 6}));
  EXPECT_LT(stats.epoch_loss.back(), 0.8 * stats.epoch_loss.front());
  EXPECT_FALSE(stats.stopped_early);
  ASSERT_OK_AND_ASSIGN(seqrec::RankingMetrics after, EvaluateSeqRec(*model, split, sample));
  // Random ranking gives HR@10 = 10 / 101 ~ 0.1 (an untrained model does
  // a little better: items already in the history resemble its state).
  EXPECT_GT(after.hr10, 0.5) << after.ToString();
  EXPECT_GT(after.hr10, before.hr10 + 0.3) << before.ToString() << " -> " << after.ToString();
  EXPECT_GT(after.ndcg10, before.ndcg10 + 0.2) << before.ToString() << " -> " << after.ToString();
}

TEST_P(TrainerTest, IsDeterministicForASeed) {
  seqrec::LeaveOneOutSplit split = SmallSplit(200, 150);
  SeqRecTrainOptions o = SmallTrainOptions(GetParam(), 2);
  auto a = SmallModel(GetParam(), split, 4);
  auto b = SmallModel(GetParam(), split, 4);
  auto c = SmallModel(GetParam(), split, 4);
  ASSERT_OK_AND_ASSIGN(SeqRecTrainStats sa, TrainSeqRec(*a, split, o));
  ASSERT_OK_AND_ASSIGN(SeqRecTrainStats sb, TrainSeqRec(*b, split, o));
  o.seed = 12;
  ASSERT_OK_AND_ASSIGN(SeqRecTrainStats sc, TrainSeqRec(*c, split, o));
  EXPECT_EQ(sa.epoch_loss, sb.epoch_loss);
  EXPECT_NE(sa.epoch_loss, sc.epoch_loss);
  TensorContainer ca = ModuleToContainer(*a), cb = ModuleToContainer(*b);
  for (size_t i = 0; i < ca.tensors.size(); ++i) {
    EXPECT_EQ(ca.tensors[i].values, cb.tensors[i].values) << ca.tensors[i].name;
  }
}

INSTANTIATE_TEST_SUITE_P(Backbones, TrainerTest,
                         ::testing::Values(Backbone::kSasRec, Backbone::kCaser),
                         [](const auto& info) { return std::string(BackboneName(info.param)); });

TEST(TrainerTest, LengthBucketsTrainEveryUserOnce) {
  torch::set_num_threads(1);
  seqrec::LeaveOneOutSplit split = SmallSplit();
  auto model = SmallModel(Backbone::kSasRec, split);
  SeqRecTrainOptions o = SmallTrainOptions(Backbone::kSasRec, 5);
  o.length_buckets = 2;
  ASSERT_OK_AND_ASSIGN(SeqRecTrainStats stats, TrainSeqRec(*model, split, o));
  // Every trainable user once per epoch, in batches of 64.
  const int64_t users = static_cast<int64_t>(SasRecTrainUsers(split).size());
  EXPECT_EQ(stats.steps, 5 * ((users + 63) / 64));
  EXPECT_LT(stats.epoch_loss.back(), 0.8 * stats.epoch_loss.front());
  ASSERT_OK_AND_ASSIGN(seqrec::EvalSample sample,
                       seqrec::BuildEvalSample(split, seqrec::EvalStage::kValidation, {}));
  ASSERT_OK_AND_ASSIGN(seqrec::RankingMetrics m, EvaluateSeqRec(*model, split, sample));
  EXPECT_GT(m.hr10, 0.4) << m.ToString();
}

TEST(TrainerTest, StopsOnCallbackAndMaxSteps) {
  seqrec::LeaveOneOutSplit split = SmallSplit(200, 150);
  auto model = SmallModel(Backbone::kSasRec, split);
  SeqRecTrainOptions o = SmallTrainOptions(Backbone::kSasRec, 5);
  o.on_epoch = [](const SeqRecEpochStats& e) { return e.epoch < 2; };
  ASSERT_OK_AND_ASSIGN(SeqRecTrainStats s, TrainSeqRec(*model, split, o));
  EXPECT_EQ(s.epoch_loss.size(), 2u);
  EXPECT_TRUE(s.stopped_early);
  o.on_epoch = nullptr;
  o.max_steps = 3;
  ASSERT_OK_AND_ASSIGN(s, TrainSeqRec(*model, split, o));
  EXPECT_EQ(s.steps, 3);
  EXPECT_TRUE(s.stopped_early);
  EXPECT_TRUE(model->is_training());
}

TEST(TrainerTest, RejectsBadArguments) {
  seqrec::LeaveOneOutSplit split = SmallSplit(100, 150);
  auto model = SmallModel(Backbone::kCaser, split);
  SeqRecTrainOptions o = SmallTrainOptions(Backbone::kCaser, 1);
  o.epochs = 0;
  EXPECT_THAT(TrainSeqRec(*model, split, o), StatusIs(absl::StatusCode::kInvalidArgument));
  o = SmallTrainOptions(Backbone::kCaser, 1);
  o.learning_rate = -1;
  EXPECT_THAT(TrainSeqRec(*model, split, o), StatusIs(absl::StatusCode::kInvalidArgument));
  o = SmallTrainOptions(Backbone::kCaser, 1);
  seqrec::LeaveOneOutSplit other = SmallSplit(100, 160);
  EXPECT_THAT(TrainSeqRec(*model, other, o),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("items")));
  seqrec::LeaveOneOutSplit more_users = SmallSplit(101, 150);
  EXPECT_THAT(TrainSeqRec(*model, more_users, o),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("users")));
  seqrec::LeaveOneOutSplit empty = split;
  for (auto& t : empty.train) t.resize(std::min<size_t>(t.size(), 1));
  EXPECT_THAT(TrainSeqRec(*model, empty, o),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no training")));
}

}  // namespace
}  // namespace qfleet::ml
