#include "common/matryoshka.h"

#include <cstdio>
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/quantizer.h"
#include "common/status_matchers.h"

namespace qfleet {
namespace {

Tensor RandomWeights(int channels, int row, uint64_t seed) {
  Tensor t;
  t.name = "w";
  t.shape = {channels, row};
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0, 0.05f);
  for (int i = 0; i < channels * row; ++i) t.values.push_back(dist(rng));
  return t;
}

double Mse(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
  return s / a.size();
}

// Slicing an 8-bit model to b bits costs at most a small factor over
// quantizing the FP32 weights to b bits directly (measured: see comments).
TEST(MatryoshkaTest, SlicedErrorIsCloseToDirectQuantization) {
  Tensor fp = RandomWeights(32, 400, 1);
  ASSERT_OK_AND_ASSIGN(Tensor q8, QuantizePerChannel(fp, {8}, QuantOptions()));
  for (int b : {2, 3, 4, 6}) {
    ASSERT_OK_AND_ASSIGN(Tensor sliced, SliceToBits(q8, {b}));
    ASSERT_OK_AND_ASSIGN(Tensor direct, QuantizePerChannel(fp, {b}, QuantOptions()));
    ASSERT_OK_AND_ASSIGN(std::vector<float> vs, DequantizeTensor(sliced));
    ASSERT_OK_AND_ASSIGN(std::vector<float> vd, DequantizeTensor(direct));
    const double ratio = Mse(fp.values, vs) / Mse(fp.values, vd);
    std::printf("slice 8->%d bits: MSE %.3g vs direct %.3g (ratio %.3f)\n", b, Mse(fp.values, vs),
                Mse(fp.values, vd), ratio);
    EXPECT_LT(ratio, 1.3) << b << " bits";
    EXPECT_GT(ratio, 0.5) << b << " bits";
  }
}

TEST(MatryoshkaTest, MixedBitsPerChannelAndEightIsIdentity) {
  Tensor fp = RandomWeights(4, 9, 2);
  ASSERT_OK_AND_ASSIGN(Tensor q8, QuantizePerChannel(fp, {8}, QuantOptions()));
  ASSERT_OK_AND_ASSIGN(Tensor same, SliceToBits(q8, {8}));
  EXPECT_EQ(same.packed, q8.packed);
  EXPECT_EQ(same.scales, q8.scales);
  ASSERT_OK_AND_ASSIGN(Tensor mixed, SliceToBits(q8, {8, 4, 2, 1}));
  EXPECT_THAT(mixed.bits, testing::ElementsAre(8, 4, 2, 1));
  EXPECT_OK(ValidateTensor(mixed));
}

TEST(MatryoshkaErrorTest, RejectsNonEightBitInputsAndBadBits) {
  Tensor fp = RandomWeights(4, 9, 3);
  EXPECT_THAT(SliceToBits(fp, {4}), StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_OK_AND_ASSIGN(Tensor q4, QuantizePerChannel(fp, {4}, QuantOptions()));
  EXPECT_THAT(SliceToBits(q4, {2}), StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_OK_AND_ASSIGN(Tensor q8, QuantizePerChannel(fp, {8}, QuantOptions()));
  EXPECT_THAT(SliceToBits(q8, {0}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(SliceToBits(q8, {9}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(SliceToBits(q8, {4, 4}), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace qfleet
