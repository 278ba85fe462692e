// Long-polls: PullTask with a wait and WaitForStateChange
// (cloud/coordinator_waits.cc). Waits run on the wall clock; the fixture's
// fake clock drives only the round engine.
#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "cloud/coordinator.h"
#include "tests/cloud/coordinator_test_fixture.h"

namespace qfleet::cloud {
namespace {

using Ms = std::chrono::milliseconds;

// Each test file's fixture needs its own name (the shared one lives in an
// anonymous namespace of the header).
class CoordinatorWaitsTest : public CoordinatorTest {};

int64_t MsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<Ms>(std::chrono::steady_clock::now() - start).count();
}

// Waits (a few seconds at most) until `n` calls wait in the coordinator.
void AwaitWaiters(Coordinator& c, int n) {
  for (int i = 0; i < 500 && c.waiters() < n; ++i) std::this_thread::sleep_for(Ms(10));
  ASSERT_EQ(c.waiters(), n);
}

TEST_F(CoordinatorWaitsTest, LongPollReturnsAtOnceWhenATaskExists) {
  const uint64_t dev = Enroll("a").device_id;
  ASSERT_OK(coordinator_->StartCampaign(Config()).status());
  ASSERT_OK(coordinator_->Step());
  const auto start = std::chrono::steady_clock::now();
  ASSERT_OK_AND_ASSIGN(PulledTask t, coordinator_->PullTask(dev, 10000, nullptr));
  EXPECT_TRUE(t.task.has_value());
  EXPECT_EQ(t.waited_ms, 0u);
  EXPECT_LT(MsSince(start), 2000);
}

TEST_F(CoordinatorWaitsTest, LongPollWaitsUntilItsDeadlineWhenNothingChanges) {
  const uint64_t dev = Enroll("a").device_id;
  CampaignConfig config = Config();
  config.min_devices = 2;  // one device: no round opens
  ASSERT_OK(coordinator_->StartCampaign(config).status());
  ASSERT_OK(coordinator_->Step());
  const auto start = std::chrono::steady_clock::now();
  ASSERT_OK_AND_ASSIGN(PulledTask t, coordinator_->PullTask(dev, 300, nullptr));
  EXPECT_FALSE(t.task.has_value());
  EXPECT_FALSE(t.fleet_idle);
  EXPECT_GE(MsSince(start), 300);
  EXPECT_GE(t.waited_ms, 300u);
  EXPECT_EQ(coordinator_->waiters(), 0);
}

TEST_F(CoordinatorWaitsTest, LongPollWakesWhenARoundOpens) {
  const uint64_t dev = Enroll("a").device_id;
  ASSERT_OK(coordinator_->StartCampaign(Config()).status());
  const auto start = std::chrono::steady_clock::now();
  auto pulled = std::async(std::launch::async,
                           [&] { return coordinator_->PullTask(dev, 20000, nullptr); });
  AwaitWaiters(*coordinator_, 1);
  ASSERT_OK(coordinator_->Step());  // opens round 1
  ASSERT_OK_AND_ASSIGN(PulledTask t, pulled.get());
  ASSERT_TRUE(t.task.has_value());
  EXPECT_EQ(t.task->round, 1u);
  EXPECT_GT(t.waited_ms, 0u);
  EXPECT_LT(MsSince(start), 10000) << "woken by the round, not the deadline";
}

TEST_F(CoordinatorWaitsTest, LongPollOnAnIdleFleetReturnsWhenACampaignStarts) {
  const uint64_t dev = Enroll("a").device_id;
  auto pulled = std::async(std::launch::async,
                           [&] { return coordinator_->PullTask(dev, 20000, nullptr); });
  AwaitWaiters(*coordinator_, 1);
  ASSERT_OK(coordinator_->StartCampaign(Config()).status());
  ASSERT_OK_AND_ASSIGN(PulledTask t, pulled.get());
  EXPECT_FALSE(t.task.has_value());  // no round yet: the engine has not stepped
  EXPECT_FALSE(t.fleet_idle);
}

TEST_F(CoordinatorWaitsTest, LongPollReturnsWhenTheCampaignEnds) {
  const uint64_t a = Enroll("a").device_id;
  Enroll("b");
  ASSERT_OK(coordinator_->StartCampaign(Config()).status());
  ASSERT_OK(coordinator_->Step());
  ASSERT_OK_AND_ASSIGN(PulledTask ta, coordinator_->PullTask(a));
  ASSERT_TRUE(ta.task.has_value());
  ASSERT_OK(coordinator_->AcceptReport(Report(a, ta.task->task_id, "r-a")).status());
  // a is done and waits for its next task; the round is cancelled and was
  // the campaign's last.
  auto pulled = std::async(std::launch::async,
                           [&] { return coordinator_->PullTask(a, 20000, nullptr); });
  AwaitWaiters(*coordinator_, 1);
  ASSERT_OK(coordinator_->CancelRound(1, "test").status());
  ASSERT_OK(coordinator_->Step());  // the campaign has no rounds left: done
  ASSERT_OK_AND_ASSIGN(PulledTask t, pulled.get());
  EXPECT_FALSE(t.task.has_value());
  EXPECT_TRUE(t.fleet_idle);
}

TEST_F(CoordinatorWaitsTest, StateVersionChangesWithRoundsAndWaitsForIt) {
  Enroll("a");
  const uint64_t v0 = coordinator_->StateVersion();
  EXPECT_NE(v0, 0u);
  // known 0 and a stale version answer at once.
  EXPECT_EQ(coordinator_->WaitForStateChange(0, 10000, nullptr), v0);
  EXPECT_EQ(coordinator_->WaitForStateChange(v0 - 1, 10000, nullptr), v0);
  ASSERT_OK(coordinator_->StartCampaign(Config()).status());
  const uint64_t v1 = coordinator_->StateVersion();
  EXPECT_NE(v1, v0);
  auto waited = std::async(std::launch::async,
                           [&] { return coordinator_->WaitForStateChange(v1, 20000, nullptr); });
  AwaitWaiters(*coordinator_, 1);
  ASSERT_OK(coordinator_->Step());  // opens round 1
  EXPECT_NE(waited.get(), v1);
  // A Step that changes nothing keeps the version.
  const uint64_t v2 = coordinator_->StateVersion();
  ASSERT_OK(coordinator_->Step());
  EXPECT_EQ(coordinator_->StateVersion(), v2);
}

TEST_F(CoordinatorWaitsTest, StateVersionDiffersAcrossRestarts) {
  const uint64_t before = coordinator_->StateVersion();
  std::this_thread::sleep_for(Ms(2));
  Reopen();
  EXPECT_NE(coordinator_->StateVersion(), before);
}

// --- Error paths and limits ----------------------------------------------------

TEST_F(CoordinatorWaitsTest, LongPollIsCappedByMaxWait) {
  max_wait_ms_ = 200;
  Reopen();
  const uint64_t dev = Enroll("a").device_id;
  const auto start = std::chrono::steady_clock::now();
  ASSERT_OK_AND_ASSIGN(PulledTask t, coordinator_->PullTask(dev, 60000, nullptr));
  EXPECT_TRUE(t.fleet_idle);
  EXPECT_LT(MsSince(start), 5000);
  EXPECT_GE(MsSince(start), 200);
}

TEST_F(CoordinatorWaitsTest, LongPollAnswersAtOnceBeyondMaxWaiters) {
  max_waiters_ = 0;
  Reopen();
  const uint64_t dev = Enroll("a").device_id;
  const auto start = std::chrono::steady_clock::now();
  ASSERT_OK_AND_ASSIGN(PulledTask t, coordinator_->PullTask(dev, 20000, nullptr));
  EXPECT_FALSE(t.task.has_value());
  EXPECT_EQ(t.waited_ms, 0u);
  EXPECT_GT(t.retry_after_ms, 0u);
  EXPECT_LT(MsSince(start), 2000);
  const uint64_t v = coordinator_->StateVersion();
  EXPECT_EQ(coordinator_->WaitForStateChange(v, 20000, nullptr), v);
  EXPECT_LT(MsSince(start), 2000);
}

TEST_F(CoordinatorWaitsTest, LongPollStopsWhenItsCallIsCancelled) {
  const uint64_t dev = Enroll("a").device_id;
  std::atomic<bool> cancelled{false};
  const auto start = std::chrono::steady_clock::now();
  auto pulled = std::async(std::launch::async, [&] {
    return coordinator_->PullTask(dev, 20000, [&] { return cancelled.load(); });
  });
  AwaitWaiters(*coordinator_, 1);
  cancelled = true;
  ASSERT_OK(pulled.get().status());
  EXPECT_LT(MsSince(start), 10000);
  EXPECT_EQ(coordinator_->waiters(), 0);
}

TEST_F(CoordinatorWaitsTest, ShutdownWaitersReleasesEveryWaitAndLaterOnes) {
  const uint64_t dev = Enroll("a").device_id;
  const auto start = std::chrono::steady_clock::now();
  auto pulled = std::async(std::launch::async,
                           [&] { return coordinator_->PullTask(dev, 20000, nullptr); });
  const uint64_t v = coordinator_->StateVersion();
  auto waited = std::async(std::launch::async,
                           [&] { return coordinator_->WaitForStateChange(v, 20000, nullptr); });
  AwaitWaiters(*coordinator_, 2);
  coordinator_->ShutdownWaiters();
  ASSERT_OK(pulled.get().status());
  EXPECT_EQ(waited.get(), v);
  ASSERT_OK_AND_ASSIGN(PulledTask later, coordinator_->PullTask(dev, 20000, nullptr));
  EXPECT_EQ(later.waited_ms, 0u);
  EXPECT_LT(MsSince(start), 10000);
}

// --- Start-up --------------------------------------------------------------------

TEST_F(CoordinatorWaitsTest, OpenDefersTheFirstEvaluationToFinishStartup) {
  EXPECT_EQ(backend_->evaluations.load(), 0);
  ASSERT_OK_AND_ASSIGN(ModelVersionRecord v1, coordinator_->store().GetModelVersion(1));
  EXPECT_LT(v1.acc_fp32, 0);
  ASSERT_OK(coordinator_->FinishStartup());
  EXPECT_EQ(backend_->evaluations.load(), 1);
  ASSERT_OK_AND_ASSIGN(v1, coordinator_->store().GetModelVersion(1));
  EXPECT_GE(v1.acc_fp32, 0);
  EXPECT_GE(v1.acc_q8, 0);
  // Idempotent, and a restart does not evaluate again.
  ASSERT_OK(coordinator_->FinishStartup());
  EXPECT_EQ(backend_->evaluations.load(), 1);
  Reopen();
  ASSERT_OK(coordinator_->FinishStartup());
  EXPECT_EQ(backend_->evaluations.load(), 0);
}

TEST_F(CoordinatorWaitsTest, SetModelVersionAccuracyOfAnUnknownVersionIsNotFound) {
  EXPECT_THAT(coordinator_->store().SetModelVersionAccuracy(99, 0.5, 0.5),
              StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace qfleet::cloud
