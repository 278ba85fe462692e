#include "common/seqrec/leave_one_out.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/status_matchers.h"

namespace qfleet::seqrec {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

Interactions Sample() {
  Interactions d;
  d.num_users = 4;
  d.num_items = 9;
  d.sequences = {{1, 2, 3, 4, 5}, {6, 7}, {8, 9, 1}, {}};
  return d;
}

TEST(LeaveOneOutTest, HoldsOutLastTwoItems) {
  ASSERT_OK_AND_ASSIGN(LeaveOneOutSplit s, SplitLeaveOneOut(Sample()));
  EXPECT_EQ(s.num_users, 4);
  EXPECT_EQ(s.num_items, 9);
  EXPECT_THAT(s.train[0], ElementsAre(1, 2, 3));
  EXPECT_EQ(s.valid_target[0], 4);
  EXPECT_EQ(s.test_target[0], 5);
  EXPECT_THAT(s.train[2], ElementsAre(8));
  EXPECT_EQ(s.valid_target[2], 9);
  EXPECT_EQ(s.test_target[2], 1);
  EXPECT_EQ(s.NumEvaluated(), 2);
}

TEST(LeaveOneOutTest, ShortUsersAreTrainingOnly) {
  ASSERT_OK_AND_ASSIGN(LeaveOneOutSplit s, SplitLeaveOneOut(Sample()));
  EXPECT_THAT(s.train[1], ElementsAre(6, 7));
  EXPECT_FALSE(s.Evaluated(1));
  EXPECT_EQ(s.valid_target[1], 0);
  EXPECT_EQ(s.test_target[1], 0);
  EXPECT_THAT(s.train[3], IsEmpty());
  EXPECT_FALSE(s.Evaluated(3));
}

TEST(LeaveOneOutTest, EvalHistoryAddsValidationItemAtTest) {
  ASSERT_OK_AND_ASSIGN(LeaveOneOutSplit s, SplitLeaveOneOut(Sample()));
  EXPECT_THAT(EvalHistory(s, 0, EvalStage::kValidation), ElementsAre(1, 2, 3));
  EXPECT_THAT(EvalHistory(s, 0, EvalStage::kTest), ElementsAre(1, 2, 3, 4));
  EXPECT_EQ(EvalTarget(s, 0, EvalStage::kValidation), 4);
  EXPECT_EQ(EvalTarget(s, 0, EvalStage::kTest), 5);
  EXPECT_EQ(EvalTarget(s, 1, EvalStage::kTest), 0);
}

TEST(LeaveOneOutTest, RejectsInvalidInteractions) {
  Interactions d = Sample();
  d.sequences[0].push_back(10);
  EXPECT_THAT(SplitLeaveOneOut(d), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace qfleet::seqrec
