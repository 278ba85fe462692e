#include "common/status_matchers.h"

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qfleet {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

absl::StatusOr<int> Half(int x) {
  if (x % 2 != 0) return absl::InvalidArgumentError("odd input");
  return x / 2;
}

absl::StatusOr<int> Quarter(int x) {
  ASSIGN_OR_RETURN(const int half, Half(x));
  ASSIGN_OR_RETURN(const int quarter, Half(half));
  return quarter;
}

absl::Status CheckEven(int x) {
  RETURN_IF_ERROR(Half(x).status());
  return absl::OkStatus();
}

TEST(StatusMatchersTest, IsOkWorksForStatusAndStatusOr) {
  EXPECT_THAT(absl::OkStatus(), IsOk());
  EXPECT_THAT(Half(4), IsOk());
  EXPECT_THAT(absl::InternalError("x"), Not(IsOk()));
  EXPECT_THAT(Half(3), Not(IsOk()));
  EXPECT_OK(CheckEven(2));
  ASSERT_OK(Half(2));
}

TEST(StatusMatchersTest, StatusIsChecksCodeAndMessage) {
  EXPECT_THAT(Half(3), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Half(3), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("odd")));
  EXPECT_THAT(Half(3), StatusIs(absl::StatusCode::kInvalidArgument, "odd input"));
  EXPECT_THAT(Half(3), Not(StatusIs(absl::StatusCode::kDataLoss)));
  EXPECT_THAT(Half(3), Not(StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("even"))));
  EXPECT_THAT(CheckEven(5), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(absl::OkStatus(), StatusIs(absl::StatusCode::kOk));
}

TEST(StatusMatchersTest, MatcherDescriptionsNameTheExpectation) {
  const ::testing::Matcher<absl::Status> m =
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("abc"));
  const std::string description = ::testing::DescribeMatcher<absl::Status>(m);
  EXPECT_THAT(description, HasSubstr("NOT_FOUND"));
  EXPECT_THAT(description, HasSubstr("abc"));
}

TEST(StatusMatchersTest, AssignOrReturnPropagatesAndAssertAssigns) {
  ASSERT_OK_AND_ASSIGN(const int q, Quarter(12));
  EXPECT_EQ(q, 3);
  EXPECT_THAT(Quarter(6), StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_OK_AND_ASSIGN(auto owned, absl::StatusOr<std::unique_ptr<int>>(std::make_unique<int>(7)));
  EXPECT_EQ(*owned, 7);
}

}  // namespace
}  // namespace qfleet
