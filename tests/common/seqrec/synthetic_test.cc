#include "common/seqrec/synthetic.h"

#include <map>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/status_matchers.h"

namespace qfleet::seqrec {
namespace {

TEST(SyntheticTest, IsValidAndDeterministic) {
  SyntheticOptions o;
  o.num_users = 300;
  o.num_items = 200;
  o.clusters = 10;
  o.mean_length = 8;
  o.seed = 5;
  ASSERT_OK_AND_ASSIGN(Interactions a, GenerateSynthetic(o));
  ASSERT_OK_AND_ASSIGN(Interactions b, GenerateSynthetic(o));
  EXPECT_OK(ValidateInteractions(a));
  EXPECT_EQ(a.num_users, 300);
  EXPECT_EQ(a.num_items, 200);
  EXPECT_EQ(a.sequences, b.sequences);
  o.seed = 6;
  ASSERT_OK_AND_ASSIGN(Interactions c, GenerateSynthetic(o));
  EXPECT_NE(a.sequences, c.sequences);
  // Mean length near 8, every user long enough to be evaluated.
  for (const auto& s : a.sequences) EXPECT_GE(s.size(), 3u);
  EXPECT_NEAR(static_cast<double>(a.NumEvents()) / a.num_users, 8.0, 1.0);
}

TEST(SyntheticTest, HasPopularitySkewAndSequentialStructure) {
  SyntheticOptions o;
  o.num_users = 1000;
  o.num_items = 500;
  o.seed = 2;
  ASSERT_OK_AND_ASSIGN(Interactions d, GenerateSynthetic(o));
  std::map<int32_t, int64_t> count;
  std::map<std::pair<int32_t, int32_t>, int64_t> bigram;
  int64_t transitions = 0;
  for (const auto& s : d.sequences) {
    for (size_t i = 0; i < s.size(); ++i) {
      ++count[s[i]];
      if (i > 0) {
        ++bigram[{s[i - 1], s[i]}];
        ++transitions;
        EXPECT_NE(s[i - 1], s[i]);
      }
    }
  }
  int64_t top = 0;
  for (auto& [item, c] : count) top = std::max(top, c);
  // Uniform popularity would give ~ events / items per item.
  EXPECT_GT(top, 10 * d.NumEvents() / d.num_items);
  // For each previous item, its most frequent successor: with markov_prob 0.6
  // and 3 successors this explains far more than 1 / num_items of transitions.
  std::map<int32_t, int64_t> best_next;
  for (auto& [pair, c] : bigram) best_next[pair.first] = std::max(best_next[pair.first], c);
  int64_t explained = 0;
  for (auto& [item, c] : best_next) explained += c;
  EXPECT_GT(static_cast<double>(explained) / transitions, 0.25);
}

TEST(SyntheticTest, RejectsBadOptions) {
  SyntheticOptions o;
  o.num_users = 0;
  EXPECT_THAT(GenerateSynthetic(o), StatusIs(absl::StatusCode::kInvalidArgument));
  o = SyntheticOptions();
  o.clusters = o.num_items;
  EXPECT_THAT(GenerateSynthetic(o), StatusIs(absl::StatusCode::kInvalidArgument));
  o = SyntheticOptions();
  o.mean_length = 2;
  EXPECT_THAT(GenerateSynthetic(o), StatusIs(absl::StatusCode::kInvalidArgument));
  o = SyntheticOptions();
  o.markov_prob = 1.5;
  EXPECT_THAT(GenerateSynthetic(o), StatusIs(absl::StatusCode::kInvalidArgument));
  o = SyntheticOptions();
  o.successors = 0;
  EXPECT_THAT(GenerateSynthetic(o), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace qfleet::seqrec
