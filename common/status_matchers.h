#ifndef QFLEET_COMMON_STATUS_MATCHERS_H_
#define QFLEET_COMMON_STATUS_MATCHERS_H_

// GoogleTest matchers and macros for absl::Status and absl::StatusOr<T>
// (Abseil 20220623 ships none). For tests only: includes gmock.
//
//   EXPECT_THAT(DoThing(), IsOk());
//   EXPECT_THAT(Decode(b), StatusIs(absl::StatusCode::kDataLoss));
//   EXPECT_THAT(Decode(b), StatusIs(absl::StatusCode::kInvalidArgument,
//                                   ::testing::HasSubstr("magic")));
//   ASSERT_OK(DoThing());
//   ASSERT_OK_AND_ASSIGN(auto value, Compute());

#include <ostream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/status_macros.h"

namespace qfleet {
namespace status_matchers_internal {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

class IsOkMatcher {
 public:
  template <typename T>
  bool MatchAndExplain(const T& actual, ::testing::MatchResultListener* listener) const {
    const absl::Status& s = GetStatus(actual);
    if (!s.ok()) *listener << "whose status is " << s;
    return s.ok();
  }
  void DescribeTo(std::ostream* os) const { *os << "is OK"; }
  void DescribeNegationTo(std::ostream* os) const { *os << "is not OK"; }
};

class StatusIsMatcher {
 public:
  StatusIsMatcher(::testing::Matcher<absl::StatusCode> code,
                  ::testing::Matcher<const std::string&> message)
      : code_(std::move(code)), message_(std::move(message)) {}

  template <typename T>
  bool MatchAndExplain(const T& actual, ::testing::MatchResultListener* listener) const {
    const absl::Status& s = GetStatus(actual);
    *listener << "whose status is " << s;
    return code_.Matches(s.code()) && message_.Matches(std::string(s.message()));
  }
  void DescribeTo(std::ostream* os) const {
    *os << "has a status code that ";
    code_.DescribeTo(os);
    *os << " and a message that ";
    message_.DescribeTo(os);
  }
  void DescribeNegationTo(std::ostream* os) const {
    *os << "has a status code that ";
    code_.DescribeNegationTo(os);
    *os << " or a message that ";
    message_.DescribeNegationTo(os);
  }

 private:
  ::testing::Matcher<absl::StatusCode> code_;
  ::testing::Matcher<const std::string&> message_;
};

}  // namespace status_matchers_internal

// Matches an OK absl::Status or an absl::StatusOr<T> holding a value.
inline ::testing::PolymorphicMatcher<status_matchers_internal::IsOkMatcher> IsOk() {
  return ::testing::MakePolymorphicMatcher(status_matchers_internal::IsOkMatcher());
}

// Matches a Status/StatusOr whose code matches `code` (a value or a matcher)
// and whose message matches `message` (a string or a matcher such as
// ::testing::HasSubstr).
template <typename CodeMatcher, typename MessageMatcher>
::testing::PolymorphicMatcher<status_matchers_internal::StatusIsMatcher> StatusIs(
    CodeMatcher code, MessageMatcher message) {
  return ::testing::MakePolymorphicMatcher(status_matchers_internal::StatusIsMatcher(
      ::testing::MatcherCast<absl::StatusCode>(code),
      ::testing::MatcherCast<const std::string&>(message)));
}

// Matches a Status/StatusOr whose code matches `code`, any message.
template <typename CodeMatcher>
::testing::PolymorphicMatcher<status_matchers_internal::StatusIsMatcher> StatusIs(
    CodeMatcher code) {
  return StatusIs(code, ::testing::_);
}

}  // namespace qfleet

#define EXPECT_OK(expr) EXPECT_THAT((expr), ::qfleet::IsOk())
#define ASSERT_OK(expr) ASSERT_THAT((expr), ::qfleet::IsOk())

// Evaluates a StatusOr expression, fails the test (returning from the test
// body) if it is not OK, and otherwise moves its value into `lhs`, which may
// be a declaration: ASSERT_OK_AND_ASSIGN(auto v, F());
#define ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  QFLEET_ASSERT_OK_AND_ASSIGN_IMPL_(QFLEET_CONCAT_(qfleet_assert_sor_, __LINE__), lhs, rexpr)

#define QFLEET_ASSERT_OK_AND_ASSIGN_IMPL_(sor, lhs, rexpr) \
  auto sor = (rexpr);                                      \
  ASSERT_TRUE(sor.ok()) << sor.status();                   \
  lhs = std::move(sor).value()

#endif  // QFLEET_COMMON_STATUS_MATCHERS_H_
