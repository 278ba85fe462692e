#include "cloud/chord/chord_model.h"

#include <algorithm>
#include <cmath>

#include <torch/torch.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/budget_decode.h"
#include "common/status_matchers.h"
#include "ml/chord/chord_device.h"
#include "cloud/chord/chord_trainer.h"
#include "ml/chord/personalized_backbone.h"
#include "cloud/chord/static_allocation.h"
#include "ml/model_io.h"
#include "tests/cloud/chord/test_fixture.h"

namespace qfleet::ml::chord {
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

// The plan kernel (kernels/relevance_tiers.h) that GenerateCodes runs in
// relevance mode gives the codes LibTorch's AssignTiers gives on the
// hypernetwork's ranking key, on every device kind here.
void ExpectKernelMatchesAssignTiers(ChordModel& chord, const ChannelCatalog& catalog,
                                    int64_t users) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(21);
  torch::Tensor emb = torch::tanh(torch::randn({users, chord.options().encoder.embed_dim}));
  HypernetScores s = chord.hypernet()->forward(emb);
  torch::Tensor expect = AssignTiers(s.log_score, catalog.elements(), chord.fractions());
  std::vector<kernels::DeviceKind> kinds = {kernels::DeviceKind::kRef, kernels::DeviceKind::kCpu};
  if (kernels::CudaAvailable()) kinds.push_back(kernels::DeviceKind::kCuda);
  for (kernels::DeviceKind kind : kinds) {
    chord.set_plan_device(kind);
    torch::Tensor codes = chord.GenerateCodes(emb).value();
    EXPECT_TRUE(torch::equal(codes, expect)) << static_cast<int>(kind);
  }
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

// Trains relevance mode for `epochs` and checks that the loss, 1 - the
// correlation of predicted and FP32 item scores, falls below `ratio` of the
// first epoch's while the hard tiers keep the budget.
void ExpectRelevanceTrainingLearns(ChordModel& chord, const std::shared_ptr<SeqRecModel>& model,
                                   const seqrec::LeaveOneOutSplit& split, int epochs,
                                   const std::array<int, 4>& tier_bits, double ratio) {
  auto view = PersonalizedBackbone::Create(model, chord.catalog()).value();
  ChordTrainOptions t;
  t.epochs = epochs;
  t.batch_users = 40;
  t.learning_rate = 1e-2;
  t.tier_bits = tier_bits;
  t.seed = 4;
  auto stats = TrainChord(chord, *view, split, t);
  ASSERT_THAT(stats.status(), IsOk());
  ASSERT_EQ(stats->epochs.size(), static_cast<size_t>(epochs));
  EXPECT_LT(stats->epochs.back().loss, ratio * stats->epochs.front().loss);
  EXPECT_GE(stats->epochs.back().loss, 0.0);
  EXPECT_NEAR(stats->epochs.back().expected_bits, 3.0, 0.05);
}

TEST_F(ChordRelevanceTest, TrainingImitatesTheBackbonesItemScores) {
  ExpectRelevanceTrainingLearns(*chord_, model_, split_, 8, {4, 4, 4, 1}, 0.7);
}

TEST_F(ChordRelevanceTest, UnknownRelevanceLayerIsRefused) {
  ChordOptions o = options_;
  o.hypernet.relevance_layer = "no_such_layer";
  EXPECT_THAT(ChordModel::Create(*catalog_, o).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("no_such_layer")));
}

TEST_F(ChordRelevanceTest, BadRelevanceLayoutsAreRefused) {
  ChordOptions o = options_;
  o.hypernet.relevance_tied = {"pos_emb"};  // not one row per item
  EXPECT_THAT(ChordModel::Create(*catalog_, o).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("rows")));
  o.hypernet.relevance_tied = {};
  o.hypernet.relevance_last = {"item_emb"};
  EXPECT_THAT(ChordModel::Create(*catalog_, o).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("twice")));
  o.hypernet.relevance_last = {"nope"};
  EXPECT_THAT(ChordModel::Create(*catalog_, o).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("nope")));
}

TEST_F(ChordRelevanceTest, PlanKernelMatchesAssignTiers) {
  ExpectKernelMatchesAssignTiers(*chord_, *catalog_, 40);
}

