#include "cloud/coordinator.h"

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <nlohmann/json.hpp>
#include "common/container_quant.h"
#include "common/sha256.h"
#include "common/status_matchers.h"
#include "tests/cloud/fake_backend.h"
#include "tests/cloud/coordinator_test_fixture.h"

namespace qfleet::cloud {
namespace {

TEST_F(CoordinatorTest, CancelledRoundKeepsItsUpdatesButIsNotAggregated) {
  Registration a = Enroll("a");
  Registration b = Enroll("b");
  Registration c = Enroll("c");
  ASSERT_OK(coordinator_->StartCampaign(Config(2)).status());
  ASSERT_OK(coordinator_->Step());
  ASSERT_OK_AND_ASSIGN(PulledTask ta, coordinator_->PullTask(a.device_id));
  ASSERT_OK_AND_ASSIGN(PulledTask tb, coordinator_->PullTask(b.device_id));
  ASSERT_TRUE(ta.task.has_value() && tb.task.has_value());
  ASSERT_OK(coordinator_->AcceptUpdate(a.device_id, ta.task->task_id, "ua", 10, Delta(0.4f, 0))
                .status());
  ASSERT_OK(coordinator_->AcceptReport(Report(a.device_id, ta.task->task_id, "ra")).status());

  ASSERT_OK_AND_ASSIGN(RoundRecord cancelled, coordinator_->CancelRound(1, "bad config"));
  EXPECT_EQ(cancelled.state, "cancelled");
  EXPECT_THAT(cancelled.detail, HasSubstr("bad config"));
  EXPECT_EQ(cancelled.finished_ms, clock_.NowMs());

  // b held a task of the round: its upload and report get a clear error.
  EXPECT_THAT(
      coordinator_->AcceptUpdate(b.device_id, tb.task->task_id, "ub", 10, Delta(0.8f, 0)),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("round 1 was cancelled")));
  EXPECT_THAT(coordinator_->AcceptReport(Report(b.device_id, tb.task->task_id, "rb")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("round 1 was cancelled")));
  // c never pulled: no task of a cancelled round is handed out.
  ASSERT_OK_AND_ASSIGN(PulledTask none, coordinator_->PullTask(c.device_id));
  EXPECT_FALSE(none.task.has_value());

  // The accepted update and report stay in the DB; open participants are dropped.
  ASSERT_OK_AND_ASSIGN(std::vector<UpdateRecord> updates, coordinator_->store().ListUpdates(1));
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0].device_id, a.device_id);
  ASSERT_OK_AND_ASSIGN(std::vector<ReportRecord> reports, coordinator_->store().ListReports(1));
  EXPECT_EQ(reports.size(), 1u);
  ASSERT_OK_AND_ASSIGN(std::vector<ParticipantRecord> parts,
                       coordinator_->store().ListParticipants(1));
  for (const ParticipantRecord& p : parts) {
    EXPECT_EQ(p.status, p.device_id == a.device_id ? "reported" : "dropped") << p.device_id;
  }

  // The campaign moves on to round 2 from the unchanged model; round 1 is
  // never aggregated.
  ASSERT_OK(coordinator_->Step());
  ASSERT_OK_AND_ASSIGN(RoundRecord r1, coordinator_->store().GetRound(1));
  EXPECT_EQ(r1.state, "cancelled");
  EXPECT_EQ(r1.model_version_out, 0u);
  ASSERT_OK_AND_ASSIGN(RoundRecord r2, coordinator_->store().GetRound(2));
  EXPECT_EQ(r2.state, "open");
  EXPECT_EQ(r2.model_version_in, 1u);
  ASSERT_OK_AND_ASSIGN(PulledTask next, coordinator_->PullTask(b.device_id));
  ASSERT_TRUE(next.task.has_value());
  EXPECT_EQ(next.task->round, 2u);
}

TEST_F(CoordinatorTest, CancellingTheLastRoundEndsTheCampaign) {
  Enroll("a");
  ASSERT_OK(coordinator_->StartCampaign(Config(1)).status());
  ASSERT_OK(coordinator_->Step());
  ASSERT_OK(coordinator_->CancelRound(1, "").status());
  ASSERT_OK(coordinator_->Step());
  ASSERT_OK_AND_ASSIGN(std::optional<CampaignRecord> active, coordinator_->store().ActiveCampaign());
  EXPECT_FALSE(active.has_value());
  ASSERT_OK_AND_ASSIGN(uint64_t max_round, coordinator_->store().MaxRoundNumber());
  EXPECT_EQ(max_round, 1u);
  // A new campaign can start right away.
  EXPECT_OK(coordinator_->StartCampaign(Config(1)).status());
}

TEST_F(CoordinatorTest, CancellationSurvivesRestart) {
  Enroll("a");
  ASSERT_OK(coordinator_->StartCampaign(Config(1)).status());
  ASSERT_OK(coordinator_->Step());
  ASSERT_OK(coordinator_->CancelRound(1, "").status());
  Reopen();
  ASSERT_OK_AND_ASSIGN(RoundRecord r1, coordinator_->store().GetRound(1));
  EXPECT_EQ(r1.state, "cancelled");
  EXPECT_THAT(r1.detail, HasSubstr("cancelled by an admin"));
}

TEST_F(CoordinatorTest, CancelRoundErrorPaths) {
  Registration a = Enroll("a");
  EXPECT_THAT(coordinator_->CancelRound(1, ""),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("round 1 does not exist")));
  ASSERT_OK(coordinator_->StartCampaign(Config(2)).status());
  ASSERT_OK(coordinator_->Step());
  EXPECT_THAT(coordinator_->CancelRound(1, std::string(1025, 'x')),
              StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_OK(coordinator_->CancelRound(1, "").status());
  // Twice: already closed.
  EXPECT_THAT(coordinator_->CancelRound(1, ""),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("round 1 is cancelled")));
  // A round that finished normally cannot be cancelled either.
  ASSERT_OK(coordinator_->Step());
  ASSERT_OK_AND_ASSIGN(PulledTask t, coordinator_->PullTask(a.device_id));
  ASSERT_TRUE(t.task.has_value());
  ASSERT_OK(coordinator_->AcceptUpdate(a.device_id, t.task->task_id, "u2", 10, Delta(0.1f, 0))
                .status());
  ASSERT_OK(coordinator_->AcceptReport(Report(a.device_id, t.task->task_id, "r2")).status());
  ASSERT_OK(coordinator_->Step());
  ASSERT_OK_AND_ASSIGN(RoundRecord r2, coordinator_->store().GetRound(2));
  ASSERT_EQ(r2.state, "done");
  EXPECT_THAT(coordinator_->CancelRound(2, ""),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("round 2 is done")));
}

}  // namespace
}  // namespace qfleet::cloud
