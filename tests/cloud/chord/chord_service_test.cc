// The CHORD deployment path: the bundle the coordinator serves, the
// planner behind RequestPlan, and the device's decode of both.
#include <algorithm>
#include <cmath>

#include <torch/torch.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/plan_codec.h"
#include "common/status_matchers.h"
#include "ml/chord/chord_device.h"
#include "cloud/chord/chord_service.h"
#include "ml/chord/user_encoder.h"
#include "tests/cloud/chord/test_fixture.h"

namespace qfleet::ml::chord {
namespace {

using ::testing::HasSubstr;

class ChordServiceTest : public testing::TinyChordTest {
 protected:
  std::unique_ptr<DeviceBundle> Device() {
    auto d = DeviceBundleFromContainer(BundleContainer(*model_, *chord_), model_->config());
    EXPECT_OK(d.status());
    return d.ok() ? *std::move(d) : nullptr;
  }
};

TEST_F(ChordServiceTest, DeviceRebuildsBackboneAndEncoderFromTheBundle) {
  std::unique_ptr<DeviceBundle> d = Device();
  ASSERT_NE(d, nullptr);
  ASSERT_EQ(d->catalog.num_layers(), catalog_->num_layers());
  for (int64_t l = 0; l < catalog_->num_layers(); ++l) {
    EXPECT_EQ(d->catalog.layers()[l].name, catalog_->layers()[l].name);
    EXPECT_TRUE(torch::equal(d->catalog.rows(l), catalog_->rows(l)));
  }
  torch::Tensor h = torch::tensor({{0, 1, 2, 3}, {4, 5, 0, 2}}, torch::kLong);
  ASSERT_OK_AND_ASSIGN(torch::Tensor cloud, EncodeUsers(chord_->encoder(), h));
  ASSERT_OK_AND_ASSIGN(torch::Tensor device, EncodeUsers(d->encoder, h));
  EXPECT_TRUE(torch::equal(cloud, device));
}

TEST_F(ChordServiceTest, BundleWithoutEncoderIsRefused) {
  TensorContainer c = BundleContainer(*model_, *chord_);
  c.tensors.erase(std::remove_if(c.tensors.begin(), c.tensors.end(),
                                 [](const Tensor& t) {
                                   return t.name == std::string(kEncoderPrefix) + "mlp.weight";
                                 }),
                  c.tensors.end());
  auto d = DeviceBundleFromContainer(c, model_->config());
  EXPECT_THAT(d.status().message(), HasSubstr("mlp.weight"));
}

TEST_F(ChordServiceTest, PlannerIdNamesTheCutTheWeightsAndTheBackbone) {
  torch::Tensor mean = torch::zeros({1, options_.encoder.embed_dim});
  auto id = [&](const ChordOptions& o, std::vector<double> importance) {
    auto chord = std::shared_ptr<ChordModel>(ChordModel::Create(*catalog_, o).value());
    return ChordPlanner::Create(chord, mean, {}, std::move(importance)).value()->Id();
  };
  const std::string base = id(options_, {});
  EXPECT_EQ(id(options_, {}), base);  // the same inputs, the same id
  ChordOptions cut = options_;
  cut.tiers.reference_bits = {8, 4, 3, 2};
  EXPECT_NE(id(cut, {}), base);                 // another cut
  EXPECT_NE(id(options_, {8, 4, 2, 0.5}), base);  // other shipped weights
  // Another backbone under the same hypernetwork shapes.
  auto other = testing::TinyModel(Backbone::kSasRec, split_);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : other->parameters()) p.mul_(1.5);
  }
  ChannelCatalog moved = ChannelCatalog::Create(*other).value();
  auto chord = std::shared_ptr<ChordModel>(ChordModel::Create(moved, options_).value());
  EXPECT_NE(ChordPlanner::Create(chord, mean, {}).value()->Id(), base);
}

