#include "cloud/service/upload_gate.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "cloud/service/admin_auth.h"
#include "common/status_matchers.h"

namespace qfleet::cloud {
namespace {

using ::testing::HasSubstr;

TEST(UploadGateTest, OneStreamPerDeviceAndTheTicketReleasesIt) {
  FakeClock clock(1000);
  UploadGate gate(1 << 20, 60000, &clock, /*watchdog_period_ms=*/0, /*same_device_wait_ms=*/50);
  ASSERT_OK_AND_ASSIGN(UploadGate::Ticket a, gate.Admit(7, 100, nullptr));
  auto again = gate.Admit(7, 100, nullptr);
  EXPECT_THAT(again.status(), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(std::string(again.status().message()), HasSubstr("device 7"));
  EXPECT_OK(gate.Admit(8, 100, nullptr).status());  // another device; released at once
  EXPECT_EQ(gate.streams(), 1u);
  { UploadGate::Ticket moved = std::move(a); }
  EXPECT_EQ(gate.streams(), 0u);
  EXPECT_OK(gate.Admit(7, 100, nullptr).status());
}

TEST(UploadGateTest, ANewStreamWaitsBrieflyForTheDevicesClosingOne) {
  UploadGate gate(1 << 20, 60000, nullptr, 0, /*same_device_wait_ms=*/5000);
  auto first = std::make_unique<UploadGate::Ticket>(gate.Admit(7, 100, nullptr).value());
  std::thread closer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    first.reset();
  });
  EXPECT_OK(gate.Admit(7, 100, nullptr).status());
  closer.join();
}

TEST(UploadGateTest, TheByteBudgetIsSharedByAllStreams) {
  FakeClock clock(0);
  UploadGate gate(1000, 60000, &clock, 0);
  ASSERT_OK_AND_ASSIGN(UploadGate::Ticket a, gate.Admit(1, 600, nullptr));
  EXPECT_THAT(gate.Admit(2, 401, nullptr).status(), StatusIs(absl::StatusCode::kResourceExhausted));
  ASSERT_OK_AND_ASSIGN(UploadGate::Ticket b, gate.Admit(2, 400, nullptr));
  EXPECT_EQ(gate.inflight_bytes(), 1000u);
  EXPECT_THAT(gate.Admit(3, ~0ull, nullptr).status(), StatusIs(absl::StatusCode::kResourceExhausted));
}

TEST(UploadGateTest, OverdueStreamsAreCancelledOnce) {
  FakeClock clock(0);
  UploadGate gate(1 << 20, 5000, &clock, 0);
  std::atomic<int> cancelled{0};
  ASSERT_OK_AND_ASSIGN(UploadGate::Ticket a, gate.Admit(1, 10, [&] { ++cancelled; }));
  clock.Advance(4000);
  ASSERT_OK_AND_ASSIGN(UploadGate::Ticket b, gate.Admit(2, 10, [&] { ++cancelled; }));
  EXPECT_EQ(gate.CancelOverdue(), 0);
  clock.Advance(1001);
  EXPECT_EQ(gate.CancelOverdue(), 1);
  EXPECT_EQ(gate.CancelOverdue(), 0);
  clock.Advance(4000);
  EXPECT_EQ(gate.CancelOverdue(), 1);
  EXPECT_EQ(cancelled.load(), 2);
}

TEST(AdminTokenStrengthTest, ShortAndPlaceholderTokensAreRefused) {
  EXPECT_OK(CheckAdminTokenStrength(std::string(32, 'x')));
  EXPECT_THAT(CheckAdminTokenStrength(std::string(31, 'x')),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CheckAdminTokenStrength("change-me-0123456789abcdef0123456789"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CheckAdminTokenStrength(""), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(AdminTokenStrengthTest, LoopbackHostsAreRecognised) {
  for (const char* h : {"127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"}) {
    EXPECT_TRUE(IsLoopbackHost(h)) << h;
  }
  for (const char* h : {"0.0.0.0", "10.0.0.1", "127.0.0", "127.evil.com", "127.0.0.1x", "[::]", "", "::"}) {
    EXPECT_FALSE(IsLoopbackHost(h)) << h;
  }
}

}  // namespace
}  // namespace qfleet::cloud
