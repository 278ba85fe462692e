#include "common/seqrec/eval_sampler.h"

#include <algorithm>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/seqrec/synthetic.h"
#include "common/status_matchers.h"

namespace qfleet::seqrec {
namespace {

using ::testing::HasSubstr;

LeaveOneOutSplit SyntheticSplit(int64_t users, int64_t items) {
  SyntheticOptions o;
  o.num_users = users;
  o.num_items = items;
  o.clusters = 5;
  o.mean_length = 10;
  o.seed = 11;
  Interactions d = GenerateSynthetic(o).value();
  return SplitLeaveOneOut(d).value();
}

TEST(EvalSamplerTest, NeverSamplesInteractedItems) {
  LeaveOneOutSplit s = SyntheticSplit(400, 200);
  for (EvalStage stage : {EvalStage::kValidation, EvalStage::kTest}) {
    ASSERT_OK_AND_ASSIGN(EvalSample e, BuildEvalSample(s, stage, EvalSampleOptions()));
    ASSERT_EQ(e.NumUsers(), 400);
    ASSERT_EQ(e.num_negatives, 100);
    ASSERT_EQ(e.negatives.size(), 400u * 100u);
    for (int64_t i = 0; i < e.NumUsers(); ++i) {
      const int32_t u = e.users[i];
      EXPECT_EQ(e.targets[i], EvalTarget(s, u, stage));
      std::set<int32_t> seen(s.train[u].begin(), s.train[u].end());
      seen.insert(s.valid_target[u]);
      seen.insert(s.test_target[u]);
      std::set<int32_t> negs;
      for (int64_t j = 0; j < 100; ++j) {
        const int32_t item = e.negatives[i * 100 + j];
        EXPECT_GE(item, 1);
        EXPECT_LE(item, 200);
        EXPECT_EQ(seen.count(item), 0u) << "user " << u << " item " << item;
        negs.insert(item);
      }
      EXPECT_EQ(negs.size(), 100u);  // distinct
    }
  }
}

TEST(EvalSamplerTest, IsDeterministicAndSeeded) {
  LeaveOneOutSplit s = SyntheticSplit(300, 2000);
  EvalSampleOptions o;
  o.seed = 4;
  ASSERT_OK_AND_ASSIGN(EvalSample a, BuildEvalSample(s, EvalStage::kTest, o));
  ASSERT_OK_AND_ASSIGN(EvalSample b, BuildEvalSample(s, EvalStage::kTest, o));
  EXPECT_EQ(a.users, b.users);
  EXPECT_EQ(a.negatives, b.negatives);
  o.seed = 5;
  ASSERT_OK_AND_ASSIGN(EvalSample c, BuildEvalSample(s, EvalStage::kTest, o));
  EXPECT_NE(a.negatives, c.negatives);
  // Negatives are drawn uniformly: every item is used somewhere.
  std::set<int32_t> used(a.negatives.begin(), a.negatives.end());
  EXPECT_GT(used.size(), 1900u);
}

TEST(EvalSamplerTest, SubsamplesAFixedSetOfUsers) {
  LeaveOneOutSplit s = SyntheticSplit(500, 300);
  s.valid_target[7] = s.test_target[7] = 0;  // a training-only user
  EvalSampleOptions o;
  o.max_users = 120;
  ASSERT_OK_AND_ASSIGN(EvalSample v, BuildEvalSample(s, EvalStage::kValidation, o));
  ASSERT_OK_AND_ASSIGN(EvalSample t, BuildEvalSample(s, EvalStage::kTest, o));
  EXPECT_EQ(v.NumUsers(), 120);
  EXPECT_EQ(v.users, t.users);  // same users for both stages
  EXPECT_TRUE(std::is_sorted(v.users.begin(), v.users.end()));
  EXPECT_EQ(std::count(v.users.begin(), v.users.end(), 7), 0);
  o.max_users = 0;
  ASSERT_OK_AND_ASSIGN(EvalSample all, BuildEvalSample(s, EvalStage::kTest, o));
  EXPECT_EQ(all.NumUsers(), 499);
}

TEST(EvalSamplerTest, ErrorPaths) {
  LeaveOneOutSplit s = SyntheticSplit(50, 105);
  EvalSampleOptions o;
  o.num_negatives = 0;
  EXPECT_THAT(BuildEvalSample(s, EvalStage::kTest, o), StatusIs(absl::StatusCode::kInvalidArgument));
  o = EvalSampleOptions();
  o.max_users = -1;
  EXPECT_THAT(BuildEvalSample(s, EvalStage::kTest, o), StatusIs(absl::StatusCode::kInvalidArgument));
  // 105 items: a user with more than 5 distinct items leaves < 100 negatives.
  EXPECT_THAT(BuildEvalSample(s, EvalStage::kTest, EvalSampleOptions()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("fewer than 100")));
  LeaveOneOutSplit none;
  none.num_users = 1;
  none.num_items = 500;
  none.train = {{1}};
  none.valid_target = {0};
  none.test_target = {0};
  EXPECT_THAT(BuildEvalSample(none, EvalStage::kTest, EvalSampleOptions()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no user")));
}

}  // namespace
}  // namespace qfleet::seqrec
