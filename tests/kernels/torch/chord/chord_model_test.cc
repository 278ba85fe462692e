#include "kernels/torch/chord/chord_model.h"

#include <cmath>

#include <torch/torch.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/budget_decode.h"
#include "common/status_matchers.h"
#include "kernels/torch/chord/chord_eval.h"
#include "kernels/torch/chord/chord_trainer.h"
#include "kernels/torch/chord/personalized_backbone.h"
#include "kernels/torch/model_io.h"
#include "tests/kernels/torch/chord/test_fixture.h"

namespace qfleet::torchq::chord {
namespace {

class ChordModelTest : public testing::TinyChordTest {
 protected:
  torch::Tensor Embeddings(int64_t u) {
    torch::manual_seed(9);
    return torch::tanh(torch::randn({u, options_.encoder.embed_dim}));
  }
};

TEST_F(ChordModelTest, HypernetworkOutputShapes) {
  torch::NoGradGuard no_grad;
  HypernetScores s = chord_->hypernet()->forward(Embeddings(5));
  const int64_t n = catalog_->total_channels();
  EXPECT_EQ(s.layer.sizes(), (std::vector<int64_t>{5, catalog_->num_layers()}));
  EXPECT_EQ(s.filter.sizes(), (std::vector<int64_t>{5, n}));
  EXPECT_EQ(s.element.sizes(), (std::vector<int64_t>{5, n}));
  EXPECT_EQ(s.log_score.sizes(), (std::vector<int64_t>{5, n}));
  EXPECT_TRUE(s.layer.gt(0).all().item<bool>());
  EXPECT_TRUE(s.filter.gt(0).all().item<bool>());
  EXPECT_TRUE(s.element.gt(0).all().item<bool>() && s.element.lt(2).all().item<bool>());
  EXPECT_TRUE(torch::isfinite(s.log_score).all().item<bool>());
  // Different users get different rankings.
  EXPECT_FALSE(torch::equal(s.log_score[0], s.log_score[1]));
}

TEST_F(ChordModelTest, GeneratePlansGivesOneDecodablePlanPerUserWithinBudget) {
  auto plans = chord_->GeneratePlans(Embeddings(7), /*version=*/3, /*chunk=*/3);
  ASSERT_THAT(plans.status(), IsOk());
  ASSERT_EQ(plans->size(), 7u);
  for (const PrecisionPlan& p : *plans) {
    EXPECT_EQ(p.version, 3u);
    EXPECT_EQ(static_cast<int64_t>(p.codes.size()), catalog_->total_channels());
    auto bytes = EncodePlan(p);
    ASSERT_THAT(bytes.status(), IsOk());
    auto d = DecodeForBudget(DecodePlan(*bytes).value(), catalog_->RowLengths(), 3.0,
                             BudgetDecodeOptions{{2, 3, 4, 8}, {8, 4, 2, 1}});
    ASSERT_THAT(d.status(), IsOk());
    EXPECT_LE(d->avg_bits, 3.0 + 1e-9);
    EXPECT_GT(d->avg_bits, 2.5);
  }
  // Chunking does not change the result.
  auto whole = chord_->GenerateCodes(Embeddings(7));
  auto chunked = chord_->GenerateCodes(Embeddings(7), 2);
  EXPECT_TRUE(torch::equal(*whole, *chunked));
}

TEST_F(ChordModelTest, DeterministicForASeed) {
  auto other = ChordModel::Create(*catalog_, options_).value();
  EXPECT_TRUE(torch::equal(chord_->GenerateCodes(Embeddings(4)).value(),
                           other->GenerateCodes(Embeddings(4)).value()));
  ChordOptions o = options_;
  o.seed = 99;
  auto third = ChordModel::Create(*catalog_, o).value();
  EXPECT_FALSE(torch::equal(chord_->GenerateCodes(Embeddings(4)).value(),
                            third->GenerateCodes(Embeddings(4)).value()));
}

TEST_F(ChordModelTest, ErrorPaths) {
  EXPECT_THAT(chord_->GenerateCodes(torch::zeros({2, options_.encoder.embed_dim + 1})).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(chord_->GenerateCodes(torch::zeros({0, options_.encoder.embed_dim})).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(chord_->GeneratePlans(torch::zeros({0, options_.encoder.embed_dim}), 1).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(chord_->GenerateCodes(torch::full({1, options_.encoder.embed_dim}, NAN)).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(chord_->GenerateCodes(torch::zeros({options_.encoder.embed_dim})).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(chord_->GenerateCodes(torch::Tensor()).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  ChordOptions o = options_;
  o.budget_bits = 1.5;
  EXPECT_THAT(ChordModel::Create(*catalog_, o).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  o.budget_bits = 9;
  EXPECT_THAT(ChordModel::Create(*catalog_, o).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  o = options_;
  o.hypernet.embed_dim = 5;
  EXPECT_THAT(ChordModel::Create(*catalog_, o).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  o = options_;
  o.encoder.num_items = 0;
  EXPECT_THAT(ChordModel::Create(*catalog_, o).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  // The encoder's front door.
  EXPECT_THAT(EncodeUsers(chord_->encoder(), torch::zeros({2, 3})).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));  // float ids
  EXPECT_THAT(EncodeUsers(chord_->encoder(), torch::full({1, 3}, split_.num_items + 1, torch::kLong)).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(EncodeUsers(chord_->encoder(), torch::zeros({0, 3}, torch::kLong)).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(ChordModelTest, EncoderExportsAsAContainerAndRoundTrips) {
  torch::Tensor h = torch::tensor({{0, 0, 3, 4, 5}, {1, 2, 3, 4, 6}}, torch::kLong);
  torch::Tensor e = EncodeUsers(chord_->encoder(), h).value();
  EXPECT_EQ(e.sizes(), (std::vector<int64_t>{2, options_.encoder.embed_dim}));
  auto bytes = EncodeContainer(chord_->EncoderContainer());
  ASSERT_THAT(bytes.status(), IsOk());
  UserEncoder fresh(options_.encoder, /*seed=*/1234);
  ASSERT_THAT(LoadContainer(DecodeContainer(*bytes).value(), *fresh), IsOk());
  EXPECT_TRUE(torch::equal(EncodeUsers(fresh, h).value(), e));
  // Hypernetwork weights round-trip too.
  auto other = ChordModel::Create(*catalog_, ChordOptions(options_)).value();
  ASSERT_THAT(other->LoadWeights(chord_->EncoderContainer(), chord_->HypernetContainer()), IsOk());
}

TEST_F(ChordModelTest, ExpectedDecisionMeetsTheBudget) {
  auto d = chord_->ExpectedDecision(3.0, BudgetDecodeOptions{{2, 3, 4, 8}, {8, 4, 2, 1}});
  ASSERT_THAT(d.status(), IsOk());
  EXPECT_LE(d->avg_bits, 3.0 + 1e-9);
  EXPECT_GE(d->tier_bits[0], d->tier_bits[3]);
}

TEST_F(ChordModelTest, TrainingATinyInstanceReducesTheLoss) {
  auto view = PersonalizedBackbone::Create(model_, chord_->catalog()).value();
  ChordTrainOptions t;
  t.epochs = 6;
  t.batch_users = 40;
  t.learning_rate = 1e-2;
  t.tier_bits = chord_->ExpectedDecision(3.0, BudgetDecodeOptions{{2, 3, 4, 8}, {8, 4, 2, 1}})
                    .value()
                    .tier_bits;
  t.bits_penalty = 1.0;
  t.seed = 4;
  const TensorContainer before = ModuleToContainer(*model_);
  auto stats = TrainChord(*chord_, *view, split_, t);
  ASSERT_THAT(stats.status(), IsOk());
  ASSERT_EQ(stats->epochs.size(), 6u);
  // Seeded, so deterministic; the epoch losses are noisy (fresh negatives
  // every epoch), so this is a smoke check of learning, not a strong one.
  EXPECT_LT(stats->epochs.back().loss, stats->epochs.front().loss);
  // The backbone is frozen.
  const TensorContainer after = ModuleToContainer(*model_);
  for (size_t i = 0; i < before.tensors.size(); ++i) {
    EXPECT_EQ(before.tensors[i].values, after.tensors[i].values) << before.tensors[i].name;
  }
  ChordTrainOptions bad = t;
  bad.batch_users = 0;
  EXPECT_THAT(TrainChord(*chord_, *view, split_, bad).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(ChordModelTest, EvaluateRunsEveryMethod) {
  auto view = PersonalizedBackbone::Create(model_, chord_->catalog()).value();
  seqrec::EvalSampleOptions eo;
  eo.max_users = 30;
  eo.num_negatives = 20;
  auto sample = seqrec::BuildEvalSample(split_, seqrec::EvalStage::kTest, eo).value();
  ChordEvalOptions o;
  o.timing_devices = 2;
  o.static_bits.assign(catalog_->total_channels(), 3);
  auto r = EvaluateChordMethods(*chord_, *view, split_, sample, o);
  ASSERT_THAT(r.status(), IsOk());
  std::vector<std::string> names;
  for (const auto& m : *r) names.push_back(m.name);
  EXPECT_THAT(names, ::testing::ElementsAre("fp32", "rtn2", "rtn3", "rtn4", "rtn8", "static",
                                            "chord-mean", "chord"));
  for (const auto& m : *r) {
    EXPECT_EQ(m.metrics.users, 30);
    if (m.name != "fp32") {
      EXPECT_LE(m.avg_bits, 8.0 + 1e-9) << m.name;
    }
    if (m.name == "chord" || m.name == "chord-mean") {
      EXPECT_LE(m.avg_bits, 3.0 + 1e-9);
    }
  }
  EXPECT_NEAR(r->at(2).avg_bits, 3.0, 1e-9);  // rtn3
  EXPECT_GT(r->back().plan_bytes, 0);
  EXPECT_GT(r->back().apply_ms_per_device, 0.0);
}


// Relevance mode: the item table's rows are tiered by the learned relevance
// to the user; every other channel ranks above them.
class ChordRelevanceTest : public testing::TinyChordTest {
 protected:
  void SetUp() override {
    TinyChordTest::SetUp();
    options_.hypernet.relevance_layer = "item_emb";
    options_.tiers.reference_bits = {4, 4, 4, 1};
    chord_ = std::shared_ptr<ChordModel>(ChordModel::Create(*catalog_, options_).value());
    items_ = catalog_->layers()[catalog_->LayerIndex("item_emb")];
  }
  ChordLayer items_;
};

TEST_F(ChordRelevanceTest, ItemRowsRankBelowTheDenseLayersByRelevance) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(9);
  torch::Tensor emb = torch::tanh(torch::randn({4, options_.encoder.embed_dim}));
  HypernetScores s = chord_->hypernet()->forward(emb);
  ASSERT_TRUE(s.relevance.defined());
  EXPECT_EQ(s.relevance.sizes(), (std::vector<int64_t>{4, items_.channels}));
  // The relevance is r(u) . w_c / sqrt(K) with the FP32 rows.
  torch::Tensor r = chord_->hypernet()->relevance_proj->forward(emb);
  torch::Tensor expect = torch::matmul(r, catalog_->rows(catalog_->LayerIndex("item_emb")).t()) /
                         std::sqrt(static_cast<double>(items_.row_length));
  EXPECT_TRUE(torch::allclose(s.relevance, expect, 1e-4, 1e-5));
  torch::Tensor item_keys = s.log_score.slice(1, items_.offset, items_.offset + items_.channels);
  // Per user, the key orders the rows as the relevance does.
  torch::Tensor in_order = item_keys.gather(1, s.relevance.argsort(1, /*descending=*/false));
  EXPECT_TRUE(in_order.diff(1, 1).ge(0).all().item<bool>());
  // Every dense channel is in a tier at least as high as every item row
  // (here they outgrow tier 0: the tiny model's item table is small), and
  // the plans differ per user.
  torch::Tensor codes = chord_->GenerateCodes(emb).value();
  torch::Tensor item_codes = codes.slice(1, items_.offset, items_.offset + items_.channels);
  for (int64_t c = 0; c < catalog_->total_channels(); ++c) {
    if (c >= items_.offset && c < items_.offset + items_.channels) continue;
    ASSERT_TRUE(codes.select(1, c).le(item_codes.amin(1)).all().item<bool>()) << c;
  }
  EXPECT_FALSE(torch::equal(codes[0], codes[1]));
  // The least relevant rows of a user land in tier 3.
  const int64_t worst = s.relevance[0].argmin().item<int64_t>();
  EXPECT_EQ(codes[0][items_.offset + worst].item<int64_t>(), 3);
}

TEST_F(ChordRelevanceTest, TrainingImitatesTheBackbonesItemScores) {
  auto view = PersonalizedBackbone::Create(model_, chord_->catalog()).value();
  ChordTrainOptions t;
  t.epochs = 8;
  t.batch_users = 40;
  t.learning_rate = 1e-2;
  t.tier_bits = {4, 4, 4, 1};
  t.seed = 4;
  auto stats = TrainChord(*chord_, *view, split_, t);
  ASSERT_THAT(stats.status(), IsOk());
  ASSERT_EQ(stats->epochs.size(), 8u);
  // The loss is 1 - the correlation of predicted and FP32 item scores.
  EXPECT_LT(stats->epochs.back().loss, 0.7 * stats->epochs.front().loss);
  EXPECT_GE(stats->epochs.back().loss, 0.0);
  EXPECT_NEAR(stats->epochs.back().expected_bits, 3.0, 0.05);
}

TEST_F(ChordRelevanceTest, UnknownRelevanceLayerIsRefused) {
  ChordOptions o = options_;
  o.hypernet.relevance_layer = "no_such_layer";
  EXPECT_THAT(ChordModel::Create(*catalog_, o).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("no_such_layer")));
}

}  // namespace
}  // namespace qfleet::torchq::chord
