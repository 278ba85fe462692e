#include "common/retry_backoff.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/status_matchers.h"

namespace qfleet {
namespace {

using ::testing::HasSubstr;

const absl::Status kDown = absl::UnavailableError("Socket closed");

TEST(RetryBackoffTest, DoublesUpToTheCapWithoutJitter) {
  FakeClock clock(1000);
  BackoffOptions o;
  o.initial_ms = 100;
  o.max_ms = 1000;
  o.jitter = 0;
  o.max_outage_ms = 0;
  RetryBackoff b(o, &clock, 1);
  std::vector<int64_t> waits;
  for (int i = 0; i < 6; ++i) {
    ASSERT_OK_AND_ASSIGN(int64_t w, b.NextDelayMs(kDown, "coordinator"));
    waits.push_back(w);
    clock.Advance(w);
  }
  EXPECT_EQ(waits, (std::vector<int64_t>{100, 200, 400, 800, 1000, 1000}));
  EXPECT_EQ(b.failures(), 6);
  EXPECT_EQ(b.OutageMs(), 3500);
}

TEST(RetryBackoffTest, JitterStaysInRangeAndIsDeterministicForASeed) {
  FakeClock clock;
  BackoffOptions o;
  o.initial_ms = 1000;
  o.max_ms = 1000;
  o.jitter = 0.5;
  o.max_outage_ms = 0;
  RetryBackoff a(o, &clock, 7), b(o, &clock, 7), c(o, &clock, 8);
  bool differs = false;
  for (int i = 0; i < 50; ++i) {
    ASSERT_OK_AND_ASSIGN(int64_t wa, a.NextDelayMs(kDown, "x"));
    ASSERT_OK_AND_ASSIGN(int64_t wb, b.NextDelayMs(kDown, "x"));
    ASSERT_OK_AND_ASSIGN(int64_t wc, c.NextDelayMs(kDown, "x"));
    EXPECT_GE(wa, 500);
    EXPECT_LE(wa, 1000);
    EXPECT_EQ(wa, wb);
    differs = differs || wa != wc;
  }
  EXPECT_TRUE(differs) << "another seed must give other waits";
}

TEST(RetryBackoffTest, ResetStartsANewOutage) {
  FakeClock clock;
  BackoffOptions o;
  o.jitter = 0;
  o.max_outage_ms = 1000;
  RetryBackoff b(o, &clock, 1);
  ASSERT_OK(b.NextDelayMs(kDown, "x").status());
  clock.Advance(900);
  ASSERT_OK(b.NextDelayMs(kDown, "x").status());
  b.Reset();
  EXPECT_EQ(b.OutageMs(), 0);
  clock.Advance(900);
  // The outage restarted: 900 ms after the reset is not over the limit.
  ASSERT_OK_AND_ASSIGN(int64_t w, b.NextDelayMs(kDown, "x"));
  EXPECT_EQ(w, 100);
}

TEST(RetryBackoffTest, GivesUpAfterTheOutageWithAClearMessage) {
  FakeClock clock;
  BackoffOptions o;
  o.initial_ms = 100;
  o.max_ms = 400;
  o.jitter = 0;
  o.max_outage_ms = 1000;
  RetryBackoff b(o, &clock, 1);
  int64_t slept = 0;
  absl::StatusOr<int64_t> w;
  for (;;) {
    w = b.NextDelayMs(kDown, "the coordinator at 127.0.0.1:1");
    if (!w.ok()) break;
    clock.Advance(*w);
    slept += *w;
  }
  // The last wait is cut to end exactly at the limit.
  EXPECT_EQ(slept, 1000);
  EXPECT_THAT(w.status(), StatusIs(absl::StatusCode::kUnavailable,
                                   HasSubstr("the coordinator at 127.0.0.1:1 unreachable for 1s")));
  EXPECT_THAT(std::string(w.status().message()), HasSubstr("Socket closed"));
  EXPECT_THAT(std::string(w.status().message()), HasSubstr("--max-outage"));
  // It stays given up until a success.
  EXPECT_FALSE(b.NextDelayMs(kDown, "x").ok());
}

TEST(RetryBackoffTest, ClampsNonsenseOptions) {
  FakeClock clock;
  BackoffOptions o;
  o.initial_ms = 0;
  o.max_ms = -5;
  o.multiplier = 0.1;
  o.jitter = 7;
  o.max_outage_ms = 0;
  RetryBackoff b(o, &clock, 1);
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK_AND_ASSIGN(int64_t w, b.NextDelayMs(kDown, "x"));
    EXPECT_GE(w, 1);
    EXPECT_LE(w, 1);
  }
}

TEST(RetryBackoffTest, TransientCodes) {
  EXPECT_TRUE(IsTransient(absl::UnavailableError("")));
  EXPECT_TRUE(IsTransient(absl::DeadlineExceededError("")));
  EXPECT_TRUE(IsTransient(absl::ResourceExhaustedError("")));
  EXPECT_TRUE(IsTransient(absl::AbortedError("")));
  EXPECT_FALSE(IsTransient(absl::OkStatus()));
  EXPECT_FALSE(IsTransient(absl::PermissionDeniedError("")));
  EXPECT_FALSE(IsTransient(absl::InvalidArgumentError("")));
}

TEST(RetryBackoffTest, ParsesOutageFlags) {
  for (const auto& [text, ms] : std::vector<std::pair<std::string, int64_t>>{
           {"10m", 600000}, {"90s", 90000}, {"1h30m", 5400000}, {"0", 0}}) {
    ASSERT_OK_AND_ASSIGN(int64_t got, ParseOutageMs(text, "--max-outage"));
    EXPECT_EQ(got, ms) << text;
  }
  EXPECT_THAT(ParseOutageMs("-5s", "--max-outage"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--max-outage")));
  EXPECT_THAT(ParseOutageMs("soon", "--max-outage"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace qfleet
