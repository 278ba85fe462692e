#include "kernels/quant_math.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "common/quantizer.h"
#include "common/status_matchers.h"
#include "gtest/gtest.h"
#include "tests/kernels/kernel_test_util.h"

namespace qfleet::kernels {
namespace {

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

TEST(QuantMathTest, CodesAndValuesMatchCommonQuantizer) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> log_scale(-20.0f, 10.0f);
  const float kSpecial[] = {0.0f,
                            -0.0f,
                            0.5f,
                            -0.5f,
                            1.5f,
                            2.5f,
                            -2.5f,
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::max(),
                            std::numeric_limits<float>::denorm_min()};
  int checked = 0;
  for (int bits = 1; bits <= 8; ++bits) {
    for (int trial = 0; trial < 20000; ++trial) {
      const float scale = trial % 7 == 0 ? 1.0f : std::exp2(log_scale(rng));
      const int32_t zero = std::uniform_int_distribution<int>(0, QuantMax(bits))(rng);
      const ChannelParams p{scale, zero};
      float x = scale * (static_cast<float>(zero) * 0.5f + 4.0f * normal(rng));
      // Rounding ties x / scale == k + 0.5 and their float neighbours: where
      // a reciprocal multiply or a different rounding mode would disagree.
      const float tie = scale * (0.5f + static_cast<float>(trial % 17 - 8));
      if (trial % 5 == 0) x = kSpecial[trial / 5 % 12];
      if (trial % 5 == 1) x = tie;
      if (trial % 5 == 2) x = std::nextafter(tie, 0.0f);
      if (trial % 5 == 3) x = std::nextafter(tie, 2 * tie);
      const uint8_t q = QuantizeCode(x, scale, zero, bits);
      ASSERT_EQ(q, QuantizeValue(x, p, bits))
          << "x=" << std::hexfloat << x << " scale=" << scale << " zero=" << zero
          << " bits=" << bits;
      ASSERT_LE(q, QuantMax(bits));
      ASSERT_EQ(Bits(DequantizeCode(q, scale, zero)), Bits(DequantizeValue(q, p)));
      ASSERT_EQ(Bits(FakeQuantValue(x, scale, zero, bits)),
                Bits(DequantizeValue(QuantizeValue(x, p, bits), p)));
      ++checked;
    }
  }
  EXPECT_EQ(checked, 160000);
}

TEST(QuantMathTest, RoundsHalfToEvenAndClamps) {
  // 2.5 -> 2 and 3.5 -> 4 (ties to even), then + zero point, then clamp.
  EXPECT_EQ(QuantizeCode(2.5f, 1.0f, 0, 4), 2);
  EXPECT_EQ(QuantizeCode(3.5f, 1.0f, 0, 4), 4);
  EXPECT_EQ(QuantizeCode(-2.5f, 1.0f, 8, 4), 6);
  EXPECT_EQ(QuantizeCode(100.0f, 1.0f, 0, 4), 15);
  EXPECT_EQ(QuantizeCode(-100.0f, 1.0f, 3, 4), 0);
  EXPECT_EQ(QuantizeCode(std::numeric_limits<float>::quiet_NaN(), 1.0f, 3, 4), 0);
  EXPECT_EQ(DequantizeCode(0, 0.25f, 3), -0.75f);
}

TEST(QuantMathTest, MinMaxParamsMatchChooseChannelParams) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<std::vector<float>> rows = {
      {},                       // empty
      {0.0f, 0.0f},             // constant zero
      {-0.0f, 0.0f},            // signed zeros
      {3.25f, 3.25f, 3.25f},    // constant positive
      {-7.0f},                  // constant negative
      {1e-40f, 2e-40f},         // denormal range: scale clamps to FLT_MIN
      {-3e38f, 3e38f},          // huge range: scale clamps below FLT_MAX
      {0.5f, 2.0f},             // all positive
      {-9.0f, -1.0f},           // all negative
  };
  for (int r = 0; r < 40; ++r) {
    std::vector<float> row(1 + r * 7);
    const float sigma = std::exp2(static_cast<float>(r % 13) - 6.0f);
    const float offset = static_cast<float>(r % 5 - 2) * sigma;
    for (float& v : row) v = offset + sigma * normal(rng);
    rows.push_back(row);
  }
  for (const std::vector<float>& row : rows) {
    float mn = 0.0f, mx = 0.0f;
    for (size_t i = 0; i < row.size(); ++i) {
      if (i == 0 || row[i] < mn) mn = row[i];
      if (i == 0 || row[i] > mx) mx = row[i];
    }
    for (int bits = 1; bits <= 8; ++bits) {
      for (QuantScheme scheme : {QuantScheme::kAsymmetric, QuantScheme::kSymmetric}) {
        QuantOptions opt;
        opt.scheme = scheme;
        opt.observer = Observer::kMinMax;
        ASSERT_OK_AND_ASSIGN(const ChannelParams want,
                             ChooseChannelParams(row.data(), row.size(), bits, opt));
        const QuantParams got =
            MinMaxQuantParams(mn, mx, bits, scheme == QuantScheme::kSymmetric);
        EXPECT_EQ(Bits(got.scale), Bits(want.scale))
            << "row of " << row.size() << " min " << mn << " max " << mx << " bits " << bits;
        EXPECT_EQ(got.zero_point, want.zero_point)
            << "row of " << row.size() << " min " << mn << " max " << mx << " bits " << bits;
      }
    }
  }
}

}  // namespace
}  // namespace qfleet::kernels
