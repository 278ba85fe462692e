#include "ml/seqrec/seqrec_model.h"

#include <torch/torch.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/status_matchers.h"
#include "ml/model_io.h"
#include "ml/seqrec/caser.h"
#include "ml/seqrec/sasrec.h"
#include "tests/ml/seqrec/test_util.h"

namespace qfleet::ml {
namespace {

using ::testing::HasSubstr;
using testing::SmallConfig;
using testing::SmallModel;
using testing::SmallSplit;

torch::Tensor Ids(std::vector<int64_t> v, std::vector<int64_t> shape) {
  return torch::tensor(v, torch::kLong).reshape(shape);
}

class BackboneTest : public ::testing::TestWithParam<Backbone> {
 protected:
  // Two histories (one left-padded), users 0 and 49, three candidates each.
  torch::Tensor hist_ = Ids({0, 0, 3, 4, 5, 6, 7, 8, 9, 10}, {2, 5});
  torch::Tensor users_ = Ids({0, 49}, {2});
  torch::Tensor cands_ = Ids({1, 2, 3, 120, 5, 6}, {2, 3});
};

TEST_P(BackboneTest, ScoreAndLossShapes) {
  seqrec::LeaveOneOutSplit split = SmallSplit(50, 120);
  auto model = SmallModel(GetParam(), split);
  model->eval();
  const torch::Tensor &hist = hist_, &users = users_, &cands = cands_;
  ASSERT_OK_AND_ASSIGN(torch::Tensor s, ScoreSeqRec(*model, hist, users, cands));
  EXPECT_EQ(s.sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(s.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::isfinite(s).all().item<bool>());

  // A training batch in the backbone's layout.
  const SeqRecConfig& c = model->config();
  SeqRecTrainBatch b;
  const int64_t h = model->HistoryLength();
  b.histories = torch::randint(1, 121, {4, h}, torch::kLong);
  b.users = Ids({0, 1, 2, 3}, {4});
  const int64_t p = GetParam() == Backbone::kSasRec ? h : c.targets;
  const int64_t n = GetParam() == Backbone::kSasRec ? h : c.negatives;
  b.positives = torch::randint(1, 121, {4, p}, torch::kLong);
  b.negatives = torch::randint(1, 121, {4, n}, torch::kLong);
  model->train();
  torch::Tensor loss = model->Loss(b);
  EXPECT_EQ(loss.dim(), 0);
  EXPECT_GT(loss.item<double>(), 0.0);
  loss.backward();
  EXPECT_TRUE(model->named_parameters()["item_emb.weight"].grad().defined());
}

TEST_P(BackboneTest, ScoreIsTheQueryDottedWithTheQueryTablesRows) {
  seqrec::LeaveOneOutSplit split = SmallSplit(50, 120);
  auto model = SmallModel(GetParam(), split);
  model->eval();
  const torch::Tensor &hist = hist_, &users = users_, &cands = cands_;
  ASSERT_OK_AND_ASSIGN(torch::Tensor q, QuerySeqRec(*model, hist, users));
  std::vector<torch::Tensor> tables;
  auto params = model->named_parameters();
  for (const std::string& name : model->QueryTables()) tables.push_back(params[name + ".weight"]);
  torch::Tensor rows = torch::cat(tables, 1);  // [num_items + 1, K]
  EXPECT_EQ(rows.size(0), 121);
  ASSERT_EQ(q.sizes(), (std::vector<int64_t>{2, rows.size(1)}));
  torch::Tensor want = torch::bmm(rows.index_select(0, cands.flatten()).view({2, 3, -1}),
                                  q.unsqueeze(2)).squeeze(2);
  ASSERT_OK_AND_ASSIGN(torch::Tensor s, ScoreSeqRec(*model, hist, users, cands));
  EXPECT_TRUE(torch::allclose(s, want, 1e-5, 1e-5));
  // The same validation as ScoreSeqRec.
  EXPECT_THAT(QuerySeqRec(*model, hist.to(torch::kInt), users),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("int64")));
  EXPECT_THAT(QuerySeqRec(*model, Ids({121}, {1, 1}), Ids({0}, {1})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("histories")));
  EXPECT_THAT(QuerySeqRec(*model, hist, Ids({0}, {1})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("batch")));
}

TEST_P(BackboneTest, LeftPaddingAndExtraColumnsDoNotChangeScores) {
  seqrec::LeaveOneOutSplit split = SmallSplit(50, 120);
  auto model = SmallModel(GetParam(), split);
  model->eval();
  torch::NoGradGuard no_grad;
  torch::Tensor users = Ids({3}, {1});
  torch::Tensor cands = Ids({1, 2, 3, 4}, {1, 4});
  torch::Tensor short_hist = Ids({7, 8, 9}, {1, 3});
  torch::Tensor padded = Ids({0, 0, 0, 0, 0, 0, 0, 7, 8, 9}, {1, 10});
  torch::Tensor a = model->Score(short_hist, users, cands);
  torch::Tensor b = model->Score(padded, users, cands);
  EXPECT_TRUE(torch::allclose(a, b, 1e-5, 1e-5)) << a << b;
  // Batching a long history next to a short one leaves the short one's
  // scores unchanged (SASRec computes on the union of non-padding columns).
  std::vector<int64_t> two(40, 0);
  for (int i = 0; i < 20; ++i) two[i] = 1 + i;  // row 0: 20 items
  two[37] = 7, two[38] = 8, two[39] = 9;         // row 1: 7 8 9
  torch::Tensor both = model->Score(Ids(two, {2, 20}), Ids({3, 3}, {2}), Ids({1, 2, 3, 4, 1, 2, 3, 4}, {2, 4}));
  EXPECT_TRUE(torch::allclose(both[1], a[0], 1e-5, 1e-5)) << both[1] << a[0];
}

TEST_P(BackboneTest, EveryWeightIsANamedChannelMajorSubmodule) {
  seqrec::LeaveOneOutSplit split = SmallSplit(50, 120);
  auto model = SmallModel(GetParam(), split);
  auto params = model->named_parameters();
  ASSERT_TRUE(params.contains("item_emb.weight"));
  EXPECT_EQ(params["item_emb.weight"].size(0), 121);  // one row (channel) per item + padding
  EXPECT_EQ(params["item_emb.weight"][0].abs().sum().item<float>(), 0.0f);
  for (const auto& p : params) {
    EXPECT_THAT(p.key(), ::testing::MatchesRegex("[a-z_0-9.]+\\.(weight|bias)")) << p.key();
  }
  if (GetParam() == Backbone::kSasRec) {
    EXPECT_EQ(params["pos_emb.weight"].sizes(), (std::vector<int64_t>{20, 32}));
    EXPECT_EQ(params["blocks.1.ffn2.weight"].sizes(), (std::vector<int64_t>{32, 32}));
    EXPECT_TRUE(params.contains("blocks.0.query.weight"));
    EXPECT_TRUE(params.contains("final_norm.weight"));
  } else {
    EXPECT_EQ(params["user_emb.weight"].sizes(), (std::vector<int64_t>{50, 32}));
    EXPECT_EQ(params["conv_v.weight"].sizes(), (std::vector<int64_t>{4, 1, 5, 1}));
    EXPECT_EQ(params["conv_h.4.weight"].sizes(), (std::vector<int64_t>{16, 1, 5, 32}));
    EXPECT_EQ(params["fc1.weight"].sizes(), (std::vector<int64_t>{32, 4 * 32 + 16 * 5}));
    EXPECT_EQ(params["out_emb.weight"].sizes(), (std::vector<int64_t>{121, 64}));
    EXPECT_EQ(params["out_bias.weight"].sizes(), (std::vector<int64_t>{121, 1}));
  }
}

TEST_P(BackboneTest, SeededConstructionIsDeterministic) {
  seqrec::LeaveOneOutSplit split = SmallSplit(50, 120);
  auto a = SmallModel(GetParam(), split, 7);
  auto b = SmallModel(GetParam(), split, 7);
  auto c = SmallModel(GetParam(), split, 8);
  TensorContainer ca = ModuleToContainer(*a), cb = ModuleToContainer(*b), cc = ModuleToContainer(*c);
  ASSERT_EQ(ca.tensors.size(), cb.tensors.size());
  bool any_differs = false;
  for (size_t i = 0; i < ca.tensors.size(); ++i) {
    EXPECT_EQ(ca.tensors[i].values, cb.tensors[i].values) << ca.tensors[i].name;
    any_differs |= ca.tensors[i].values != cc.tensors[i].values;
  }
  EXPECT_TRUE(any_differs);
}

INSTANTIATE_TEST_SUITE_P(Backbones, BackboneTest,
                         ::testing::Values(Backbone::kSasRec, Backbone::kCaser),
                         [](const auto& info) { return std::string(BackboneName(info.param)); });

TEST(SasRecTest, IsCausal) {
  seqrec::LeaveOneOutSplit split = SmallSplit(50, 120);
  auto base = SmallModel(Backbone::kSasRec, split);
  auto* model = dynamic_cast<SasRec*>(base.get());
  ASSERT_NE(model, nullptr);
  model->eval();
  torch::NoGradGuard no_grad;
  torch::Tensor a = model->Encode(Ids({5, 6, 7, 8}, {1, 4}));
  torch::Tensor b = model->Encode(Ids({5, 6, 7, 99}, {1, 4}));
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{1, 4, 32}));
  // Changing the last item leaves every earlier position unchanged.
  EXPECT_TRUE(torch::allclose(a.slice(1, 0, 3), b.slice(1, 0, 3), 1e-6, 1e-6));
  EXPECT_FALSE(torch::allclose(a.select(1, 3), b.select(1, 3)));
}