// Caser in relevance mode: out_emb's rows carry the relevance, item_emb's
// and out_bias's rows of the same item rank with them, user_emb goes last.
class ChordCaserRelevanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    split_ = testing::TinySplit();
    model_ = testing::TinyModel(Backbone::kCaser, split_);
    model_->eval();
    catalog_ = std::make_unique<ChannelCatalog>(ChannelCatalog::Create(*model_).value());
    options_ = testing::TinyOptions(split_);
    options_.hypernet.relevance_layer = "out_emb";
    options_.hypernet.relevance_tied = {"item_emb", "out_bias"};
    options_.hypernet.relevance_last = {"user_emb"};
    options_.tiers.reference_bits = {4, 3, 3, 2};
    chord_ = std::shared_ptr<ChordModel>(ChordModel::Create(*catalog_, options_).value());
  }
  const ChordLayer& Layer(const std::string& name) const {
    return catalog_->layers()[catalog_->LayerIndex(name)];
  }
  seqrec::LeaveOneOutSplit split_;
  std::shared_ptr<SeqRecModel> model_;
  std::unique_ptr<ChannelCatalog> catalog_;
  ChordOptions options_;
  std::shared_ptr<ChordModel> chord_;
};

TEST_F(ChordCaserRelevanceTest, ItemRowsRankTogetherAndUserRowsRankLast) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(3);
  torch::Tensor emb = torch::tanh(torch::randn({3, options_.encoder.embed_dim}));
  HypernetScores s = chord_->hypernet()->forward(emb);
  const ChordLayer& out = Layer("out_emb");
  const ChordLayer& in = Layer("item_emb");
  const ChordLayer& bias = Layer("out_bias");
  const ChordLayer& users = Layer("user_emb");
  ASSERT_TRUE(s.relevance.defined());
  EXPECT_EQ(s.relevance.sizes(), (std::vector<int64_t>{3, out.channels}));
  // The relevance reads all of an item's rows: out_emb, item_emb, out_bias.
  torch::Tensor rows = torch::cat({catalog_->rows(catalog_->LayerIndex("out_emb")),
                                   catalog_->rows(catalog_->LayerIndex("item_emb")),
                                   catalog_->rows(catalog_->LayerIndex("out_bias"))},
                                  1);
  ASSERT_EQ(rows.size(1), out.row_length + in.row_length + 1);
  torch::Tensor expect = torch::matmul(chord_->hypernet()->relevance_proj->forward(emb), rows.t()) /
                         std::sqrt(static_cast<double>(rows.size(1)));
  EXPECT_TRUE(torch::allclose(s.relevance, expect, 1e-4, 1e-5));
  auto keys = [&](const ChordLayer& l) { return s.log_score.slice(1, l.offset, l.offset + l.channels); };
  EXPECT_TRUE(torch::equal(keys(out), keys(in)));
  EXPECT_TRUE(torch::equal(keys(out), keys(bias)));
  EXPECT_TRUE(keys(users).lt(keys(out).amin()).all().item<bool>());
  // Every user row is in a tier at least as low as every item row; the
  // dense layers at least as high; plans differ per user.
  torch::Tensor codes = chord_->GenerateCodes(emb).value();
  auto codes_of = [&](const ChordLayer& l) { return codes.slice(1, l.offset, l.offset + l.channels); };
  for (int64_t u = 0; u < 3; ++u) {
    EXPECT_GE(codes_of(users)[u].amin().item<int64_t>(), codes_of(out)[u].amax().item<int64_t>());
    EXPECT_LE(codes_of(Layer("fc1"))[u].amax().item<int64_t>(), codes_of(out)[u].amin().item<int64_t>());
  }
  EXPECT_FALSE(torch::equal(codes_of(out)[0], codes_of(out)[1]));
}

TEST_F(ChordCaserRelevanceTest, PlanKernelMatchesAssignTiers) {
  ExpectKernelMatchesAssignTiers(*chord_, *catalog_, 40);
}

TEST_F(ChordCaserRelevanceTest, TrainingImitatesTheBackbonesItemScores) {
  ExpectRelevanceTrainingLearns(*chord_, model_, split_, 6, {4, 3, 3, 2}, 0.8);
}

