#include "ml/trainer.h"

#include <numeric>
#include <random>

#include <torch/torch.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/status_matchers.h"
#include "ml/model_io.h"

namespace qfleet::ml {
namespace {

// A learnable synthetic task: the label is which quadrant holds a bright
// square; 4 classes, 28x28 images.
ImageDataset QuadrantData(int n, uint64_t seed) {
  ImageDataset d;
  d.count = n;
  d.rows = d.cols = 28;
  d.num_classes = 10;
  d.pixels.assign(n * 28 * 28, 0);
  d.labels.resize(n);
  std::mt19937 rng(seed);
  for (int i = 0; i < n; ++i) {
    int label = rng() % 4;
    d.labels[i] = label;
    int r0 = (label / 2) * 14 + 3, c0 = (label % 2) * 14 + 3;
    for (int r = r0; r < r0 + 8; ++r)
      for (int c = c0; c < c0 + 8; ++c) d.pixels[i * 784 + r * 28 + c] = 200 + rng() % 50;
  }
  return d;
}

TEST(TrainerTest, LearnsASimpleTaskAndIsDeterministic) {
  torch::set_num_threads(1);
  ImageDataset data = QuadrantData(256, 3);
  std::vector<int64_t> idx(256);
  std::iota(idx.begin(), idx.end(), 0);
  TrainOptions opt;
  opt.epochs = 2;
  opt.seed = 9;
  FmnistCnn a = MakeFmnistCnn(1);
  ASSERT_OK_AND_ASSIGN(TrainStats sa, TrainClassifier(a, data, idx, opt));
  FmnistCnn b = MakeFmnistCnn(1);
  ASSERT_OK_AND_ASSIGN(TrainStats sb, TrainClassifier(b, data, idx, opt));
  EXPECT_EQ(sa.steps, 16);
  EXPECT_EQ(sa.loss, sb.loss);
  EXPECT_EQ(ModuleToContainer(*a).tensors[0].values, ModuleToContainer(*b).tensors[0].values);
  ASSERT_OK_AND_ASSIGN(double acc, EvaluateAccuracy(a, QuadrantData(200, 4)));
  EXPECT_GT(acc, 0.9);
}

TEST(TrainerTest, MaxStepsCapsTraining) {
  ImageDataset data = QuadrantData(100, 1);
  std::vector<int64_t> idx(100);
  std::iota(idx.begin(), idx.end(), 0);
  TrainOptions opt;
  opt.max_steps = 2;
  FmnistCnn m = MakeFmnistCnn(1);
  ASSERT_OK_AND_ASSIGN(TrainStats s, TrainClassifier(m, data, idx, opt));
  EXPECT_EQ(s.steps, 2);
}

TEST(TrainerErrorTest, RejectsEmptyOutOfRangeAndBadOptions) {
  ImageDataset data = QuadrantData(10, 1);
  FmnistCnn m = MakeFmnistCnn(1);
  EXPECT_THAT(TrainClassifier(m, data, {}, {}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(TrainClassifier(m, data, {10}, {}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(TrainClassifier(m, data, {-1}, {}), StatusIs(absl::StatusCode::kInvalidArgument));
  TrainOptions bad;
  bad.learning_rate = NAN;
  EXPECT_THAT(TrainClassifier(m, data, {0}, bad), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(EvaluateAccuracy(m, ImageDataset{}), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace qfleet::ml
