#include "ml/plan_apply.h"

#include <vector>

#include <torch/torch.h>

#include "common/quantizer.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ml/fmnist_cnn.h"
#include "ml/layer_weights.h"
#include "ml/model_io.h"

namespace qfleet::ml {
namespace {

using ::testing::HasSubstr;
constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

torch::Tensor Rtn(const torch::Tensor& w, const std::vector<int>& bits, const QuantOptions& q) {
  auto fake = FakeQuantizePerChannel(FromTorch("w", w), bits, q);
  EXPECT_TRUE(fake.ok()) << fake.status();
  return ToTorch(*fake).value().reshape(w.sizes());
}

std::vector<int> Cycle(int64_t n, std::vector<int> widths) {
  std::vector<int> out;
  for (int64_t i = 0; i < n; ++i) out.push_back(widths[i % widths.size()]);
  return out;
}

bool SameState(const torch::nn::Module& a, const TensorContainer& b) {
  const TensorContainer ca = ModuleToContainer(a);
  if (ca.tensors.size() != b.tensors.size()) return false;
  for (size_t i = 0; i < ca.tensors.size(); ++i) {
    if (ca.tensors[i].values != b.tensors[i].values) return false;
  }
  return true;
}

TEST(LayerWeightsTest, ListsConvAndLinearWeightsInOrder) {
  FmnistCnn model = MakeFmnistCnn(1);
  const auto layers = QuantizableLayers(*model);
  ASSERT_EQ(layers.size(), 4u);
  EXPECT_EQ(layers[0].layer, "conv1");
  EXPECT_EQ(layers[0].param_name, "conv1.weight");
  EXPECT_EQ(layers[1].channels, 32);
  EXPECT_EQ(layers[3].layer, "fc2");
  ASSERT_OK_AND_ASSIGN(LayerWeight fc1, FindLayer(*model, "fc1.weight"));
  EXPECT_EQ(fc1.layer, "fc1");
  EXPECT_TRUE(fc1.weight.is_same(model->fc1->weight));
  EXPECT_THAT(FindLayer(*model, "fc1.bias"), StatusIs(kInvalid, HasSubstr("conv1, conv2, fc1, fc2")));
}

// Per-channel widths in one pass: each weight equals common's
// FakeQuantizePerChannel of the original; other tensors are untouched.
TEST(ApplyChannelBitsTest, QuantizesNamedLayersPerChannel) {
  FmnistCnn model = MakeFmnistCnn(2);
  FmnistCnn reference = MakeFmnistCnn(2);
  const QuantOptions opt{QuantScheme::kAsymmetric, Observer::kMse};
  const std::vector<int> conv1_bits = Cycle(16, {1, 2, 3, 4, 8});
  ASSERT_OK(ApplyChannelBits(*model, {{"conv1", conv1_bits}, {"fc2.weight", {3}}}, opt));
  EXPECT_TRUE(torch::equal(model->conv1->weight, Rtn(reference->conv1->weight, conv1_bits, opt)));
  EXPECT_TRUE(torch::equal(model->fc2->weight, Rtn(reference->fc2->weight, {3}, opt)));
  EXPECT_TRUE(torch::equal(model->conv2->weight, reference->conv2->weight));
  EXPECT_TRUE(torch::equal(model->conv1->bias, reference->conv1->bias));
  for (int64_t c = 0; c < 16; ++c) {
    EXPECT_LE(std::get<0>(torch::_unique(model->conv1->weight[c])).numel(), 1 << conv1_bits[c]);
  }
}

// A plan's 2-bit tier codes map through tier_to_bits to the same result as
// the equivalent per-channel bit map.
TEST(ApplyPlanTest, MapsTiersToChannelBits) {
  PrecisionPlan plan;
  plan.version = 7;
  plan.layer_names = {"conv2", "fc2"};
  plan.channels = {32, 10};
  for (int i = 0; i < 42; ++i) plan.codes.push_back(static_cast<uint8_t>(i % 4));
  const std::array<int, 4> tiers = {2, 3, 4, 8};
  FmnistCnn a = MakeFmnistCnn(4);
  ASSERT_OK(ApplyPlan(*a, plan, tiers));
  FmnistCnn b = MakeFmnistCnn(4);
  ASSERT_OK(ApplyChannelBits(*b, {{"conv2", Cycle(32, {2, 3, 4, 8})},
                                  {"fc2", Cycle(10, {2, 3, 4, 8})}}));
  EXPECT_TRUE(torch::equal(a->conv2->weight, b->conv2->weight));
  EXPECT_TRUE(torch::equal(a->fc2->weight, b->fc2->weight));
  EXPECT_TRUE(torch::equal(a->fc1->weight, MakeFmnistCnn(4)->fc1->weight));
}

TEST(ApplyChannelBitsTest, RejectsBadMapsAndLeavesTheModuleUnchanged) {
  FmnistCnn model = MakeFmnistCnn(5);
  const TensorContainer before = ModuleToContainer(*model);
  // conv1 is valid and listed first; the error in a later layer must not
  // leave conv1 quantized.
  EXPECT_THAT(ApplyChannelBits(*model, {{"conv1", {4}}, {"fc9", {4}}}),
              StatusIs(kInvalid, HasSubstr("unknown layer")));
  EXPECT_THAT(ApplyChannelBits(*model, {{"conv1", {4}}, {"fc2", {4, 4}}}),
              StatusIs(kInvalid, HasSubstr("channels")));
  EXPECT_THAT(ApplyChannelBits(*model, {{"conv1", {4}}, {"fc2", {0}}}), StatusIs(kInvalid));
  EXPECT_THAT(ApplyChannelBits(*model, {{"conv1", {4}}, {"fc2", {9}}}), StatusIs(kInvalid));
  EXPECT_THAT(ApplyChannelBits(*model, {{"conv1", {4}}, {"conv1.weight", {4}}}),
              StatusIs(kInvalid, HasSubstr("twice")));
  EXPECT_TRUE(SameState(*model, before));
}

TEST(ApplyPlanTest, RejectsMismatchedPlans) {
  FmnistCnn model = MakeFmnistCnn(6);
  const TensorContainer before = ModuleToContainer(*model);
  PrecisionPlan plan;
  plan.layer_names = {"conv1", "fc2"};
  plan.channels = {16, 10};
  plan.codes.assign(26, 1);
  EXPECT_THAT(ApplyPlan(*model, plan, {2, 3, 4, 9}), StatusIs(kInvalid, HasSubstr("tier 3")));
  EXPECT_THAT(ApplyPlan(*model, plan, {0, 3, 4, 8}), StatusIs(kInvalid, HasSubstr("tier 0")));
  PrecisionPlan wrong_count = plan;
  wrong_count.channels = {16, 11};
  wrong_count.codes.assign(27, 1);
  EXPECT_THAT(ApplyPlan(*model, wrong_count, {2, 3, 4, 8}),
              StatusIs(kInvalid, HasSubstr("11 channels")));
  PrecisionPlan unknown = plan;
  unknown.layer_names[1] = "head";
  EXPECT_THAT(ApplyPlan(*model, unknown, {2, 3, 4, 8}), StatusIs(kInvalid, HasSubstr("unknown")));
  PrecisionPlan invalid = plan;
  invalid.codes.pop_back();
  EXPECT_THAT(ApplyPlan(*model, invalid, {2, 3, 4, 8}), StatusIs(kInvalid));
  EXPECT_TRUE(SameState(*model, before));
}

}  // namespace
}  // namespace qfleet::ml
