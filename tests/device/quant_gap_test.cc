#include "device/quant_gap.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/container_quant.h"
#include "common/status_matchers.h"
#include "ml/fmnist_cnn.h"
#include "ml/model_io.h"

namespace qfleet::device {
namespace {

ImageDataset Noise(int64_t count) {
  ImageDataset d;
  d.count = count;
  d.rows = d.cols = 28;
  std::mt19937 rng(5);
  d.pixels.resize(count * 28 * 28);
  for (uint8_t& p : d.pixels) p = static_cast<uint8_t>(rng() & 0xff);
  d.labels.resize(count);
  for (int64_t i = 0; i < count; ++i) d.labels[i] = static_cast<uint8_t>(i % 10);
  return d;
}

// All-zero weights give every class the logit fc2.bias[c], so the loss is
// logsumexp(b) - mean of b[label] over the scored samples: the gap between
// two such models is known in closed form.
TensorContainer BiasOnly(const TensorContainer& shape, const std::vector<float>& fc2_bias) {
  TensorContainer c = shape;
  for (Tensor& t : c.tensors) {
    std::fill(t.values.begin(), t.values.end(), 0.0f);
    if (t.name == "fc2.bias") t.values = fc2_bias;
  }
  return c;
}

double BiasOnlyLoss(const std::vector<float>& b, const ImageDataset& d,
                    const std::vector<int64_t>& idx) {
  double z = 0;
  for (float v : b) z += std::exp(static_cast<double>(v));
  double sum = 0;
  for (int64_t i : idx) sum += std::log(z) - b[d.labels[i]];
  return sum / static_cast<double>(idx.size());
}

TEST(QuantizationGapTest, IsTheLossDifferenceOnTheScoredSamples) {
  const ImageDataset data = Noise(64);
  std::vector<int64_t> idx(40);
  std::iota(idx.begin(), idx.end(), 3);
  const TensorContainer net = ml::ModuleToContainer(*ml::MakeFmnistCnn(3));
  ASSERT_OK_AND_ASSIGN(double same, QuantizationGap(net, net, data, idx, 1));
  EXPECT_EQ(same, 0.0);

  std::vector<float> flat(10, 0.0f), tilted(10);
  for (int c = 0; c < 10; ++c) tilted[c] = 0.3f * static_cast<float>(c);
  const TensorContainer a = BiasOnly(net, flat), b = BiasOnly(net, tilted);
  ASSERT_OK_AND_ASSIGN(double gap, QuantizationGap(a, b, data, idx, 1));
  EXPECT_NEAR(gap, BiasOnlyLoss(tilted, data, idx) - BiasOnlyLoss(flat, data, idx), 1e-5);
  ASSERT_OK_AND_ASSIGN(double back, QuantizationGap(b, a, data, idx, 1));
  EXPECT_NEAR(back, -gap, 1e-6);

  // More samples than kQuantGapImages: a seeded subset, the same for the
  // same seed. A 2-bit model of a real network loses something on it.
  const ImageDataset many = Noise(static_cast<int64_t>(kQuantGapImages) + 50);
  std::vector<int64_t> all(many.count);
  std::iota(all.begin(), all.end(), 0);
  ASSERT_OK_AND_ASSIGN(TensorContainer q2, FakeQuantizeContainer(net, 2));
  ASSERT_OK_AND_ASSIGN(double s1, QuantizationGap(net, q2, many, all, 9));
  ASSERT_OK_AND_ASSIGN(double s2, QuantizationGap(net, q2, many, all, 9));
  EXPECT_EQ(s1, s2);
  EXPECT_NE(s1, 0.0);
}

TEST(QuantizationGapTest, RefusesEmptyOrOutOfRangeSamplesAndWrongModels) {
  const ImageDataset data = Noise(20);
  const TensorContainer local = ml::ModuleToContainer(*ml::MakeFmnistCnn(3));
  EXPECT_EQ(QuantizationGap(local, local, data, {}, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(QuantizationGap(local, local, data, {0, 20}, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(QuantizationGap(local, local, data, {-1}, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  TensorContainer wrong = local;
  wrong.tensors.pop_back();
  EXPECT_FALSE(QuantizationGap(local, wrong, data, {0, 1}, 1).ok());
}

}  // namespace
}  // namespace qfleet::device
