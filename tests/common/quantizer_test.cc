#include "common/quantizer.h"

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "common/status_matchers.h"
#include "common/tensor_container.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qfleet {
namespace {

using ::testing::HasSubstr;
constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

// Channel c has its own spread and offset so channels need different params.
Tensor RandomWeights(int64_t channels, int64_t row, uint32_t seed) {
  Tensor t;
  t.name = "w";
  t.shape = {channels, row};
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (int64_t c = 0; c < channels; ++c) {
    const float spread = 0.05f * static_cast<float>(c + 1);
    const float offset = 0.02f * static_cast<float>(c % 3) - 0.02f;
    for (int64_t i = 0; i < row; ++i) t.values.push_back(offset + spread * dist(rng));
  }
  return t;
}

double SumSquaredError(const std::vector<float>& a, const std::vector<float>& b) {
  double e = 0.0;
  for (size_t i = 0; i < a.size(); ++i) e += (double{a[i]} - b[i]) * (double{a[i]} - b[i]);
  return e;
}

// |x - fq(x)| <= scale / 2 for every element (min-max never clips), with a
// relative slack for float rounding in x / scale.
void ExpectErrorWithinHalfStep(const Tensor& fp32, int bits, QuantScheme scheme) {
  const QuantOptions opt{scheme, Observer::kMinMax};
  ASSERT_OK_AND_ASSIGN(const Tensor q, QuantizePerChannel(fp32, {bits}, opt));
  ASSERT_OK_AND_ASSIGN(const std::vector<float> deq, DequantizeTensor(q));
  const int64_t row = fp32.RowLength();
  for (int64_t c = 0; c < fp32.Channels(); ++c) {
    const double bound = q.scales[c] * 0.5 * (1.0 + 1e-5);
    for (int64_t i = 0; i < row; ++i) {
      const size_t k = static_cast<size_t>(c * row + i);
      ASSERT_LE(std::fabs(double{fp32.values[k]} - deq[k]), bound)
          << "bits " << bits << " channel " << c << " element " << i;
    }
  }
}

TEST(QuantizerTest, RoundTripErrorIsAtMostHalfAStepAtEveryWidth) {
  const Tensor w = RandomWeights(6, 257, 1);
  for (int bits = 1; bits <= 8; ++bits) {
    ExpectErrorWithinHalfStep(w, bits, QuantScheme::kAsymmetric);
    ExpectErrorWithinHalfStep(w, bits, QuantScheme::kSymmetric);
  }
}

TEST(QuantizerTest, ErrorShrinksAsBitsGrow) {
  const Tensor w = RandomWeights(4, 300, 2);
  double previous = std::numeric_limits<double>::infinity();
  for (int bits = 1; bits <= 8; ++bits) {
    ASSERT_OK_AND_ASSIGN(const Tensor fq, FakeQuantizePerChannel(w, {bits}, QuantOptions{}));
    const double err = SumSquaredError(w.values, fq.values);
    EXPECT_LT(err, previous) << bits;
    previous = err;
  }
}

TEST(QuantizerTest, SymmetricParamsFollowTheDocumentedFormula) {
  const float x[] = {-0.5f, 0.25f, 1.5f, -1.0f};
  for (int bits = 2; bits <= 8; ++bits) {
    ASSERT_OK_AND_ASSIGN(const ChannelParams p,
                         ChooseChannelParams(x, 4, bits, {QuantScheme::kSymmetric}));
    EXPECT_EQ(p.zero_point, 1 << (bits - 1));
    EXPECT_FLOAT_EQ(p.scale, 1.5f / static_cast<float>((1 << (bits - 1)) - 1));
    EXPECT_EQ(QuantizeValue(1.5f, p, bits), (1 << bits) - 1);
    EXPECT_EQ(DequantizeValue(QuantizeValue(0.0f, p, bits), p), 0.0f);
  }
}

TEST(QuantizerTest, AsymmetricParamsIncludeZeroExactly) {
  const float positive[] = {0.5f, 1.0f, 2.0f};  // range widened to [0, 2]
  ASSERT_OK_AND_ASSIGN(const ChannelParams p, ChooseChannelParams(positive, 3, 8, {}));
  EXPECT_FLOAT_EQ(p.scale, 2.0f / 255.0f);
  EXPECT_EQ(p.zero_point, 0);
  const float mixed[] = {-1.0f, 3.0f};
  for (int bits = 1; bits <= 8; ++bits) {
    ASSERT_OK_AND_ASSIGN(const ChannelParams m, ChooseChannelParams(mixed, 2, bits, {}));
    EXPECT_FLOAT_EQ(m.scale, 4.0f / static_cast<float>((1 << bits) - 1));
    EXPECT_EQ(DequantizeValue(QuantizeValue(0.0f, m, bits), m), 0.0f) << bits;
  }
}

TEST(QuantizerTest, OneBitSymmetricIsQuantizedAsAsymmetric) {
  const float x[] = {-0.3f, 0.9f, 0.1f};
  ASSERT_OK_AND_ASSIGN(const ChannelParams sym,
                       ChooseChannelParams(x, 3, 1, {QuantScheme::kSymmetric}));
  ASSERT_OK_AND_ASSIGN(const ChannelParams asym,
                       ChooseChannelParams(x, 3, 1, {QuantScheme::kAsymmetric}));
  EXPECT_EQ(sym.scale, asym.scale);
  EXPECT_EQ(sym.zero_point, asym.zero_point);
  EXPECT_FLOAT_EQ(asym.scale, 1.2f);
  EXPECT_EQ(asym.zero_point, 0);  // nearbyint(0.3 / 1.2) = 0: levels {0, 1.2}
}

TEST(QuantizerTest, ConstantChannelsAreReproducedExactly) {
  for (float c : {0.0f, 3.7f, -2.5f, 1e-3f, -1e30f}) {
    Tensor t;
    t.name = "const";
    t.shape = {2, 5};
    t.values.assign(10, c);
    t.values[5] = t.values[6] = t.values[7] = t.values[8] = t.values[9] = -c;
    for (int bits = 1; bits <= 8; ++bits) {
      for (QuantScheme s : {QuantScheme::kSymmetric, QuantScheme::kAsymmetric}) {
        for (Observer o : {Observer::kMinMax, Observer::kPercentile, Observer::kMse}) {
          ASSERT_OK_AND_ASSIGN(const Tensor fq, FakeQuantizePerChannel(t, {bits}, {s, o}));
          EXPECT_EQ(fq.values, t.values) << "c " << c << " bits " << bits;
        }
      }
    }
  }
}

TEST(QuantizerTest, QuantizeValueRoundsHalfToEvenAndClamps) {
  const ChannelParams p{1.0f, 0};
  EXPECT_EQ(QuantizeValue(2.5f, p, 8), 2);
  EXPECT_EQ(QuantizeValue(3.5f, p, 8), 4);
  EXPECT_EQ(QuantizeValue(-7.0f, p, 8), 0);
  EXPECT_EQ(QuantizeValue(300.0f, p, 8), 255);
  EXPECT_EQ(QuantizeValue(9.0f, p, 3), 7);
  EXPECT_EQ(QuantizeValue(std::numeric_limits<float>::infinity(), p, 4), 15);
  EXPECT_EQ(QuantizeValue(std::nanf(""), p, 4), 0);
  EXPECT_EQ(DequantizeValue(3, ChannelParams{0.5f, 5}), -1.0f);
}

TEST(QuantizerTest, PerChannelBitWidthsAreHonoured) {
  const Tensor w = RandomWeights(4, 33, 3);
  ASSERT_OK_AND_ASSIGN(const Tensor q, QuantizePerChannel(w, {8, 4, 2, 1}, QuantOptions{}));
  EXPECT_EQ(q.dtype, DType::kPackedPerChannel);
  EXPECT_EQ(q.shape, w.shape);
  EXPECT_EQ(q.bits, (std::vector<uint8_t>{8, 4, 2, 1}));
  EXPECT_EQ(q.packed.size(), 33u + 17u + 9u + 5u);
  EXPECT_OK(ValidateTensor(q));
}

TEST(QuantizerTest, PercentileClipsOutliers) {
  std::vector<float> x(1000);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 100) / 100.0f - 0.5f;
  x[17] = 50.0f;  // one outlier
  const QuantOptions minmax{QuantScheme::kSymmetric, Observer::kMinMax};
  const QuantOptions pct{QuantScheme::kSymmetric, Observer::kPercentile, 99.0};
  ASSERT_OK_AND_ASSIGN(const ChannelParams a, ChooseChannelParams(x.data(), x.size(), 4, minmax));
  ASSERT_OK_AND_ASSIGN(const ChannelParams b, ChooseChannelParams(x.data(), x.size(), 4, pct));
  EXPECT_FLOAT_EQ(a.scale, 50.0f / 7.0f);
  EXPECT_LT(b.scale, 0.6f / 7.0f);
  const QuantOptions full{QuantScheme::kAsymmetric, Observer::kPercentile, 100.0};
  ASSERT_OK_AND_ASSIGN(const ChannelParams c, ChooseChannelParams(x.data(), x.size(), 4, full));
  ASSERT_OK_AND_ASSIGN(const ChannelParams d, ChooseChannelParams(x.data(), x.size(), 4, {}));
  EXPECT_EQ(c.scale, d.scale);
  EXPECT_EQ(c.zero_point, d.zero_point);
}

