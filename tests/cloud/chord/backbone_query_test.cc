// CHORD on the backbone's own query (HypernetOptions::query_input): the
// device sends SeqRecModel::Query, the cloud's relevance is the FP32 score.
#include <cmath>

#include <torch/torch.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/status_matchers.h"
#include "ml/chord/chord_device.h"
#include "sim/chord_eval.h"
#include "cloud/chord/chord_service.h"
#include "cloud/chord/chord_setup.h"
#include "cloud/chord/chord_trainer.h"
#include "ml/chord/personalized_backbone.h"
#include "cloud/chord/tiering.h"
#include "ml/seqrec/seqrec_batches.h"
#include "tests/cloud/chord/test_fixture.h"

namespace qfleet::ml::chord {
namespace {

using ::testing::HasSubstr;

class BackboneQueryTest : public testing::TinyBackboneTest {
 protected:
  void SetUp() override {
    TinyBackboneTest::SetUp();
    options_ = testing::TinyOptions(split_);
    ChordSetupOptions so;
    so.backbone = GetParam() == Backbone::kCaser ? "caser" : "sasrec";
    UseBackboneQuery(so);
    options_.hypernet.relevance_layer = so.chord.hypernet.relevance_layer;
    options_.hypernet.relevance_tied = so.chord.hypernet.relevance_tied;
    options_.hypernet.relevance_last = so.chord.hypernet.relevance_last;
    // Quarters: the tiny backbones' item rows then straddle the tiers.
    options_.tiers.reference_bits = {4, 3, 3, 2};
    options_.tiers.middle_share = {0.25, 0.25};
    ASSERT_TRUE(so.chord.hypernet.query_input);
    ASSERT_THAT(FitBackboneQuery(*model_, *catalog_, options_.hypernet), IsOk());
    chord_ = std::shared_ptr<ChordModel>(ChordModel::Create(*catalog_, options_).value());
  }
  // Every user's history at the test stage and its id.
  void Users(int64_t n, torch::Tensor& histories, torch::Tensor& ids, std::vector<int32_t>& users) {
    users.clear();
    for (int32_t u = 0; u < n; ++u) users.push_back(u);
    histories = MakeEvalHistories(split_, users, seqrec::EvalStage::kTest, model_->HistoryLength());
    ids = torch::arange(n, torch::kLong);
  }
  ChordOptions options_;
  std::shared_ptr<ChordModel> chord_;
};

TEST_P(BackboneQueryTest, RelevanceIsTheBackbonesOwnScoreAndPlansFollowIt) {
  // SASRec: d; Caser: 2d + 1 (out_emb and out_bias side by side).
  const int64_t d = model_->config().hidden;
  EXPECT_EQ(options_.hypernet.embed_dim, GetParam() == Backbone::kCaser ? 2 * d + 1 : d);
  EXPECT_TRUE(chord_->hypernet()->relevance_proj.is_empty());
  torch::Tensor histories, ids;
  std::vector<int32_t> users;
  Users(6, histories, ids, users);
  ASSERT_OK_AND_ASSIGN(torch::Tensor q, QuerySeqRec(*model_, histories, ids));
  const int64_t items = split_.num_items;
  torch::Tensor all = torch::arange(1, items + 1, torch::kLong).unsqueeze(0).expand({6, items});
  ASSERT_OK_AND_ASSIGN(torch::Tensor scores, ScoreSeqRec(*model_, histories, ids, all));
  torch::NoGradGuard no_grad;
  HypernetScores s = chord_->hypernet()->forward(q);
  // Row 0 is padding; rows 1..items are the items' scores / sqrt(K).
  torch::Tensor got = s.relevance.slice(1, 1, items + 1) * std::sqrt(static_cast<double>(q.size(1)));
  EXPECT_TRUE(torch::allclose(got, scores, 1e-4, 1e-4));
  // The plans rank the item rows exactly as the FP32 scores do: the same
  // codes as AssignTiers on the oracle's key.
  ASSERT_OK_AND_ASSIGN(torch::Tensor codes, chord_->GenerateCodes(q));
  const RelevanceLayout& layout = *chord_->hypernet()->relevance_layout();
  // (Row 0, the padding item, has no score of its own: its relevance.)
  torch::Tensor oracle = torch::cat({s.relevance.slice(1, 0, 1), scores / std::sqrt(static_cast<double>(q.size(1)))}, 1);
  torch::Tensor want = AssignTiers(layout.RankKey(oracle), catalog_->elements(), chord_->fractions());
  EXPECT_TRUE(torch::equal(codes, want));
  // Each user ranks the items in an order of their own.
  EXPECT_FALSE(torch::equal(s.relevance[0].argsort(), s.relevance[1].argsort()));
}

TEST_P(BackboneQueryTest, DeviceBundleCarriesTheMarkAndTheDeviceSendsItsQuery) {
  TensorContainer bundle = BundleContainer(*model_, *chord_);
  ASSERT_NE(bundle.Find(kBackboneQueryMarker), nullptr);
  for (const Tensor& t : bundle.tensors) EXPECT_EQ(t.name.rfind(kEncoderPrefix, 0), std::string::npos);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<DeviceBundle> device,
                       DeviceBundleFromContainer(bundle, model_->config()));
  EXPECT_TRUE(device->backbone_query);
  EXPECT_TRUE(device->encoder.is_empty());
  EXPECT_EQ(device->EmbeddingHistory(), model_->HistoryLength());
  torch::Tensor histories, ids;
  std::vector<int32_t> users;
  Users(4, histories, ids, users);
  ASSERT_OK_AND_ASSIGN(torch::Tensor on_device, DeviceUserEmbeddings(*device, histories, ids));
  ASSERT_OK_AND_ASSIGN(torch::Tensor cloud,
                       UserEmbeddings(*chord_, *model_, split_, users, seqrec::EvalStage::kTest));
  EXPECT_TRUE(torch::allclose(on_device, cloud, 1e-6, 1e-6));
  EXPECT_EQ(cloud.size(1), chord_->options().hypernet.embed_dim);
  // A device's query of a bad history is refused, not thrown.
  EXPECT_THAT(DeviceUserEmbeddings(*device, histories.to(torch::kInt), ids).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // The chord-mean input is the mean query.
  ASSERT_OK_AND_ASSIGN(torch::Tensor mean,
                       MeanUserEmbedding(*chord_, *model_, split_, seqrec::EvalStage::kValidation));
  EXPECT_EQ(mean.sizes(), (std::vector<int64_t>{1, cloud.size(1)}));
  EXPECT_TRUE(torch::isfinite(mean).all().item<bool>());
}

TEST_P(BackboneQueryTest, MalformedMarksAreRefused) {
  TensorContainer bundle = BundleContainer(*model_, *chord_);
  TensorContainer bad = bundle;
  for (Tensor& t : bad.tensors) {
    if (t.name == kBackboneQueryMarker) t.values = {2.0f};
  }
  EXPECT_THAT(DeviceBundleFromContainer(bad, model_->config()).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("marker")));
  // The mark beside an encoder.
  ChordOptions plain = testing::TinyOptions(split_);
  auto with_encoder = ChordModel::Create(*catalog_, plain).value();
  TensorContainer both = BundleContainer(*model_, *with_encoder);
  both.tensors.push_back(*bundle.Find(kBackboneQueryMarker));
  EXPECT_THAT(DeviceBundleFromContainer(both, model_->config()).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("both")));
  // Neither: the encoder is missing.
  TensorContainer neither;
  for (const Tensor& t : bundle.tensors) {
    if (t.name != kBackboneQueryMarker) neither.tensors.push_back(t);
  }
  EXPECT_THAT(DeviceBundleFromContainer(neither, model_->config()).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("user encoder")));
}