TEST_F(ChordCaserRelevanceTest, ADeviceKeepsItsOwnUserRowAtTheTopTier) {
  const ChordLayer& users = Layer("user_emb");
  std::vector<uint8_t> codes(static_cast<size_t>(catalog_->total_channels()), 3);
  ASSERT_THAT(KeepOwnRow(*catalog_, codes, 7), IsOk());
  for (int64_t c = 0; c < catalog_->total_channels(); ++c) {
    EXPECT_EQ(codes[c], c == users.offset + 7 ? 0 : 3) << c;
  }
  EXPECT_THAT(KeepOwnRow(*catalog_, codes, users.channels),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("not a row")));
  EXPECT_FALSE(KeepOwnRow(*catalog_, codes, -1).ok());
  std::vector<uint8_t> short_codes(3, 3);
  EXPECT_FALSE(KeepOwnRow(*catalog_, short_codes, 0).ok());
  // Batched, with the value that means tier 0 (a bit-width here).
  torch::Tensor bits = torch::full({2, catalog_->total_channels()}, 2, torch::kLong);
  const std::vector<int32_t> who = {4, 9};
  ASSERT_THAT(KeepOwnRows(*catalog_, bits, who, 8), IsOk());
  EXPECT_EQ(bits.eq(8).sum().item<int64_t>(), 2);
  EXPECT_EQ(bits[0][users.offset + 4].item<int64_t>(), 8);
  EXPECT_EQ(bits[1][users.offset + 9].item<int64_t>(), 8);
  const std::vector<int32_t> one = {4};
  EXPECT_FALSE(KeepOwnRows(*catalog_, bits, one).ok());
  // A backbone without a per-user table (SASRec) is left alone.
  auto sasrec = testing::TinyModel(Backbone::kSasRec, split_);
  auto sas_catalog = ChannelCatalog::Create(*sasrec).value();
  std::vector<uint8_t> sas_codes(static_cast<size_t>(sas_catalog.total_channels()), 3);
  ASSERT_THAT(KeepOwnRow(sas_catalog, sas_codes, 5), IsOk());
  EXPECT_EQ(std::count(sas_codes.begin(), sas_codes.end(), 3), sas_catalog.total_channels());
}

TEST_F(ChordCaserRelevanceTest, ADeviceKeepsItsWindowRowsAtTheTopTier) {
  const ChordLayer& in = Layer("item_emb");
  ASSERT_EQ(InputOnlyItemLayer(*catalog_), catalog_->LayerIndex("item_emb"));
  std::vector<uint8_t> codes(static_cast<size_t>(catalog_->total_channels()), 3);
  const std::vector<int64_t> window = {0, 0, 2, 5, 2};  // padding, a repeat
  ASSERT_THAT(KeepWindowRows(*catalog_, codes, window), IsOk());
  for (int64_t c = 0; c < catalog_->total_channels(); ++c) {
    const bool kept = c == in.offset + 2 || c == in.offset + 5;
    EXPECT_EQ(codes[c], kept ? 0 : 3) << c;
  }
  const std::vector<int64_t> bad = {in.channels};
  EXPECT_THAT(KeepWindowRows(*catalog_, codes, bad),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("not a row")));
  const std::vector<int64_t> negative = {-1};
  EXPECT_FALSE(KeepWindowRows(*catalog_, codes, negative).ok());
  std::vector<uint8_t> short_codes(3, 3);
  EXPECT_FALSE(KeepWindowRows(*catalog_, short_codes, window).ok());
  // Batched, with the value that means tier 0 (a bit-width here).
  torch::Tensor bits = torch::full({2, catalog_->total_channels()}, 2, torch::kLong);
  torch::Tensor windows = torch::tensor({0, 1, 3, 4, 4, 1}, torch::kLong).view({2, 3});
  ASSERT_THAT(KeepWindowRows(*catalog_, bits, windows, 8), IsOk());
  EXPECT_EQ(bits.eq(8).sum().item<int64_t>(), 4);
  EXPECT_EQ(bits[0][in.offset + 1].item<int64_t>(), 8);
  EXPECT_EQ(bits[0][in.offset + 3].item<int64_t>(), 8);
  EXPECT_EQ(bits[1][in.offset + 4].item<int64_t>(), 8);
  EXPECT_EQ(bits[1][in.offset + 1].item<int64_t>(), 8);
  EXPECT_FALSE(KeepWindowRows(*catalog_, bits, windows.slice(0, 0, 1)).ok());
  EXPECT_FALSE(KeepWindowRows(*catalog_, bits, windows.to(torch::kInt)).ok());
  // SASRec reads its one item table for every score: no input-only table.
  auto sasrec = testing::TinyModel(Backbone::kSasRec, split_);
  auto sas_catalog = ChannelCatalog::Create(*sasrec).value();
  EXPECT_EQ(InputOnlyItemLayer(sas_catalog), -1);
  std::vector<uint8_t> sas_codes(static_cast<size_t>(sas_catalog.total_channels()), 3);
  ASSERT_THAT(KeepWindowRows(sas_catalog, sas_codes, window), IsOk());
  EXPECT_EQ(std::count(sas_codes.begin(), sas_codes.end(), 3), sas_catalog.total_channels());
}