TEST(SeqRecModelTest, DropoutOnlyInTrainingAndSeeded) {
  seqrec::LeaveOneOutSplit split = SmallSplit(50, 120);
  auto model = SmallModel(Backbone::kSasRec, split);
  torch::NoGradGuard no_grad;
  torch::Tensor h = Ids({1, 2, 3, 4}, {1, 4}), c = Ids({5, 6}, {1, 2}), u = Ids({0}, {1});
  model->eval();
  EXPECT_TRUE(torch::equal(model->Score(h, u, c), model->Score(h, u, c)));
  model->train();
  model->SeedDropout(3);
  torch::Tensor t1 = model->Score(h, u, c);
  model->SeedDropout(3);
  torch::Tensor t2 = model->Score(h, u, c);
  EXPECT_TRUE(torch::equal(t1, t2));
  EXPECT_FALSE(torch::equal(t1, model->Score(h, u, c)));
}

TEST(ScoreSeqRecTest, RejectsBadInput) {
  seqrec::LeaveOneOutSplit split = SmallSplit(50, 120);
  auto caser = SmallModel(Backbone::kCaser, split);
  torch::Tensor h = Ids({1, 2, 3}, {1, 3}), u = Ids({0}, {1}), c = Ids({4, 5}, {1, 2});
  EXPECT_OK(ScoreSeqRec(*caser, h, u, c));
  EXPECT_THAT(ScoreSeqRec(*caser, h.to(torch::kInt), u, c),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("int64")));
  EXPECT_THAT(ScoreSeqRec(*caser, h, u, Ids({0, 5}, {1, 2})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("candidates")));
  EXPECT_THAT(ScoreSeqRec(*caser, h, u, Ids({121}, {1, 1})),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ScoreSeqRec(*caser, Ids({-1, 2}, {1, 2}), u, c),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("histories")));
  EXPECT_THAT(ScoreSeqRec(*caser, h, Ids({50}, {1}), c),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("users")));
  EXPECT_THAT(ScoreSeqRec(*caser, h, u, Ids({4, 5}, {2, 1})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("batch")));
  EXPECT_THAT(ScoreSeqRec(*caser, Ids({1, 2}, {2}), u, c),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // SASRec ignores users: an undefined tensor is fine.
  auto sasrec = SmallModel(Backbone::kSasRec, split);
  EXPECT_OK(ScoreSeqRec(*sasrec, h, torch::Tensor(), c));
}

