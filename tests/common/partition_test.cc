#include "common/partition.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qfleet {
namespace {

using ::testing::HasSubstr;
constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

// n samples over 10 classes, label i % 10 with a little shuffling.
std::vector<uint8_t> Labels(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>((i * 7 + i / 13) % 10);
  return v;
}

ShardSpec Dirichlet(double alpha, int clients, uint64_t seed) {
  ShardSpec s;
  s.kind = PartitionKind::kDirichlet;
  s.alpha = alpha;
  s.num_clients = clients;
  s.seed = seed;
  return s;
}

ShardSpec Iid(int clients, uint64_t seed) {
  ShardSpec s;
  s.num_clients = clients;
  s.seed = seed;
  return s;
}

void ExpectExactCover(const std::vector<std::vector<int64_t>>& parts, size_t n) {
  std::vector<int> seen(n, 0);
  for (const auto& p : parts) {
    EXPECT_TRUE(std::is_sorted(p.begin(), p.end()));
    for (int64_t i : p) {
      ASSERT_GE(i, 0);
      ASSERT_LT(i, static_cast<int64_t>(n));
      ++seen[static_cast<size_t>(i)];
    }
  }
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(seen[i], 1) << "index " << i;
}

// Mean over clients of the total-variation distance between the client's
// label distribution and the global one: 0 = IID, 1 = disjoint.
double MeanLabelSkew(const std::vector<uint8_t>& labels,
                     const std::vector<std::vector<int64_t>>& parts) {
  std::vector<int64_t> all(labels.size());
  std::iota(all.begin(), all.end(), 0);
  const std::vector<uint64_t> global = LabelHistogram(labels, all, 10);
  double total = 0.0;
  for (const auto& p : parts) {
    const std::vector<uint64_t> h = LabelHistogram(labels, p, 10);
    double tv = 0.0;
    for (int c = 0; c < 10; ++c) {
      tv += std::fabs(static_cast<double>(h[c]) / p.size() -
                      static_cast<double>(global[c]) / labels.size());
    }
    total += tv / 2;
  }
  return total / parts.size();
}

TEST(PartitionTest, ParsesAndFormatsSpecs) {
  ASSERT_OK_AND_ASSIGN(const ShardSpec iid, ParseShardSpec("iid:8:3:42"));
  EXPECT_EQ(iid.kind, PartitionKind::kIid);
  EXPECT_EQ(iid.num_clients, 8);
  EXPECT_EQ(iid.client_index, 3);
  EXPECT_EQ(iid.seed, 42u);
  EXPECT_EQ(FormatShardSpec(iid), "iid:8:3:42");
  ASSERT_OK_AND_ASSIGN(const ShardSpec dir, ParseShardSpec("dirichlet:0.1:100:7:18446744073709551615"));
  EXPECT_EQ(dir.kind, PartitionKind::kDirichlet);
  EXPECT_DOUBLE_EQ(dir.alpha, 0.1);
  EXPECT_EQ(dir.num_clients, 100);
  EXPECT_EQ(dir.client_index, 7);
  EXPECT_EQ(dir.seed, std::numeric_limits<uint64_t>::max());
  ASSERT_OK_AND_ASSIGN(const ShardSpec again, ParseShardSpec(FormatShardSpec(dir)));
  EXPECT_EQ(again.alpha, dir.alpha);
  EXPECT_EQ(again.seed, dir.seed);
}

TEST(PartitionTest, IidCoversEveryIndexOnceInNearEqualShares) {
  const std::vector<uint8_t> labels = Labels(1003);
  ASSERT_OK_AND_ASSIGN(const auto parts, PartitionIndices(labels, 10, Iid(10, 5)));
  ASSERT_EQ(parts.size(), 10u);
  ExpectExactCover(parts, labels.size());
  for (size_t k = 0; k < parts.size(); ++k) EXPECT_EQ(parts[k].size(), k < 3 ? 101u : 100u);
  EXPECT_LT(MeanLabelSkew(labels, parts), 0.2);  // sampling noise of 100-sample shares
}

TEST(PartitionTest, DirichletCoversEveryIndexOnce) {
  const std::vector<uint8_t> labels = Labels(5000);
  for (double alpha : {0.01, 0.1, 1.0, 100.0}) {
    ASSERT_OK_AND_ASSIGN(const auto parts, PartitionIndices(labels, 10, Dirichlet(alpha, 20, 3)));
    ASSERT_EQ(parts.size(), 20u);
    ExpectExactCover(parts, labels.size());
  }
}

TEST(PartitionTest, DeterministicForASeedAndDifferentAcrossSeeds) {
  const std::vector<uint8_t> labels = Labels(2000);
  for (const ShardSpec& spec : {Dirichlet(0.3, 12, 9), Iid(12, 9)}) {
    ASSERT_OK_AND_ASSIGN(const auto a, PartitionIndices(labels, 10, spec));
    ASSERT_OK_AND_ASSIGN(const auto b, PartitionIndices(labels, 10, spec));
    EXPECT_EQ(a, b);
    ShardSpec other = spec;
    other.seed = 10;
    ASSERT_OK_AND_ASSIGN(const auto c, PartitionIndices(labels, 10, other));
    EXPECT_NE(a, c);
  }
}

TEST(PartitionTest, SkewGrowsAsAlphaShrinks) {
  const std::vector<uint8_t> labels = Labels(6000);
  double previous = -1.0;
  for (double alpha : {1000.0, 10.0, 1.0, 0.1, 0.01}) {
    ASSERT_OK_AND_ASSIGN(const auto parts, PartitionIndices(labels, 10, Dirichlet(alpha, 20, 1)));
    const double skew = MeanLabelSkew(labels, parts);
    EXPECT_GT(skew, previous) << "alpha " << alpha;
    previous = skew;
  }
  EXPECT_GT(previous, 0.6);  // alpha 0.01: clients hold mostly one or two classes
}

TEST(PartitionTest, EveryClientGetsTheMinimumShare) {
  const std::vector<uint8_t> labels = Labels(3000);
  ASSERT_OK_AND_ASSIGN(const auto parts, PartitionIndices(labels, 10, Dirichlet(0.01, 60, 2)));
  ExpectExactCover(parts, labels.size());
  for (const auto& p : parts) EXPECT_GE(p.size(), 10u);
  // Fewer samples than 10 per client: the minimum becomes n / clients.
  const std::vector<uint8_t> few = Labels(50);
  ASSERT_OK_AND_ASSIGN(const auto small, PartitionIndices(few, 10, Dirichlet(0.01, 20, 2)));
  ExpectExactCover(small, few.size());
  for (const auto& p : small) EXPECT_GE(p.size(), 2u);
}

TEST(PartitionTest, ShardIndicesIsOneClientOfThePartition) {
  const std::vector<uint8_t> labels = Labels(500);
  ShardSpec spec = Dirichlet(0.5, 5, 11);
  ASSERT_OK_AND_ASSIGN(const auto parts, PartitionIndices(labels, 10, spec));
  for (int k = 0; k < 5; ++k) {
    spec.client_index = k;
    ASSERT_OK_AND_ASSIGN(const auto shard, ShardIndices(labels, 10, spec));
    EXPECT_EQ(shard, parts[k]);
  }
}

TEST(PartitionTest, SingleClientGetsEverything) {
  const std::vector<uint8_t> labels = Labels(30);
  ASSERT_OK_AND_ASSIGN(const auto shard, ShardIndices(labels, 10, Dirichlet(0.1, 1, 1)));
  EXPECT_EQ(shard.size(), 30u);
}

TEST(PartitionTest, LabelHistogramCountsAndSkipsOutOfRange) {
  const std::vector<uint8_t> labels = {0, 1, 1, 2, 9};
  EXPECT_EQ(LabelHistogram(labels, {0, 1, 2, 4, -1, 99}, 3), (std::vector<uint64_t>{1, 2, 0}));
  EXPECT_TRUE(LabelHistogram(labels, {0}, 0).empty());
}

// --- Error paths -----------------------------------------------------------

TEST(PartitionTest, ErrorPathBadSpecText) {
  for (const char* text : {"", "iid", "iid:4:0", "iid:4:0:1:2", "iid:x:0:1", "iid:0:0:1",
                           "iid:4:4:1", "iid:4:-1:1", "iid:4:0:-1", "dirichlet:0:4:0:1",
                           "dirichlet:-1:4:0:1", "dirichlet:nan:4:0:1", "dirichlet:inf:4:0:1",
                           "dirichlet:0.5:4:0", "random:4:0:1"}) {
    EXPECT_THAT(ParseShardSpec(text), StatusIs(kInvalid)) << text;
  }
}

TEST(PartitionTest, ErrorPathBadPartitionArguments) {
  const std::vector<uint8_t> labels = Labels(20);
  EXPECT_THAT(PartitionIndices(labels, 10, Iid(21, 1)),
              StatusIs(kInvalid, HasSubstr("21 clients but only 20 samples")));
  EXPECT_THAT(PartitionIndices(labels, 10, Iid(0, 1)), StatusIs(kInvalid, HasSubstr("num_clients")));
  EXPECT_THAT(PartitionIndices(labels, 10, Dirichlet(0.0, 2, 1)), StatusIs(kInvalid, HasSubstr("alpha")));
  EXPECT_THAT(PartitionIndices(labels, 10, Dirichlet(-1.0, 2, 1)), StatusIs(kInvalid));
  EXPECT_THAT(PartitionIndices(labels, 5, Iid(2, 1)), StatusIs(kInvalid, HasSubstr("label")));
  EXPECT_THAT(PartitionIndices(labels, 0, Iid(2, 1)), StatusIs(kInvalid, HasSubstr("num_classes")));
  EXPECT_THAT(PartitionIndices({}, 10, Iid(1, 1)), StatusIs(kInvalid));
  ShardSpec spec = Iid(4, 1);
  spec.client_index = 4;
  EXPECT_THAT(ShardIndices(labels, 10, spec), StatusIs(kInvalid, HasSubstr("client_index 4")));
  spec.client_index = -1;
  EXPECT_THAT(ShardIndices(labels, 10, spec), StatusIs(kInvalid));
}

}  // namespace
}  // namespace qfleet
