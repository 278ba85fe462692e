#include "cloud/aggregator.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/container_quant.h"
#include "common/status_matchers.h"

namespace qfleet::cloud {
namespace {

TensorContainer Model(float w0, float b0) {
  TensorContainer c;
  Tensor w;
  w.name = "w";
  w.shape = {2, 2};
  w.values = {w0, w0, w0, w0};
  Tensor b;
  b.name = "b";
  b.shape = {2};
  b.values = {b0, b0};
  c.tensors = {w, b};
  return c;
}

TEST(FedAvgModelsTest, WeightsBySampleCount) {
  TensorContainer global = Model(1, 0);
  ASSERT_OK_AND_ASSIGN(TensorContainer out,
                       FedAvgModels(global, {Model(1, 1), Model(5, -1)}, {3, 1}));
  // w: (3*1 + 1*5)/4 = 2; b: (3*1 - 1)/4 = 0.5
  EXPECT_THAT(out.Find("w")->values, testing::Each(2.0f));
  EXPECT_THAT(out.Find("b")->values, testing::Each(0.5f));
}

TEST(FedAvgModelsTest, MixesPackedAndFp32Models) {
  TensorContainer global = Model(0, 0);
  ASSERT_OK_AND_ASSIGN(TensorContainer packed, QuantizeContainer(Model(0.5f, 0.25f), 4));
  ASSERT_EQ(packed.Find("w")->dtype, DType::kPackedPerChannel);
  ASSERT_OK_AND_ASSIGN(TensorContainer out, FedAvgModels(global, {packed, Model(1.5f, 0)}, {1, 1}));
  for (float v : out.Find("w")->values) EXPECT_NEAR(v, 1.0f, 0.5f / 15);
}

TEST(FedAvgUpdatesTest, CountsADeltaAsTheGlobalModelPlusTheDelta) {
  TensorContainer global = Model(2, 1);
  // Upload 0 is a model (w 4, b 0); upload 1 a delta (+1, -1) from global:
  // the model (3, 0). w: (1*4 + 3*3)/4 = 3.25; b: (1*0 + 3*0)/4 = 0.
  ASSERT_OK_AND_ASSIGN(TensorContainer out, FedAvgUpdates(global, {Model(4, 0), Model(1, -1)},
                                                          {1, 3}, {false, true}));
  EXPECT_THAT(out.Find("w")->values, testing::Each(3.25f));
  EXPECT_THAT(out.Find("b")->values, testing::Each(0.0f));
  // A packed delta is dequantized before the global model is added.
  ASSERT_OK_AND_ASSIGN(TensorContainer packed, QuantizeContainer(Model(0.5f, 0.25f), 4));
  ASSERT_OK_AND_ASSIGN(out, FedAvgUpdates(global, {packed}, {1}, {true}));
  for (float v : out.Find("w")->values) EXPECT_NEAR(v, 2.5f, 0.5f / 7);
  EXPECT_THAT(out.Find("b")->values, testing::Each(1.25f));
  // No delta: the same as FedAvgModels.
  ASSERT_OK_AND_ASSIGN(TensorContainer a, FedAvgUpdates(global, {Model(1, 1), Model(5, -1)}, {3, 1},
                                                        {false, false}));
  ASSERT_OK_AND_ASSIGN(TensorContainer b, FedAvgModels(global, {Model(1, 1), Model(5, -1)}, {3, 1}));
  EXPECT_EQ(a.Find("w")->values, b.Find("w")->values);
  EXPECT_EQ(a.Find("b")->values, b.Find("b")->values);
}

TEST(FedAvgUpdatesTest, RejectsMismatchedFlagsAndBadDeltas) {
  TensorContainer global = Model(0, 0);
  EXPECT_THAT(FedAvgUpdates(global, {Model(1, 1)}, {1}, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, testing::HasSubstr("delta flags")));
  TensorContainer nan = Model(0, 0);
  nan.tensors[0].values[0] = NAN;
  EXPECT_THAT(FedAvgUpdates(global, {nan}, {1}, {true}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  TensorContainer wrong = Model(0, 0);
  wrong.tensors[0].shape = {4, 1};
  EXPECT_THAT(FedAvgUpdates(global, {wrong}, {1}, {true}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // Finite on its own, not once added to the model.
  EXPECT_THAT(FedAvgUpdates(Model(3e38f, 0), {Model(3e38f, 0)}, {1}, {true}),
              StatusIs(absl::StatusCode::kInvalidArgument, testing::HasSubstr("overflows")));
  EXPECT_OK(FedAvgUpdates(Model(3e38f, 0), {Model(3e38f, 0)}, {1}, {false}).status());
}

TEST(ValidateUpdateErrorTest, RejectsWrongShapeMissingExtraAndNonFinite) {
  TensorContainer global = Model(0, 0);
  TensorContainer wrong = Model(0, 0);
  wrong.tensors[0].shape = {4, 1};
  EXPECT_THAT(ValidateUpdate(global, wrong), StatusIs(absl::StatusCode::kInvalidArgument));
  TensorContainer missing = Model(0, 0);
  missing.tensors.pop_back();
  EXPECT_THAT(ValidateUpdate(global, missing), StatusIs(absl::StatusCode::kInvalidArgument));
  TensorContainer renamed = Model(0, 0);
  renamed.tensors[1].name = "c";
  EXPECT_THAT(ValidateUpdate(global, renamed), StatusIs(absl::StatusCode::kInvalidArgument));
  TensorContainer nan = Model(0, 0);
  nan.tensors[0].values[1] = NAN;
  EXPECT_THAT(ValidateUpdate(global, nan), StatusIs(absl::StatusCode::kInvalidArgument));
  TensorContainer inf = Model(0, 0);
  inf.tensors[1].values[0] = INFINITY;
  EXPECT_THAT(ValidateUpdate(global, inf), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(FedAvgModels(global, {}, {}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(FedAvgModels(global, {Model(0, 0)}, {1, 2}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(FedAvgModels(global, {Model(0, 0)}, {0}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// Added smallest first, as CapWeights' contract states.
double Sum(std::vector<double> w) {
  std::sort(w.begin(), w.end());
  return std::accumulate(w.begin(), w.end(), 0.0);
}

TEST(CapWeightsTest, ABillionSampleClaimEndsAtExactlyItsShare) {
  std::vector<double> weights(10, 100.0);
  weights.push_back(1e9);
  const double share = 4.0 / 11;
  ASSERT_OK_AND_ASSIGN(std::vector<double> out, CapWeights(weights, share));
  ASSERT_EQ(out.size(), 11u);
  for (size_t k = 0; k < 10; ++k) EXPECT_EQ(out[k], 100.0);
  // v = share * 1000 / (1 - share) = 4000 / 7.
  EXPECT_NEAR(out[10], 4000.0 / 7, 1e-9);
  EXPECT_LE(out[10], share * Sum(out));
  EXPECT_NEAR(out[10] / Sum(out), share, 1e-12);
}

TEST(CapWeightsTest, WaterFillsSeveralLargeWeightsAndLeavesTheRest) {
  // Capping only the largest 10 (v = 0.3 * 14 / 0.7 = 6) leaves the other 10
  // over it; capping both gives v = 0.3 * 4 / 0.4 = 3, above every 1.
  ASSERT_OK_AND_ASSIGN(std::vector<double> out, CapWeights({10, 1, 1, 10, 1, 1}, 0.3));
  EXPECT_THAT(out, testing::ElementsAre(testing::DoubleNear(3, 1e-12), 1, 1,
                                        testing::DoubleNear(3, 1e-12), 1, 1));
  EXPECT_LE(out[0], 0.3 * Sum(out));
  // Zeros stay zero and count for nothing: v = 0.5 * 8 / 0.5 = 8.
  ASSERT_OK_AND_ASSIGN(out, CapWeights({4, 0, 100, 4}, 0.5));
  EXPECT_THAT(out, testing::ElementsAre(4, 0, testing::DoubleNear(8, 1e-12), 4));
}

TEST(CapWeightsTest, WeightsWithinTheCapComeBackUnchanged) {
  std::vector<double> weights = {1, 2, 3};
  ASSERT_OK_AND_ASSIGN(std::vector<double> out, CapWeights(weights, 1.0));
  EXPECT_EQ(out, weights);
  ASSERT_OK_AND_ASSIGN(out, CapWeights(weights, 0.5));  // 3 is exactly half
  EXPECT_EQ(out, weights);
  ASSERT_OK_AND_ASSIGN(out, CapWeights({7}, 1.0));  // a lone update keeps its weight
  EXPECT_THAT(out, testing::ElementsAre(7));
  ASSERT_OK_AND_ASSIGN(out, CapWeights({2, 2, 0}, 0.5));
  EXPECT_THAT(out, testing::ElementsAre(2, 2, 0));
}

TEST(CapWeightsTest, EqualWeightsWhenNoCapCanHold) {
  // 3 updates, each at most 0.3 of the total: impossible; equal shares.
  ASSERT_OK_AND_ASSIGN(std::vector<double> out, CapWeights({5, 1, 2}, 0.3));
  EXPECT_THAT(out, testing::ElementsAre(1, 1, 1));
  ASSERT_OK_AND_ASSIGN(out, CapWeights({5, 1, 2}, 1.0 / 3));
  EXPECT_THAT(out, testing::ElementsAre(1, 1, 1));
  // Only the positive weights count: one of three cannot hold half.
  ASSERT_OK_AND_ASSIGN(out, CapWeights({0, 9, 0}, 0.5));
  EXPECT_THAT(out, testing::ElementsAre(0, 1, 0));
}

TEST(CapWeightsTest, IsDeterministicAndFollowsTheInputOrder) {
  std::vector<double> a = {3e6, 17, 250, 4, 1e4, 33, 90, 2e5};
  std::vector<double> b = {4, 2e5, 17, 3e6, 90, 250, 33, 1e4};
  ASSERT_OK_AND_ASSIGN(std::vector<double> out_a, CapWeights(a, 0.2));
  ASSERT_OK_AND_ASSIGN(std::vector<double> again, CapWeights(a, 0.2));
  ASSERT_OK_AND_ASSIGN(std::vector<double> out_b, CapWeights(b, 0.2));
  EXPECT_EQ(out_a, again);
  EXPECT_EQ(out_a[0], out_b[3]);  // 3e6
  EXPECT_EQ(out_a[7], out_b[1]);  // 2e5
  EXPECT_EQ(out_a[1], 17.0);
  EXPECT_LE(*std::max_element(out_a.begin(), out_a.end()), 0.2 * Sum(out_a));
  EXPECT_EQ(out_a[0], out_a[7]);  // both capped at the same level
}

TEST(CapWeightsErrorTest, RejectsBadWeightsAndShares) {
  EXPECT_THAT(CapWeights({}, 0.5), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CapWeights({1, -1}, 0.5), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CapWeights({1, NAN}, 0.5), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CapWeights({1, INFINITY}, 0.5), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CapWeights({0, 0}, 0.5),
              StatusIs(absl::StatusCode::kInvalidArgument, testing::HasSubstr("0")));
  EXPECT_THAT(CapWeights({1.5e308, 1.5e308}, 0.5),
              StatusIs(absl::StatusCode::kInvalidArgument, testing::HasSubstr("overflows")));
  for (double share : {0.0, -0.1, 1.5, double{NAN}, double{INFINITY}}) {
    EXPECT_THAT(CapWeights({1, 2}, share),
                StatusIs(absl::StatusCode::kInvalidArgument, testing::HasSubstr("max_share")));
  }
}

}  // namespace
}  // namespace qfleet::cloud
