#include "kernels/channel_minmax.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common/status_matchers.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_variants.h"
#include "tests/kernels/kernel_test_util.h"

namespace qfleet::kernels {
namespace {

using ::qfleet::kernels::testing::ExpectBitIdentical;
using ::qfleet::kernels::testing::RandomMatrix;
using ::qfleet::kernels::testing::RowLengths;

struct Stats {
  std::vector<float> min, max, absmax;
  explicit Stats(size_t channels) : min(channels), max(channels), absmax(channels) {}
};

using MinMaxFn = bool (*)(const float*, size_t, size_t, float*, float*, float*);

TEST(ChannelMinMaxTest, RefMatchesStdMinMax) {
  const size_t channels = 6, row = 33;
  const std::vector<float> m = RandomMatrix(channels, row, 1);
  Stats s(channels);
  ASSERT_OK(ChannelMinMax(DeviceKind::kRef, m.data(), channels, row, s.min.data(),
                          s.max.data(), s.absmax.data()));
  for (size_t c = 0; c < channels; ++c) {
    const auto [lo, hi] = std::minmax_element(m.begin() + c * row, m.begin() + (c + 1) * row);
    EXPECT_EQ(s.min[c], *lo);
    EXPECT_EQ(s.max[c], *hi);
    EXPECT_EQ(s.absmax[c], std::max(std::fabs(*lo), std::fabs(*hi)));
  }
}

TEST(ChannelMinMaxTest, EveryCpuVariantIsBitIdenticalToRef) {
  std::vector<std::pair<const char*, MinMaxFn>> variants = {{"Cpu", &ChannelMinMaxCpu},
                                                            {"Portable", &ChannelMinMaxPortable}};
#if defined(QFLEET_KERNELS_HAVE_AVX2_VARIANTS)
  if (CpuHasAvx2Fma()) variants.push_back({"Avx2", &ChannelMinMaxAvx2});
#endif
  const size_t channels = 5;
  for (size_t row : RowLengths()) {
    const std::vector<float> m = RandomMatrix(channels, row, 100 + row);
    Stats ref(channels);
    ASSERT_TRUE(ChannelMinMaxRef(m.data(), channels, row, ref.min.data(), ref.max.data(),
                                 ref.absmax.data()));
    for (const auto& [name, fn] : variants) {
      SCOPED_TRACE(::testing::Message() << name << " row_len " << row);
      Stats got(channels);
      ASSERT_TRUE(fn(m.data(), channels, row, got.min.data(), got.max.data(),
                     got.absmax.data()));
      ExpectBitIdentical(got.min, ref.min, "min");
      ExpectBitIdentical(got.max, ref.max, "max");
      ExpectBitIdentical(got.absmax, ref.absmax, "absmax");
    }
  }
}

TEST(ChannelMinMaxTest, ZeroResultsArePositiveZero) {
  // Rows whose min or max is a zero of either sign, in both orders.
  const std::vector<float> m = {-0.0f, 0.0f, 1.0f, 0.0f, -0.0f, 1.0f, -1.0f, -0.0f, 0.0f};
  for (DeviceKind d : {DeviceKind::kRef, DeviceKind::kCpu}) {
    Stats s(3);
    ASSERT_OK(ChannelMinMax(d, m.data(), 3, 3, s.min.data(), s.max.data(), s.absmax.data()));
    EXPECT_FALSE(std::signbit(s.min[0]));
    EXPECT_FALSE(std::signbit(s.min[1]));
    EXPECT_FALSE(std::signbit(s.max[2]));
  }
}

TEST(ChannelMinMaxTest, EmptyRowsGiveZerosAndNullOutputsAreSkipped) {
  Stats s(2);
  s.min = {5, 5};
  const float dummy = 1.0f;
  ASSERT_OK(ChannelMinMax(DeviceKind::kCpu, &dummy, 2, 0, s.min.data(), nullptr, nullptr));
  EXPECT_EQ(s.min, (std::vector<float>{0, 0}));
  const std::vector<float> m = {3, -4};
  ASSERT_OK(ChannelMinMax(DeviceKind::kCpu, m.data(), 1, 2, nullptr, nullptr, s.absmax.data()));
  EXPECT_EQ(s.absmax[0], 4.0f);
}

TEST(ChannelMinMaxErrorTest, RejectsNonFiniteValues) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(),
                    std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    for (size_t pos : {size_t{0}, size_t{17}, size_t{39}}) {  // vector body and tail
      std::vector<float> m = RandomMatrix(2, 20, 3);
      m[pos] = bad;
      Stats s(2);
      for (DeviceKind d : {DeviceKind::kRef, DeviceKind::kCpu}) {
        EXPECT_THAT(ChannelMinMax(d, m.data(), 2, 20, s.min.data(), s.max.data(), nullptr),
                    StatusIs(absl::StatusCode::kInvalidArgument))
            << bad << " at " << pos;
      }
#if defined(QFLEET_KERNELS_HAVE_AVX2_VARIANTS)
      if (CpuHasAvx2Fma()) {
        EXPECT_FALSE(ChannelMinMaxAvx2(m.data(), 2, 20, s.min.data(), s.max.data(), nullptr));
      }
#endif
      EXPECT_FALSE(ChannelMinMaxPortable(m.data(), 2, 20, s.min.data(), s.max.data(), nullptr));
    }
  }
}