TEST(QuantizerTest, MseObserverNeverLosesToMinMax) {
  std::mt19937 rng(4);
  std::student_t_distribution<float> heavy(2.0f);
  Tensor t;
  t.name = "heavy";
  t.shape = {8, 128};
  for (int i = 0; i < 8 * 128; ++i) t.values.push_back(heavy(rng));
  for (int bits = 2; bits <= 4; ++bits) {
    for (QuantScheme s : {QuantScheme::kSymmetric, QuantScheme::kAsymmetric}) {
      ASSERT_OK_AND_ASSIGN(const Tensor mm, FakeQuantizePerChannel(t, {bits}, {s, Observer::kMinMax}));
      ASSERT_OK_AND_ASSIGN(const Tensor mse, FakeQuantizePerChannel(t, {bits}, {s, Observer::kMse}));
      const double e_mm = SumSquaredError(t.values, mm.values);
      const double e_mse = SumSquaredError(t.values, mse.values);
      EXPECT_LT(e_mse, e_mm) << "bits " << bits;  // heavy tails: clipping must help
    }
  }
}

TEST(QuantizerTest, QuantizedTensorSurvivesTheContainerAndMatchesFakeQuant) {
  const Tensor w = RandomWeights(5, 40, 5);
  const QuantOptions opt{QuantScheme::kAsymmetric, Observer::kMse};
  ASSERT_OK_AND_ASSIGN(const Tensor q, QuantizePerChannel(w, {3}, opt));
  ASSERT_OK_AND_ASSIGN(const Tensor fq, FakeQuantizePerChannel(w, {3}, opt));
  TensorContainer c;
  c.tensors.push_back(q);
  ASSERT_OK_AND_ASSIGN(const std::string bytes, EncodeContainer(c));
  ASSERT_OK_AND_ASSIGN(const TensorContainer back, DecodeContainer(bytes));
  ASSERT_OK_AND_ASSIGN(const std::vector<float> deq, DequantizeTensor(back.tensors[0]));
  EXPECT_EQ(deq, fq.values);
  ASSERT_OK_AND_ASSIGN(const Tensor q2, QuantizePerChannel(w, {3}, opt));
  EXPECT_EQ(q2.packed, q.packed);  // deterministic
}

