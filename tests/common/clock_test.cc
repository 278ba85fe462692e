#include "common/clock.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace qfleet {
namespace {

TEST(ClockTest, FakeClockAdvancesOnlyWhenTold) {
  FakeClock clock(1000);
  EXPECT_EQ(clock.NowMs(), 1000);
  clock.Advance(250);
  EXPECT_EQ(clock.NowMs(), 1250);
  clock.SleepMs(50);
  EXPECT_EQ(clock.NowMs(), 1300);
  clock.Advance(-500);  // time never goes backwards
  clock.SleepMs(0);
  EXPECT_EQ(clock.NowMs(), 1300);
}

TEST(ClockTest, FakeClockIsThreadSafe) {
  FakeClock clock;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&clock] {
      for (int i = 0; i < 1000; ++i) {
        clock.Advance(1);
        (void)clock.NowMs();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(clock.NowMs(), 4000);
}

TEST(ClockTest, RealClockIsEpochMillisecondsAndSleeps) {
  Clock* real = Clock::Real();
  ASSERT_NE(real, nullptr);
  EXPECT_EQ(real, Clock::Real());
  const int64_t before = real->NowMs();
  EXPECT_GT(before, int64_t{1600000000000});  // after September 2020
  real->SleepMs(5);
  EXPECT_GE(real->NowMs() - before, 4);
}

}  // namespace
}  // namespace qfleet