TEST_F(ChordCaserRelevanceTest, PlansLeaveRoomForTheWindowRows) {
  ChordOptions o = options_;
  o.window_rows = 3;
  auto with = ChordModel::Create(*catalog_, o);
  ASSERT_THAT(with.status(), IsOk());
  const double room = 3.0 * static_cast<double>(Layer("item_emb").row_length) /
                      static_cast<double>(catalog_->total_elements());
  EXPECT_NEAR((*with)->fractions()[0], chord_->fractions()[0] - room, 1e-12);
  EXPECT_NEAR((*with)->fractions()[3], chord_->fractions()[3] + room, 1e-12);
  o.window_rows = -1;
  EXPECT_FALSE(ChordModel::Create(*catalog_, o).ok());
}

TEST_F(ChordCaserRelevanceTest, StaticBitsLeaveRoomForTheWindowRows) {
  const std::vector<int> allowed = {2, 3, 4, 8};
  auto bits = StaticChannelBits(*catalog_, {}, 3.0, allowed, /*window_rows=*/5);
  ASSERT_THAT(bits.status(), IsOk());
  // A device that moves its own user row and its five window rows to the
  // widest width still meets the budget.
  torch::Tensor b = torch::tensor(std::vector<int64_t>(bits->begin(), bits->end())).unsqueeze(0);
  const std::vector<int32_t> who = {3};
  ASSERT_THAT(KeepOwnRows(*catalog_, b, who, 8), IsOk());
  ASSERT_THAT(KeepWindowRows(*catalog_, b, torch::tensor({1, 2, 3, 4, 5}, torch::kLong).view({1, 5}), 8),
              IsOk());
  const double avg = (b[0].to(torch::kFloat64) * catalog_->elements().to(torch::kFloat64)).sum().item<double>() /
                     static_cast<double>(catalog_->total_elements());
  EXPECT_LE(avg, 3.0 + 1e-9);
  EXPECT_FALSE(StaticChannelBits(*catalog_, {}, 3.0, allowed, -1).ok());
}

TEST_F(ChordModelTest, StaticBitsPerLayerIgnoreWhereInTheLayerTheTraceFell) {
  const ChordLayer& items = catalog_->layers()[catalog_->LayerIndex("item_emb")];
  const std::vector<int> allowed = {2, 3, 4, 8};
  // The same trace mass on item_emb's row 1, then on row 2.
  std::map<std::string, std::vector<double>> a, b;
  for (auto* m : {&a, &b}) {
    for (const ChordLayer& l : catalog_->layers()) (*m)[l.name] = std::vector<double>(l.channels, 1.0);
    (*m)["item_emb"].assign(items.channels, 0.0);
  }
  a["item_emb"][1] = 50.0;
  b["item_emb"][2] = 50.0;
  auto run = [&](const std::map<std::string, std::vector<double>>& s, StaticSensitivity g) {
    return StaticChannelBits(*catalog_, s, 3.0, allowed, 0, g).value();
  };
  // Per channel: the row that holds the trace gets the wider width.
  const std::vector<int> ca = run(a, StaticSensitivity::kChannel), cb = run(b, StaticSensitivity::kChannel);
  EXPECT_GT(ca[items.offset + 1], ca[items.offset + 2]);
  EXPECT_GT(cb[items.offset + 2], cb[items.offset + 1]);
  // Per layer: the same allocation either way, within the budget.
  const std::vector<int> la = run(a, StaticSensitivity::kLayer), lb = run(b, StaticSensitivity::kLayer);
  EXPECT_EQ(la, lb);
  double bits = 0;
  for (size_t c = 0; c < la.size(); ++c) bits += la[c] * catalog_->elements()[c].item<double>();
  EXPECT_LE(bits / static_cast<double>(catalog_->total_elements()), 3.0 + 1e-9);
  EXPECT_EQ(ParseStaticSensitivity("layer").value(), StaticSensitivity::kLayer);
  EXPECT_EQ(ParseStaticSensitivity("channel").value(), StaticSensitivity::kChannel);
  EXPECT_THAT(ParseStaticSensitivity("row").status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace qfleet::ml::chord
