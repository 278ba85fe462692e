#include "common/seeded_random.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace qfleet {
namespace {

TEST(SeededRandomTest, EngineIsTheStandardMt19937_64) {
  SeededRandom rng(5489);  // the standard's default seed
  uint64_t x = 0;
  for (int i = 0; i < 10000; ++i) x = rng.NextU64();
  EXPECT_EQ(x, 9981545732273789042ull);  // [rand.predef] 10000th value
}

TEST(SeededRandomTest, SameSeedSameStream) {
  SeededRandom a(7), b(7), c(8);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const double x = a.Normal();
    EXPECT_EQ(x, b.Normal());
    differs |= x != c.Normal();
  }
  EXPECT_TRUE(differs);
}

TEST(SeededRandomTest, UniformsStayInRangeWithTheRightMean) {
  SeededRandom rng(1);
  double sum = 0.0;
  std::vector<int> buckets(7, 0);
  for (int i = 0; i < 70000; ++i) {
    const double u = rng.Uniform01();
    ASSERT_GT(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
    const uint64_t k = rng.UniformBelow(7);
    ASSERT_LT(k, 7u);
    ++buckets[k];
  }
  EXPECT_NEAR(sum / 70000, 0.5, 0.01);
  for (int n : buckets) EXPECT_NEAR(n, 10000, 500);
  EXPECT_EQ(rng.UniformBelow(1), 0u);
}

TEST(SeededRandomTest, NormalHasUnitVariance) {
  SeededRandom rng(2);
  double sum = 0.0, sq = 0.0;
  const int n = 50000;
  for (int i = 0; i < n; ++i) {
    const double x = rng.Normal();
    sum += x;
    sq += x * x;
  }
  EXPECT_NEAR(sum / n, 0.0, 0.02);
  EXPECT_NEAR(sq / n, 1.0, 0.03);
}

TEST(SeededRandomTest, GammaMeanEqualsShapeAndTinyShapesStayFinite) {
  SeededRandom rng(3);
  for (double shape : {0.3, 1.0, 2.5, 10.0}) {
    double sum = 0.0;
    const int n = 20000;
    for (int i = 0; i < n; ++i) sum += std::exp(rng.LogGamma(shape));
    EXPECT_NEAR(sum / n, shape, 0.05 * shape + 0.01) << shape;
  }
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(std::isfinite(rng.LogGamma(0.001)));
}

TEST(SeededRandomTest, ShuffleIsAPermutation) {
  SeededRandom rng(4);
  std::vector<int> v(100);
  for (int i = 0; i < 100; ++i) v[i] = i;
  rng.Shuffle(v);
  std::vector<int> sorted = v;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < 100; ++i) EXPECT_EQ(sorted[i], i);
  int fixed = 0;
  for (int i = 0; i < 100; ++i) fixed += v[i] == i;
  EXPECT_LT(fixed, 10);
}

}  // namespace
}  // namespace qfleet
