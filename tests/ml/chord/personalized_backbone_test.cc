#include "ml/chord/personalized_backbone.h"

#include <torch/torch.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/seeded_random.h"
#include "common/status_matchers.h"
#include "ml/model_io.h"
#include "ml/plan_apply.h"
#include "ml/seqrec/seqrec_batches.h"
#include "tests/ml/chord/test_fixture.h"

namespace qfleet::ml::chord {
namespace {

class PersonalizedBackboneTest : public testing::TinyBackboneTest {
 protected:
  void SetUp() override {
    TinyBackboneTest::SetUp();
    view_ = PersonalizedBackbone::Create(model_, *catalog_).value();
    users_ = {0, 3, 7, 11};
    histories_ = MakeEvalHistories(split_, users_, seqrec::EvalStage::kTest, 15);
    users_t_ = torch::tensor(std::vector<int64_t>(users_.begin(), users_.end()));
    candidates_ = torch::randint(1, split_.num_items + 1, {4, 9}, torch::kLong);
  }

  std::unique_ptr<PersonalizedBackbone> view_;
  std::vector<int32_t> users_;
  torch::Tensor histories_, users_t_, candidates_;
};

TEST_P(PersonalizedBackboneTest, Fp32WeightsReproduceTheModel) {
  auto tables = QuantTables::Create(*catalog_, {32}).value();
  torch::NoGradGuard no_grad;
  UserWeights w = UserWeights::Hard(*catalog_, tables,
                                    torch::zeros({4, catalog_->total_channels()}, torch::kLong));
  torch::Tensor got = view_->Score(w, histories_, users_t_, candidates_);
  torch::Tensor want = model_->Score(histories_, users_t_, candidates_);
  EXPECT_TRUE(torch::allclose(got, want, 1e-4, 1e-4)) << (got - want).abs().max().item<float>();
}

TEST_P(PersonalizedBackboneTest, PerUserBitsEqualQuantizingTheWholeModel) {
  auto tables = QuantTables::Create(*catalog_, {2, 3, 4, 8}).value();
  torch::manual_seed(5);
  torch::Tensor index = torch::randint(0, 4, {4, catalog_->total_channels()}, torch::kLong);
  torch::NoGradGuard no_grad;
  torch::Tensor got = view_->Score(UserWeights::Hard(*catalog_, tables, index), histories_,
                                   users_t_, candidates_);
  const TensorContainer fp = ModuleToContainer(*model_);
  const int widths[4] = {2, 3, 4, 8};
  for (int64_t u = 0; u < 4; ++u) {
    auto copy = SeqRecModelFromContainer(fp, model_->config()).value();
    copy->eval();
    ChannelBitMap bits;
    for (const ChordLayer& l : catalog_->layers()) {
      std::vector<int> b;
      for (int64_t c = 0; c < l.channels; ++c) b.push_back(widths[index[u][l.offset + c].item<int64_t>()]);
      bits[l.name] = b;
    }
    ASSERT_THAT(ApplyChannelBits(*copy, bits), IsOk());
    torch::Tensor want = copy->Score(histories_.slice(0, u, u + 1), users_t_.slice(0, u, u + 1),
                                     candidates_.slice(0, u, u + 1));
    EXPECT_TRUE(torch::allclose(got.slice(0, u, u + 1), want, 1e-4, 1e-4))
        << "user " << u << " diff " << (got.slice(0, u, u + 1) - want).abs().max().item<float>();
  }
}

TEST_P(PersonalizedBackboneTest, OneHotSoftMixEqualsHardAndHasGradient) {
  auto tables = QuantTables::Create(*catalog_, {8, 4, 3, 2}).value();
  torch::manual_seed(6);
  torch::Tensor index = torch::randint(0, 4, {4, catalog_->total_channels()}, torch::kLong);
  torch::Tensor mix = torch::one_hot(index, 4).to(torch::kFloat32).requires_grad_(true);
  torch::Tensor soft = view_->Score(UserWeights::Soft(*catalog_, tables, mix), histories_,
                                    users_t_, candidates_);
  torch::Tensor hard = view_->Score(UserWeights::Hard(*catalog_, tables, index), histories_,
                                    users_t_, candidates_);
  EXPECT_TRUE(torch::allclose(soft, hard, 1e-5, 1e-5));
  soft.sum().backward();
  EXPECT_GT(mix.grad().abs().sum().item<double>(), 0.0);
}

TEST_P(PersonalizedBackboneTest, PerUserLossMatchesTheModelLoss) {
  auto tables = QuantTables::Create(*catalog_, {32}).value();
  TrainNegativeSampler sampler(split_);
  SeededRandom rng(3);
  const SeqRecConfig& c = model_->config();
  SeqRecTrainBatch batch;
  if (GetParam() == Backbone::kSasRec) {
    std::vector<int32_t> one = {5};
    batch = MakeSasRecBatch(split_, one, c.max_length, sampler, rng);
  } else {
    std::vector<CaserInstance> inst = {CaserTrainInstances(split_, c.window, c.targets).front()};
    batch = MakeCaserBatch(split_, inst, c.window, c.targets, c.negatives, sampler, rng);
  }
  torch::NoGradGuard no_grad;
  UserWeights w = UserWeights::Hard(*catalog_, tables, torch::zeros({1, catalog_->total_channels()}, torch::kLong));
  torch::Tensor got = view_->Loss(w, batch);
  ASSERT_EQ(got.sizes(), (std::vector<int64_t>{1}));
  EXPECT_NEAR(got.item<double>(), model_->Loss(batch).item<double>(), 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Backbones, PersonalizedBackboneTest,
                         ::testing::Values(Backbone::kSasRec, Backbone::kCaser));

TEST(PersonalizedBackboneCreateTest, RejectsACatalogOfAnotherModel) {
  auto split = testing::TinySplit();
  auto sas = testing::TinyModel(Backbone::kSasRec, split);
  auto caser = testing::TinyModel(Backbone::kCaser, split);
  auto catalog = ChannelCatalog::Create(*caser).value();
  EXPECT_THAT(PersonalizedBackbone::Create(sas, catalog).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(PersonalizedBackbone::Create(nullptr, catalog).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace qfleet::ml::chord