TEST_P(BackboneQueryTest, WrongSetupsAreRefused) {
  // A width other than the query's.
  ChordOptions o = options_;
  o.hypernet.embed_dim += 1;
  EXPECT_THAT(ChordModel::Create(*catalog_, o).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("query")));
  // Query input without relevance mode.
  o = testing::TinyOptions(split_);
  o.hypernet.query_input = true;
  EXPECT_THAT(ChordModel::Create(*catalog_, o).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("relevance mode")));
  // Relevance rows that are not the tables the query reads: refused, and
  // the options are left as they were.
  HypernetOptions h = testing::TinyOptions(split_).hypernet;
  h.relevance_layer = GetParam() == Backbone::kCaser ? "item_emb" : "pos_emb";
  if (GetParam() == Backbone::kCaser) h.relevance_tied = {"out_bias"};
  const HypernetOptions before = h;
  EXPECT_THAT(FitBackboneQuery(*model_, *catalog_, h),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("query reads")));
  EXPECT_EQ(h.embed_dim, before.embed_dim);
  EXPECT_FALSE(h.query_input);
  // The hypernetworks have nothing to train.
  auto view = PersonalizedBackbone::Create(model_, *catalog_).value();
  ChordTrainOptions t;
  t.tier_bits = {8, 4, 3, 2};
  EXPECT_THAT(TrainChord(*chord_, *view, split_, t).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // A wrong-width embedding off the network.
  EXPECT_THAT(chord_->GenerateCodes(torch::zeros({1, options_.hypernet.embed_dim - 1})).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

INSTANTIATE_TEST_SUITE_P(Backbones, BackboneQueryTest,
                         ::testing::Values(Backbone::kSasRec, Backbone::kCaser),
                         [](const auto& info) { return std::string(BackboneName(info.param)); });

}  // namespace
}  // namespace qfleet::ml::chord
