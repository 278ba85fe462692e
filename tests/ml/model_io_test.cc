#include "ml/model_io.h"

#include <torch/torch.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/status_matchers.h"
#include "ml/fmnist_cnn.h"

namespace qfleet::ml {
namespace {

TEST(ModelIoTest, ContainerRoundTripsEveryParameter) {
  FmnistCnn a = MakeFmnistCnn(1);
  FmnistCnn b = MakeFmnistCnn(2);
  TensorContainer c = ModuleToContainer(*a);
  EXPECT_EQ(c.tensors.size(), 8u);
  ASSERT_OK(LoadContainer(c, *b));
  auto pa = a->named_parameters();
  auto pb = b->named_parameters();
  for (const auto& item : pa) {
    EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << item.key();
  }
}

TEST(ModelIoTest, SameSeedSameWeights) {
  TensorContainer a = ModuleToContainer(*MakeFmnistCnn(5));
  TensorContainer b = ModuleToContainer(*MakeFmnistCnn(5));
  TensorContainer c = ModuleToContainer(*MakeFmnistCnn(6));
  EXPECT_EQ(a.tensors[0].values, b.tensors[0].values);
  EXPECT_NE(a.tensors[0].values, c.tensors[0].values);
}

TEST(ModelIoErrorTest, WrongShapeMissingAndExtraTensorsAreRejectedAndLeaveModelUnchanged) {
  FmnistCnn m = MakeFmnistCnn(1);
  TensorContainer good = ModuleToContainer(*m);
  TensorContainer before = good;

  TensorContainer wrong_shape = good;
  wrong_shape.tensors[0].shape = {16, 1, 25};
  EXPECT_THAT(LoadContainer(wrong_shape, *m), StatusIs(absl::StatusCode::kInvalidArgument));

  TensorContainer missing = good;
  missing.tensors.pop_back();
  EXPECT_THAT(LoadContainer(missing, *m), StatusIs(absl::StatusCode::kInvalidArgument));

  TensorContainer extra = good;
  Tensor t;
  t.name = "bogus";
  t.shape = {1};
  t.values = {0};
  extra.tensors.push_back(t);
  EXPECT_THAT(LoadContainer(extra, *m), StatusIs(absl::StatusCode::kInvalidArgument));

  TensorContainer after = ModuleToContainer(*m);
  for (size_t i = 0; i < before.tensors.size(); ++i) {
    EXPECT_EQ(before.tensors[i].values, after.tensors[i].values);
  }
}

}  // namespace
}  // namespace qfleet::ml