TEST_F(ChordServiceTest, PlannerPlansDecodeWithinTheBudgetOnTheDevice) {
  torch::Tensor mean = torch::zeros({1, options_.encoder.embed_dim});
  ASSERT_OK_AND_ASSIGN(auto planner, ChordPlanner::Create(chord_, mean, {}));
  EXPECT_EQ(planner->EmbedDim(), options_.encoder.embed_dim);
  EXPECT_EQ(planner->Id().size(), 16u);
  std::vector<float> e(2 * options_.encoder.embed_dim);
  for (size_t i = 0; i < e.size(); ++i) e[i] = std::sin(static_cast<float>(i));
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> plans, planner->Generate(e, {4, 9}));
  ASSERT_EQ(plans.size(), 2u);
  ASSERT_OK_AND_ASSIGN(PrecisionPlan p, DecodePlan(plans[1]));
  EXPECT_EQ(p.version, 9u);
  // ceil(channels / 4) code bytes plus the header and the layer names.
  size_t names = 0;
  for (const auto& n : p.layer_names) names += n.size();
  EXPECT_EQ(plans[1].size(), kPlanHeaderBytes + names + 5 * p.layer_names.size() +
                                 (catalog_->total_channels() + 3) / 4);
  std::unique_ptr<DeviceBundle> d = Device();
  for (double budget : {2.5, 3.0, 3.5}) {
    ASSERT_OK_AND_ASSIGN(DecodedPlan dp, DecodeDevicePlan(*d, plans[0], {}, budget,
                                                          BudgetDecodeOptions{{2, 3, 4, 8}, {8, 4, 2, 1}}));
    EXPECT_LE(dp.avg_bits, budget + 1e-9);
    EXPECT_EQ(static_cast<int64_t>(dp.channel_bits.size()), catalog_->total_channels());
  }
  EXPECT_EQ(planner->FleetPlanFor("static").status().code(), absl::StatusCode::kNotFound);
  EXPECT_OK(planner->FleetPlanFor("chord-mean").status());
  // Wrong sizes are refused.
  EXPECT_EQ(planner->Generate({1, 2}, {1}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ChordServiceTest, StaticPlanCarriesItsWidthsExactly) {
  std::vector<int> bits(catalog_->total_channels());
  for (size_t c = 0; c < bits.size(); ++c) bits[c] = std::vector<int>{2, 3, 4, 8}[c % 4];
  ASSERT_OK_AND_ASSIGN(cloud::FleetPlan plan, StaticFleetPlan(*catalog_, bits));
  EXPECT_EQ(plan.tier_bits, (std::vector<int>{8, 4, 3, 2}));
  std::unique_ptr<DeviceBundle> d = Device();
  ASSERT_OK_AND_ASSIGN(DecodedPlan dp, DecodeDevicePlan(*d, plan.bytes, plan.tier_bits, 3.0, {}));
  EXPECT_EQ(dp.channel_bits, bits);
  bits[0] = 5;
  EXPECT_THAT(StaticFleetPlan(*catalog_, bits).status().message(), HasSubstr("four widths"));
  bits.pop_back();
  EXPECT_EQ(StaticFleetPlan(*catalog_, bits).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ChordServiceTest, DeviceRefusesPlansForAnotherModel) {
  std::unique_ptr<DeviceBundle> d = Device();
  PrecisionPlan p;
  p.layer_names = {"not_a_layer"};
  p.channels = {static_cast<uint32_t>(catalog_->total_channels())};
  p.codes.assign(catalog_->total_channels(), 0);
  ASSERT_OK_AND_ASSIGN(std::string bytes, EncodePlan(p));
  EXPECT_EQ(DecodeDevicePlan(*d, bytes, {}, 3.0, {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(DecodeDevicePlan(*d, "garbage", {}, 3.0, {}).ok());
  torch::Tensor mean = torch::zeros({1, options_.encoder.embed_dim});
  ASSERT_OK_AND_ASSIGN(auto planner, ChordPlanner::Create(chord_, mean, {}));
  ASSERT_OK_AND_ASSIGN(cloud::FleetPlan fleet, planner->FleetPlanFor("chord-mean"));
  EXPECT_EQ(DecodeDevicePlan(*d, fleet.bytes, {9, 4, 3, 2}, 3.0, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ChordServiceTest, PlannerShipsItsTierWeightsAndTheDeviceDecodesWithThem) {
  torch::Tensor mean = torch::zeros({1, options_.encoder.embed_dim});
  ASSERT_OK_AND_ASSIGN(auto plain, ChordPlanner::Create(chord_, mean, {}));
  EXPECT_TRUE(plain->TierImportance().empty());
  ASSERT_OK_AND_ASSIGN(auto weighted, ChordPlanner::Create(chord_, mean, {}, {8, 4, 2, 0.01}));
  EXPECT_EQ(weighted->TierImportance(), (std::vector<double>{8, 4, 2, 0.01}));
  EXPECT_EQ(ChordPlanner::Create(chord_, mean, {}, {8, 4, 2}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ChordPlanner::Create(chord_, mean, {}, {8, 4, 2, -1}).status().code(),
            absl::StatusCode::kInvalidArgument);

  // Tiers cut for 4/4/4/1: with its default weights the device decodes
  // uniform widths; with the plan's weights it decodes the cut's table.
  ChordOptions o = options_;
  o.tiers.reference_bits = {4, 4, 4, 1};
  std::shared_ptr<ChordModel> cut(ChordModel::Create(*catalog_, o).value());
  torch::manual_seed(3);
  ASSERT_OK_AND_ASSIGN(std::vector<PrecisionPlan> plans,
                       cut->GeneratePlans(torch::randn({1, o.encoder.embed_dim}), 1));
  ASSERT_OK_AND_ASSIGN(std::string bytes, EncodePlan(plans[0]));
  std::unique_ptr<DeviceBundle> d = Device();
  const BudgetDecodeOptions own{{1, 2, 3, 4, 8}, {8, 4, 2, 1}};
  ASSERT_OK_AND_ASSIGN(DecodedPlan mine, DecodeDevicePlan(*d, bytes, {}, 3.0, own));
  ASSERT_OK_AND_ASSIGN(BudgetDecodeOptions told, WithTierImportance(own, {8, 4, 2, 0.01}));
  EXPECT_EQ(told.allowed_bits, own.allowed_bits);
  ASSERT_OK_AND_ASSIGN(DecodedPlan theirs, DecodeDevicePlan(*d, bytes, {}, 3.0, told));
  EXPECT_EQ(theirs.tier_bits[3], 1);
  EXPECT_GT(mine.tier_bits[3], 1);
  EXPECT_LE(theirs.avg_bits, 3.0 + 1e-9);

  // What comes off the network is checked.
  ASSERT_OK_AND_ASSIGN(BudgetDecodeOptions same, WithTierImportance(own, {}));
  EXPECT_EQ(same.tier_importance, own.tier_importance);
  for (const std::vector<double>& bad :
       {std::vector<double>{1, 2, 3}, std::vector<double>{8, 4, 2, 0},
        std::vector<double>{8, 4, std::nan(""), 1}, std::vector<double>{8, 4, 2, -1},
        std::vector<double>{8, 4, 2, 1, 1}, std::vector<double>{1e300, 4, 2, 1}}) {
    EXPECT_EQ(WithTierImportance(own, bad).status().code(), absl::StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace qfleet::ml::chord