TEST(ChannelMinMaxErrorTest, RejectsBadArguments) {
  Stats s(2);
  EXPECT_THAT(ChannelMinMax(DeviceKind::kCpu, nullptr, 2, 3, s.min.data(), nullptr, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("null")));
  const float x = 0;
  const size_t huge = std::numeric_limits<size_t>::max() / 2;
  EXPECT_THAT(ChannelMinMax(DeviceKind::kCpu, &x, huge, 3, s.min.data(), nullptr, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("overflow")));
  EXPECT_THAT(ChannelMinMax(static_cast<DeviceKind>(42), &x, 1, 1, s.min.data(), nullptr,
                            nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // Nothing to read: a null input is fine.
  EXPECT_OK(ChannelMinMax(DeviceKind::kCpu, nullptr, 0, 3, nullptr, nullptr, nullptr));
}

TEST(ChannelMinMaxErrorTest, CudaWithoutCudaIsUnimplemented) {
  if (CudaAvailable()) GTEST_SKIP() << "CUDA present";
  const float x = 1;
  float mn;
  EXPECT_THAT(ChannelMinMax(DeviceKind::kCuda, &x, 1, 1, &mn, nullptr, nullptr),
              StatusIs(absl::StatusCode::kUnimplemented));
}

// Tolerance: none. The device folds with fminf/fmaxf and normalizes zeros,
// so min, max and absmax are the reference's bits.
TEST(ChannelMinMaxCudaTest, MatchesRefExactly) {
  if (!CudaAvailable()) GTEST_SKIP() << "no CUDA device";
  const size_t channels = 7;
  for (size_t row : RowLengths()) {
    const std::vector<float> m = RandomMatrix(channels, row, 200 + row);
    Stats ref(channels), got(channels);
    ASSERT_OK(ChannelMinMax(DeviceKind::kRef, m.data(), channels, row, ref.min.data(),
                            ref.max.data(), ref.absmax.data()));
    ASSERT_OK(ChannelMinMax(DeviceKind::kCuda, m.data(), channels, row, got.min.data(),
                            got.max.data(), got.absmax.data()));
    ExpectBitIdentical(got.min, ref.min, "min");
    ExpectBitIdentical(got.max, ref.max, "max");
    ExpectBitIdentical(got.absmax, ref.absmax, "absmax");
  }
  std::vector<float> bad = RandomMatrix(2, 50, 9);
  bad[77] = std::numeric_limits<float>::quiet_NaN();
  Stats s(2);
  EXPECT_THAT(ChannelMinMax(DeviceKind::kCuda, bad.data(), 2, 50, s.min.data(), nullptr,
                            nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace qfleet::kernels
