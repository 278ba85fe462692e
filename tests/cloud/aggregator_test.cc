#include "cloud/aggregator.h"

#include <cmath>

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

}  // namespace
}  // namespace qfleet::cloud
