#include "ml/seqrec/seqrec_factory.h"

#include <fstream>

#include <torch/torch.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/status_matchers.h"
#include "ml/model_io.h"
#include "tests/ml/seqrec/test_util.h"

namespace qfleet::ml {
namespace {

using ::testing::HasSubstr;
using testing::SmallConfig;
using testing::SmallSplit;

torch::Tensor ScoreFixed(SeqRecModel& m) {
  torch::Tensor h = torch::tensor({1, 2, 3, 4, 5, 6}, torch::kLong).reshape({2, 3});
  torch::Tensor u = torch::tensor({0, 1}, torch::kLong);
  torch::Tensor c = torch::tensor({7, 8, 9, 10}, torch::kLong).reshape({2, 2});
  return ScoreSeqRec(m, h, u, c).value();
}

class FactoryTest : public ::testing::TestWithParam<Backbone> {};

TEST_P(FactoryTest, ContainerRoundTripKeepsConfigAndScores) {
  seqrec::LeaveOneOutSplit split = SmallSplit(40, 100);
  SeqRecConfig config = SmallConfig(GetParam(), split);
  config.num_blocks = 3;
  ASSERT_OK_AND_ASSIGN(auto model, MakeSeqRecModel(config, 5));
  model->eval();
  TensorContainer c = ModuleToContainer(*model);
  SeqRecConfig defaults = DefaultSeqRecConfig(GetParam());
  ASSERT_OK_AND_ASSIGN(SeqRecConfig inferred, InferSeqRecConfig(c, defaults));
  EXPECT_EQ(inferred.backbone, GetParam());
  EXPECT_EQ(inferred.num_items, 100);
  EXPECT_EQ(inferred.hidden, 32);
  if (GetParam() == Backbone::kSasRec) {
    EXPECT_EQ(inferred.max_length, 20);
    EXPECT_EQ(inferred.num_blocks, 3);
  } else {
    EXPECT_EQ(inferred.num_users, 40);
    EXPECT_EQ(inferred.window, 5);
    EXPECT_EQ(inferred.vertical_filters, 4);
    EXPECT_EQ(inferred.horizontal_filters, 16);
  }
  ASSERT_OK_AND_ASSIGN(auto copy, SeqRecModelFromContainer(c, defaults));
  copy->eval();
  EXPECT_TRUE(torch::equal(ScoreFixed(*model), ScoreFixed(*copy)));
}

TEST_P(FactoryTest, SavesAndLoadsFiles) {
  seqrec::LeaveOneOutSplit split = SmallSplit(40, 100);
  ASSERT_OK_AND_ASSIGN(auto model, MakeSeqRecModel(SmallConfig(GetParam(), split), 9));
  model->eval();
  const std::string path =
      ::testing::TempDir() + "/seqrec_" + BackboneName(GetParam()) + ".qftc";
  ASSERT_OK(SaveSeqRecModel(*model, path));
  ASSERT_OK_AND_ASSIGN(auto loaded, LoadSeqRecModel(path, DefaultSeqRecConfig(GetParam())));
  loaded->eval();
  EXPECT_TRUE(torch::equal(ScoreFixed(*model), ScoreFixed(*loaded)));
}

INSTANTIATE_TEST_SUITE_P(Backbones, FactoryTest,
                         ::testing::Values(Backbone::kSasRec, Backbone::kCaser),
                         [](const auto& info) { return std::string(BackboneName(info.param)); });

TEST(FactoryErrorTest, RejectsBadConfigsContainersAndFiles) {
  SeqRecConfig bad = DefaultSeqRecConfig(Backbone::kSasRec);
  EXPECT_THAT(MakeSeqRecModel(bad, 1), StatusIs(absl::StatusCode::kInvalidArgument));

  seqrec::LeaveOneOutSplit split = SmallSplit(40, 100);
  ASSERT_OK_AND_ASSIGN(auto model, MakeSeqRecModel(SmallConfig(Backbone::kSasRec, split), 1));
  TensorContainer c = ModuleToContainer(*model);
  TensorContainer no_items = c;
  no_items.tensors.erase(no_items.tensors.begin());
  EXPECT_THAT(InferSeqRecConfig(no_items, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("item_emb")));
  TensorContainer neither;
  neither.tensors.push_back(c.tensors[0]);  // item_emb only
  EXPECT_THAT(InferSeqRecConfig(neither, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("neither")));
  TensorContainer extra = c;
  extra.tensors.push_back(FromTorch("stray.weight", torch::zeros({2})));
  EXPECT_THAT(SeqRecModelFromContainer(extra, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("stray")));
  SeqRecConfig three_heads;
  three_heads.num_heads = 3;  // does not divide d = 32
  EXPECT_THAT(SeqRecModelFromContainer(c, three_heads),
              StatusIs(absl::StatusCode::kInvalidArgument));

  EXPECT_THAT(LoadSeqRecModel(::testing::TempDir() + "/missing.qftc", {}),
              StatusIs(absl::StatusCode::kNotFound));
  const std::string junk = ::testing::TempDir() + "/junk.qftc";
  std::ofstream(junk) << "not a container";
  EXPECT_FALSE(LoadSeqRecModel(junk, {}).ok());
  EXPECT_THAT(SaveSeqRecModel(*model, "/nonexistent-dir/x.qftc"), ::testing::Not(IsOk()));
}

}  // namespace
}  // namespace qfleet::ml
