#include "kernels/fedavg.h"

#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/status_matchers.h"

namespace qfleet::kernels {
namespace {

TEST(WeightedAverageTest, MatchesHandComputedValues) {
  std::vector<float> a = {1, 2, 3}, b = {3, 4, 5};
  std::vector<const float*> in = {a.data(), b.data()};
  std::vector<double> w = {1, 3};
  std::vector<float> out(3);
  ASSERT_OK(WeightedAverage(DeviceKind::kCpu, in, w, 3, out.data()));
  EXPECT_THAT(out, testing::ElementsAre(2.5f, 3.5f, 4.5f));
}

TEST(WeightedAverageTest, CpuIsBitIdenticalToRef) {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0, 1);
  const size_t n = 5000, k = 7;
  std::vector<std::vector<float>> data(k, std::vector<float>(n));
  std::vector<const float*> in;
  std::vector<double> w;
  for (size_t c = 0; c < k; ++c) {
    for (float& v : data[c]) v = dist(rng);
    in.push_back(data[c].data());
    w.push_back(1 + c * 13.5);
  }
  std::vector<float> ref(n), cpu(n);
  ASSERT_OK(WeightedAverage(DeviceKind::kRef, in, w, n, ref.data()));
  ASSERT_OK(WeightedAverage(DeviceKind::kCpu, in, w, n, cpu.data()));
  EXPECT_EQ(ref, cpu);
}

TEST(WeightedAverageErrorTest, RejectsBadArguments) {
  std::vector<float> a = {1}, out(1);
  std::vector<const float*> in = {a.data()};
  EXPECT_THAT(WeightedAverage(DeviceKind::kCpu, in, std::vector<double>{}, 1, out.data()),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(WeightedAverage(DeviceKind::kCpu, in, std::vector<double>{-1}, 1, out.data()),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(WeightedAverage(DeviceKind::kCpu, in, std::vector<double>{0}, 1, out.data()),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(WeightedAverage(DeviceKind::kCpu, in, std::vector<double>{NAN}, 1, out.data()),
              StatusIs(absl::StatusCode::kInvalidArgument));
  std::vector<const float*> null_in = {nullptr};
  EXPECT_THAT(WeightedAverage(DeviceKind::kCpu, null_in, std::vector<double>{1}, 1, out.data()),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(WeightedAverage(DeviceKind::kCpu, in, std::vector<double>{1}, 1, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(WeightedAverageErrorTest, CudaWithoutCudaIsUnimplemented) {
  if (CudaAvailable()) GTEST_SKIP() << "CUDA present";
  std::vector<float> a = {1}, out(1);
  std::vector<const float*> in = {a.data()};
  EXPECT_THAT(WeightedAverage(DeviceKind::kCuda, in, std::vector<double>{1}, 1, out.data()),
              StatusIs(absl::StatusCode::kUnimplemented));
}

// Tolerance: none. The device sums clients in the same order with explicitly
// rounded double operations (__dmul_rn, __dadd_rn, __ddiv_rn), as the
// reference does on the host.
TEST(WeightedAverageCudaTest, MatchesRefExactly) {
  if (!CudaAvailable()) GTEST_SKIP() << "no CUDA device";
  std::mt19937 rng(17);
  std::normal_distribution<float> dist(0, 1);
  for (size_t n : {size_t{1}, size_t{1000}, size_t{100003}}) {
    const size_t k = 8;
    std::vector<std::vector<float>> data(k, std::vector<float>(n));
    std::vector<const float*> in;
    std::vector<double> w;
    for (size_t c = 0; c < k; ++c) {
      for (float& v : data[c]) v = dist(rng);
      in.push_back(data[c].data());
      w.push_back(0.1 + c * 7.25);
    }
    std::vector<float> ref(n), got(n);
    ASSERT_OK(WeightedAverage(DeviceKind::kRef, in, w, n, ref.data()));
    ASSERT_OK(WeightedAverage(DeviceKind::kCuda, in, w, n, got.data()));
    EXPECT_EQ(got, ref) << "n " << n;
  }
}

}  // namespace
}  // namespace qfleet::kernels
