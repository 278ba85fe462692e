#include "ml/served_eval.h"

#include <cmath>
#include <limits>
#include <numeric>

#include <torch/torch.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/status_matchers.h"
#include "tests/ml/test_data.h"
#include "ml/trainer.h"

namespace qfleet::ml {
namespace {

using ::testing::HasSubstr;

// A CNN trained for one epoch on the quadrant task (accuracy near 1).
FmnistCnn TrainedCnn(const ImageDataset& data) {
  torch::set_num_threads(1);
  std::vector<int64_t> idx(data.count);
  std::iota(idx.begin(), idx.end(), 0);
  TrainOptions opt;
  opt.epochs = 1;
  opt.seed = 3;
  FmnistCnn model = MakeFmnistCnn(1);
  EXPECT_OK(TrainClassifier(model, data, idx, opt).status());
  return model;
}

// Squared error of quantizing the conv1 ReLU output of `data` with `step`.
double Conv1Error(FmnistCnn& model, const ImageDataset& data, int bits, double step) {
  torch::NoGradGuard no_grad;
  std::vector<int64_t> idx(data.count);
  std::iota(idx.begin(), idx.end(), 0);
  auto [x, y] = MakeBatch(data, idx.data(), idx.size());
  const torch::Tensor a = torch::relu(model->conv1->forward(x));
  const double levels = (1 << bits) - 1;
  const torch::Tensor q = torch::clamp(torch::round(a / step), 0, levels) * step;
  return (q - a).pow(2).sum().item<double>();
}

TEST(ServedEvalTest, CalibratedStepsBeatMaxScalingAndKeepAccuracyAt8Bits) {
  const ImageDataset test = test_data::QuadrantData(200, 4);
  FmnistCnn model = TrainedCnn(test_data::QuadrantData(256, 3));
  // The calibration sample, as the coordinator's proxy set.
  const ImageDataset train = test_data::QuadrantData(64, 7);
  ASSERT_OK_AND_ASSIGN(double fp32, EvaluateServedAccuracy(model, test, 0, {}));
  EXPECT_GT(fp32, 0.9);

  ASSERT_OK_AND_ASSIGN(std::vector<double> s8, CalibrateActivationSteps(model, train, 8));
  ASSERT_EQ(s8.size(), kServedActPoints);
  for (double s : s8) EXPECT_TRUE(s > 0 && std::isfinite(s)) << s;
  ASSERT_OK_AND_ASSIGN(double a8, EvaluateServedAccuracy(model, test, 8, s8));
  EXPECT_NEAR(a8, fp32, 0.02);

  // At 2 bits the MSE observer clips: its step for conv1 is below max / 3
  // and its squared error is no larger than max scaling's.
  ASSERT_OK_AND_ASSIGN(std::vector<double> s2, CalibrateActivationSteps(model, train, 2));
  std::vector<int64_t> idx(train.count);
  std::iota(idx.begin(), idx.end(), 0);
  double max_step = 0;
  {
    torch::NoGradGuard no_grad;
    auto [x, y] = MakeBatch(train, idx.data(), idx.size());
    max_step = torch::relu(model->conv1->forward(x)).max().item<double>() / 3.0;
  }
  EXPECT_LT(s2[0], max_step);
  EXPECT_LE(Conv1Error(model, train, 2, s2[0]), Conv1Error(model, train, 2, max_step));
  // Fewer bits, coarser grid: each 2-bit step is larger than the 8-bit one.
  for (size_t p = 0; p < kServedActPoints; ++p) EXPECT_GT(s2[p], s8[p]) << p;
}

TEST(ServedEvalTest, CalibrationIsDeterministic) {
  const ImageDataset train = test_data::QuadrantData(64, 5);
  FmnistCnn model = MakeFmnistCnn(2);
  ASSERT_OK_AND_ASSIGN(std::vector<double> a, CalibrateActivationSteps(model, train, 4));
  ASSERT_OK_AND_ASSIGN(std::vector<double> b, CalibrateActivationSteps(model, train, 4));
  EXPECT_EQ(a, b);
}

TEST(ServedEvalTest, RefusesBadInput) {
  const ImageDataset data = test_data::QuadrantData(16, 6);
  const ImageDataset empty;
  FmnistCnn model = MakeFmnistCnn(2);
  EXPECT_THAT(CalibrateActivationSteps(model, empty, 4).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_THAT(CalibrateActivationSteps(model, data, 0).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1..8")));
  EXPECT_THAT(CalibrateActivationSteps(model, data, 9).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(EvaluateServedAccuracy(model, empty, 0, {}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_THAT(EvaluateServedAccuracy(model, data, 9, {1, 1, 1}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0..8")));
  EXPECT_THAT(EvaluateServedAccuracy(model, data, 4, {1, 1}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("2 activation steps")));
  EXPECT_THAT(EvaluateServedAccuracy(model, data, 4, {1, 0, 1}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("step")));
  EXPECT_THAT(
      EvaluateServedAccuracy(model, data, 4, {1, std::numeric_limits<double>::quiet_NaN(), 1})
          .status(),
      StatusIs(absl::StatusCode::kInvalidArgument));
  // A model that yields NaN activations cannot be calibrated.
  {
    torch::NoGradGuard no_grad;
    model->conv1->bias.fill_(std::numeric_limits<float>::quiet_NaN());
  }
  EXPECT_THAT(CalibrateActivationSteps(model, data, 4).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("activation point 0")));
}

}  // namespace
}  // namespace qfleet::ml