TEST(SeqRecConfigTest, ValidatesAndParses) {
  SeqRecConfig c = DefaultSeqRecConfig(Backbone::kSasRec);
  EXPECT_EQ(c.hidden, 50);
  EXPECT_EQ(c.num_blocks, 2);
  EXPECT_EQ(c.max_length, 50);
  EXPECT_EQ(DefaultSeqRecConfig(Backbone::kCaser).dropout, 0.5);
  EXPECT_THAT(ValidateSeqRecConfig(c), StatusIs(absl::StatusCode::kInvalidArgument));  // no items
  c.num_items = 10;
  EXPECT_OK(ValidateSeqRecConfig(c));
  c.num_heads = 3;  // does not divide 50
  EXPECT_THAT(ValidateSeqRecConfig(c), StatusIs(absl::StatusCode::kInvalidArgument));
  c.num_heads = 1;
  c.dropout = 1.0;
  EXPECT_THAT(ValidateSeqRecConfig(c), StatusIs(absl::StatusCode::kInvalidArgument));
  SeqRecConfig caser = DefaultSeqRecConfig(Backbone::kCaser);
  caser.num_items = 10;
  EXPECT_THAT(ValidateSeqRecConfig(caser), StatusIs(absl::StatusCode::kInvalidArgument));  // no users
  caser.num_users = 3;
  EXPECT_OK(ValidateSeqRecConfig(caser));
  ASSERT_OK_AND_ASSIGN(Backbone b, ParseBackbone("SASRec"));
  EXPECT_EQ(b, Backbone::kSasRec);
  EXPECT_THAT(ParseBackbone("gru4rec"), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace qfleet::ml
