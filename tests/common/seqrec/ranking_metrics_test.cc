#include "common/seqrec/ranking_metrics.h"

#include <cmath>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qfleet::seqrec {
namespace {

using ::testing::HasSubstr;

TEST(RankTest, CountsStrictlyHigherNegativesAndHalfTheTies) {
  const std::vector<float> neg = {3.0f, 1.0f, 2.0f, 2.0f};
  EXPECT_DOUBLE_EQ(RankAmongNegatives(2.0f, neg), 2.0);  // one higher + two ties / 2
  EXPECT_DOUBLE_EQ(RankAmongNegatives(10.0f, neg), 0.0);
  EXPECT_DOUBLE_EQ(RankAmongNegatives(0.0f, neg), 4.0);
  EXPECT_DOUBLE_EQ(RankAmongNegatives(3.0f, neg), 0.5);
  // A constant model lands in the middle of 100 negatives.
  EXPECT_DOUBLE_EQ(RankAmongNegatives(0.0f, std::vector<float>(100, 0.0f)), 50.0);
  EXPECT_DOUBLE_EQ(RankAmongNegatives(1.0f, {}), 0.0);
}

TEST(RankTest, NanRanksLast) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_DOUBLE_EQ(RankAmongNegatives(nan, std::vector<float>{1, 2, 3}), 3.0);
  EXPECT_DOUBLE_EQ(RankAmongNegatives(5.0f, std::vector<float>{nan, 1.0f}), 1.0);
}

TEST(MetricTest, HandWorkedHitAndNdcg) {
  EXPECT_EQ(HitAt(0, 5), 1.0);
  EXPECT_EQ(HitAt(4, 5), 1.0);
  EXPECT_EQ(HitAt(4.5, 5), 1.0);
  EXPECT_EQ(HitAt(5, 5), 0.0);
  EXPECT_EQ(HitAt(9.5, 10), 1.0);
  EXPECT_EQ(HitAt(10, 10), 0.0);
  EXPECT_DOUBLE_EQ(NdcgAt(0, 10), 1.0);
  EXPECT_DOUBLE_EQ(NdcgAt(2, 5), 0.5);  // 1 / log2(4)
  EXPECT_NEAR(NdcgAt(4, 5), 0.386852807, 1e-9);   // 1 / log2(6)
  EXPECT_EQ(NdcgAt(5, 5), 0.0);
  EXPECT_NEAR(NdcgAt(5, 10), 0.356207187, 1e-9);  // 1 / log2(7)
  EXPECT_NEAR(NdcgAt(0.5, 10), 1.0 / std::log2(2.5), 1e-12);
}

TEST(MetricTest, AveragesOverUsers) {
  const std::vector<double> ranks = {0, 2, 5, 50};
  RankingMetrics m = AverageRankingMetrics(ranks);
  EXPECT_EQ(m.users, 4);
  EXPECT_DOUBLE_EQ(m.hr5, 0.5);
  EXPECT_DOUBLE_EQ(m.hr10, 0.75);
  EXPECT_DOUBLE_EQ(m.ndcg5, 0.375);
  EXPECT_NEAR(m.ndcg10, (1.0 + 0.5 + 0.356207187) / 4, 1e-9);
  EXPECT_THAT(m.ToString(), HasSubstr("HR@10 0.7500"));
}

TEST(MetricTest, EmptyGivesZeros) {
  RankingMetrics m = AverageRankingMetrics({});
  EXPECT_EQ(m.users, 0);
  EXPECT_EQ(m.hr10, 0.0);
  EXPECT_EQ(m.ndcg10, 0.0);
}

TEST(PairedTest, HandWorkedMeanErrorAndCounts) {
  // Differences 0.5, 0, -0.25, 0.75: mean 0.25; deviations 0.25, -0.25, -0.5,
  // 0.5, sum of squares 0.625, sample variance 0.625 / 3, SE sqrt(that / 4).
  const std::vector<double> a = {1.0, 0.5, 0.25, 1.0}, b = {0.5, 0.5, 0.5, 0.25};
  absl::StatusOr<PairedDifference> d = ComparePaired(a, b);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_DOUBLE_EQ(d->mean, 0.25);
  EXPECT_NEAR(d->std_error, std::sqrt(0.625 / 3 / 4), 1e-12);
  EXPECT_EQ(d->higher, 2);
  EXPECT_EQ(d->lower, 1);
  EXPECT_EQ(d->users, 4);
  EXPECT_THAT(d->ToString(), HasSubstr("+0.2500"));
  EXPECT_THAT(d->ToString(), HasSubstr("higher for 2, lower for 1 of 4 users"));
}

TEST(PairedTest, OneUserHasNoErrorAndEmptyGivesZeros) {
  absl::StatusOr<PairedDifference> one = ComparePaired(std::vector<double>{0.3}, std::vector<double>{0.5});
  ASSERT_TRUE(one.ok());
  EXPECT_NEAR(one->mean, -0.2, 1e-12);
  EXPECT_EQ(one->std_error, 0.0);
  EXPECT_EQ(one->lower, 1);
  absl::StatusOr<PairedDifference> none = ComparePaired({}, {});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->users, 0);
  EXPECT_EQ(none->mean, 0.0);
}

TEST(PairedTest, RejectsMismatchedSizesAndNonFiniteValues) {
  EXPECT_FALSE(ComparePaired(std::vector<double>{1, 2}, std::vector<double>{1}).ok());
  const double nan = std::numeric_limits<double>::quiet_NaN();
  absl::StatusOr<PairedDifference> d = ComparePaired(std::vector<double>{1, nan}, std::vector<double>{1, 1});
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(std::string(d.status().message()), HasSubstr("not finite"));
}

}  // namespace
}  // namespace qfleet::seqrec