TEST(QuantizerTest, ScalarAndEmptyTensors) {
  Tensor scalar;
  scalar.name = "s";
  scalar.values = {0.75f};
  ASSERT_OK_AND_ASSIGN(const Tensor fq, FakeQuantizePerChannel(scalar, {2}, QuantOptions{}));
  EXPECT_EQ(fq.values, scalar.values);
  Tensor empty;
  empty.name = "e";
  empty.shape = {3, 0};
  ASSERT_OK_AND_ASSIGN(const Tensor q, QuantizePerChannel(empty, {4}, QuantOptions{}));
  EXPECT_OK(ValidateTensor(q));
  EXPECT_TRUE(q.packed.empty());
}

// --- Error paths -----------------------------------------------------------

TEST(QuantizerTest, ErrorPathBadArguments) {
  const Tensor w = RandomWeights(3, 4, 6);
  EXPECT_THAT(QuantizePerChannel(w, {0}, {}), StatusIs(kInvalid, HasSubstr("bit-width 0")));
  EXPECT_THAT(QuantizePerChannel(w, {9}, {}), StatusIs(kInvalid, HasSubstr("bit-width 9")));
  EXPECT_THAT(QuantizePerChannel(w, {4, 4}, {}), StatusIs(kInvalid, HasSubstr("2 bit-widths")));
  EXPECT_THAT(QuantizePerChannel(w, {}, {}), StatusIs(kInvalid));
  Tensor nan = w;
  nan.values[5] = std::nanf("");
  EXPECT_THAT(QuantizePerChannel(nan, {4}, {}), StatusIs(kInvalid, HasSubstr("NaN")));
  EXPECT_THAT(FakeQuantizePerChannel(nan, {4}, {}), StatusIs(kInvalid, HasSubstr("NaN")));
  Tensor wrong_shape = w;
  wrong_shape.shape = {3, 5};
  EXPECT_THAT(QuantizePerChannel(wrong_shape, {4}, {}), StatusIs(kInvalid));
  ASSERT_OK_AND_ASSIGN(const Tensor packed, QuantizePerChannel(w, {4}, {}));
  EXPECT_THAT(QuantizePerChannel(packed, {4}, {}), StatusIs(kInvalid, HasSubstr("kFloat32")));
}

TEST(QuantizerTest, ErrorPathChooseChannelParams) {
  const float x[] = {1.0f, std::numeric_limits<float>::infinity()};
  EXPECT_THAT(ChooseChannelParams(x, 2, 4, {}), StatusIs(kInvalid, HasSubstr("infinite")));
  EXPECT_THAT(ChooseChannelParams(x, 1, 0, {}), StatusIs(kInvalid, HasSubstr("bits 0")));
  EXPECT_THAT(ChooseChannelParams(nullptr, 3, 4, {}), StatusIs(kInvalid, HasSubstr("null")));
  const QuantOptions low_pct{QuantScheme::kAsymmetric, Observer::kPercentile, 40.0};
  EXPECT_THAT(ChooseChannelParams(x, 1, 4, low_pct), StatusIs(kInvalid, HasSubstr("percentile")));
  const QuantOptions bad_scheme{static_cast<QuantScheme>(9), Observer::kMinMax};
  EXPECT_THAT(ChooseChannelParams(x, 1, 4, bad_scheme), StatusIs(kInvalid));
}

}  // namespace
}  // namespace qfleet
