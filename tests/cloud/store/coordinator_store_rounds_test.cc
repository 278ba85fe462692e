// CoordinatorStore: rounds, tasks, participants, updates and reports.

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "cloud/store/coordinator_store.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "record_test_util.h"
#include "store_test_util.h"

namespace qfleet::cloud {
namespace {

using ::qfleet::cloud::testing::ExpectSame;
using ::qfleet::cloud::testing::IsOkAndHolds;
using ::qfleet::cloud::testing::kMaxU64;
using ::qfleet::cloud::testing::MakeDevice;
using ::qfleet::cloud::testing::MakeRound;
using ::qfleet::cloud::testing::MakeTask;
using ::testing::ElementsAre;
using ::testing::Eq;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr absl::StatusCode kNotFound = absl::StatusCode::kNotFound;
constexpr absl::StatusCode kAlreadyExists = absl::StatusCode::kAlreadyExists;
constexpr absl::StatusCode kInvalidArgument =
    absl::StatusCode::kInvalidArgument;

auto HasStatus(const std::string& status) {
  return Field(&ParticipantRecord::status, status);
}

UpdateRecord MakeUpdate(const TaskRecord& task, const std::string& request_id) {
  UpdateRecord u;
  u.round = task.round;
  u.device_id = task.device_id;
  u.task_id = task.task_id;
  u.request_id = request_id;
  u.blob_hash = std::string(64, 'b');
  u.sample_count = kMaxU64;
  u.bytes = 4096;
  u.received_ms = 5000;
  return u;
}

ReportRecord MakeReport(const TaskRecord& task, const std::string& request_id) {
  ReportRecord r;
  r.round = task.round;
  r.device_id = task.device_id;
  r.task_id = task.task_id;
  r.request_id = request_id;
  r.train_loss = 0.6931471805599453;
  r.train_accuracy = -0.0;
  r.compute_seconds = 1e-310;
  r.quantize_seconds = std::numeric_limits<double>::max();
  r.bytes_down = 1;
  r.bytes_up = kMaxU64;
  r.steps = 300;
  r.metrics = {{"avg_bits", 4.25},
               {"neg_zero", -0.0},
               {"tiny", 5e-324},
               {"nan", std::nan("")},
               {"inf", std::numeric_limits<double>::infinity()},
               {"-inf", -std::numeric_limits<double>::infinity()},
               {"quote\"and\\slash \xc3\xa9", 0.1}};
  r.created_ms = 6000;
  return r;
}

// A store with three devices (ids 1, 2, 3) and round 1 open with tasks for
// devices 2 and 1 (in that order).
class RoundsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(store_, CoordinatorStore::Open(":memory:"));
    for (const char* name : {"d1", "d2", "d3"}) {
      ASSERT_OK(store_->InsertDevice(MakeDevice(name)));
    }
    round_ = MakeRound(1);
    ASSERT_OK_AND_ASSIGN(
        tasks_, store_->CreateRound(round_, {MakeTask(2), MakeTask(1)}));
    ASSERT_THAT(tasks_, SizeIs(2));
  }

  std::unique_ptr<CoordinatorStore> store_;
  RoundRecord round_;
  std::vector<TaskRecord> tasks_;  // tasks_[0]: device 2, tasks_[1]: device 1.
};

// --- rounds
// -------------------------------------------------------------------

TEST_F(RoundsTest, CreateRoundStoresRoundTasksAndParticipants) {
  ASSERT_OK_AND_ASSIGN(RoundRecord loaded, store_->GetRound(1));
  ExpectSame(loaded, round_);
  for (size_t i = 0; i < tasks_.size(); ++i) {
    TaskRecord expected = MakeTask(i == 0 ? 2 : 1);
    expected.round = 1;
    expected.task_id = i + 1;
    ExpectSame(tasks_[i], expected);
    ASSERT_OK_AND_ASSIGN(TaskRecord stored, store_->GetTask(tasks_[i].task_id));
    ExpectSame(stored, expected);
  }
  ASSERT_OK_AND_ASSIGN(std::vector<ParticipantRecord> participants,
                       store_->ListParticipants(1));
  ASSERT_THAT(participants, SizeIs(2));
  EXPECT_EQ(participants[0].device_id, 1u);  // Ordered by device id.
  EXPECT_EQ(participants[0].task_id, tasks_[1].task_id);
  EXPECT_EQ(participants[0].status, "assigned");
  EXPECT_EQ(participants[0].round, 1u);
  EXPECT_EQ(participants[0].detail, "");
  EXPECT_EQ(participants[1].device_id, 2u);
  EXPECT_EQ(participants[1].task_id, tasks_[0].task_id);
}

TEST_F(RoundsTest, RoundNumbersAndLatest) {
  EXPECT_THAT(store_->MaxRoundNumber(), IsOkAndHolds(1u));
  RoundRecord third = MakeRound(3);
  ASSERT_OK(store_->CreateRound(third, {}));
  EXPECT_THAT(store_->MaxRoundNumber(), IsOkAndHolds(3u));
  ASSERT_OK_AND_ASSIGN(auto latest, store_->LatestRound());
  ASSERT_TRUE(latest.has_value());
  ExpectSame(*latest, third);
  ASSERT_OK_AND_ASSIGN(std::vector<RoundRecord> rounds, store_->ListRounds());
  ASSERT_THAT(rounds, SizeIs(2));
  ExpectSame(rounds[0], round_);
  ExpectSame(rounds[1], third);
}

TEST_F(RoundsTest, UpdateRoundOverwritesEveryField) {
  ASSERT_OK_AND_ASSIGN(const uint64_t campaign,
                       store_->InsertCampaign({0, "{}", 1, 2, "running", 0}));
  RoundRecord done;
  done.round = 1;
  done.campaign_id = campaign;
  done.state = "done";
  done.model_version_in = 1;
  done.model_version_out = 2;
  done.started_ms = 1;
  done.deadline_ms = 2;
  done.finished_ms = 3;
  done.acc_fp32 = 0.987654321;
  done.acc_q8 = std::nan("");
  done.bytes_down = 10;
  done.bytes_up = 20;
  done.detail = "";
  ASSERT_OK(store_->UpdateRound(done));
  ASSERT_OK_AND_ASSIGN(RoundRecord loaded, store_->GetRound(1));
  ExpectSame(loaded, done);
}

TEST_F(RoundsTest, CreateRoundIsAtomic) {
  // The second task repeats device 3: nothing of round 2 may remain.
  EXPECT_THAT(store_->CreateRound(MakeRound(2), {MakeTask(3), MakeTask(3)}),
              StatusIs(kAlreadyExists, HasSubstr("device 3")));
  EXPECT_THAT(store_->GetRound(2), StatusIs(kNotFound));
  EXPECT_THAT(store_->MaxRoundNumber(), IsOkAndHolds(1u));
  EXPECT_THAT(store_->OpenTaskForDevice(3), IsOkAndHolds(Eq(std::nullopt)));
  // An unknown device in the last task rolls back the earlier ones too.
  EXPECT_THAT(store_->CreateRound(MakeRound(2), {MakeTask(3), MakeTask(99)}),
              StatusIs(kNotFound, HasSubstr("99")));
  EXPECT_THAT(store_->GetRound(2), StatusIs(kNotFound));
  EXPECT_THAT(store_->OpenTaskForDevice(3), IsOkAndHolds(Eq(std::nullopt)));
  // The rollbacks also undid the task id allocations.
  ASSERT_OK_AND_ASSIGN(auto tasks,
                       store_->CreateRound(MakeRound(2), {MakeTask(3)}));
  EXPECT_EQ(tasks[0].task_id, 3u);
  ASSERT_OK_AND_ASSIGN(TaskRecord stored, store_->GetTask(tasks[0].task_id));
  EXPECT_EQ(stored.device_id, 3u);
  EXPECT_THAT(store_->ListParticipants(2), IsOkAndHolds(SizeIs(1)));
}

TEST_F(RoundsTest, CreateRoundValidatesItsInput) {
  EXPECT_THAT(store_->CreateRound(MakeRound(1), {}),
              StatusIs(kAlreadyExists, HasSubstr("round 1")));
  EXPECT_THAT(store_->CreateRound(MakeRound(0), {}),
              StatusIs(kInvalidArgument));
  RoundRecord bad_state = MakeRound(2);
  bad_state.state = "paused";
  EXPECT_THAT(store_->CreateRound(bad_state, {}), StatusIs(kInvalidArgument));
  TaskRecord bad_strategy = MakeTask(3);
  bad_strategy.strategy = "int4";
  EXPECT_THAT(store_->CreateRound(MakeRound(2), {bad_strategy}),
              StatusIs(kInvalidArgument, HasSubstr("int4")));
  TaskRecord other_round = MakeTask(3);
  other_round.round = 7;
  EXPECT_THAT(store_->CreateRound(MakeRound(2), {other_round}),
              StatusIs(kInvalidArgument));
  RoundRecord with_campaign = MakeRound(2);
  with_campaign.campaign_id = 404;
  EXPECT_THAT(store_->CreateRound(with_campaign, {}),
              StatusIs(kNotFound, HasSubstr("404")));
  EXPECT_THAT(store_->MaxRoundNumber(), IsOkAndHolds(1u));
}

TEST_F(RoundsTest, TaskPlanMustExistAndBelongToTheDevice) {
  ASSERT_OK_AND_ASSIGN(const uint64_t plan,
                       store_->InsertPlan({0, 3, 0, "p", 0}));
  TaskRecord foreign = MakeTask(1);
  foreign.plan_id = plan;
  EXPECT_THAT(store_->CreateRound(MakeRound(2), {foreign}),
              StatusIs(kInvalidArgument, HasSubstr("plan")));
  TaskRecord missing = MakeTask(3);
  missing.plan_id = 999;
  EXPECT_THAT(store_->CreateRound(MakeRound(2), {missing}),
              StatusIs(kNotFound, HasSubstr("999")));
  TaskRecord own = MakeTask(3);
  own.plan_id = plan;
  ASSERT_OK_AND_ASSIGN(auto tasks, store_->CreateRound(MakeRound(2), {own}));
  ASSERT_OK_AND_ASSIGN(TaskRecord stored, store_->GetTask(tasks[0].task_id));
  EXPECT_EQ(stored.plan_id, plan);
}

// --- open tasks and participants
// ------------------------------------------------

TEST_F(RoundsTest, CachedIdleAnswersGoStaleOnlyWhenADeviceGainsATask) {
  // Every answer below is read twice: once from SQLite, once from the cache.
  auto open_task = [&](uint64_t device) {
    absl::StatusOr<std::optional<TaskRecord>> first = store_->OpenTaskForDevice(device);
    absl::StatusOr<std::optional<TaskRecord>> second = store_->OpenTaskForDevice(device);
    EXPECT_TRUE(first.ok() && second.ok());
    EXPECT_EQ(first->has_value(), second->has_value()) << device;
    return first.ok() && first->has_value();
  };
  EXPECT_FALSE(open_task(3));
  RoundRecord closed = round_;
  closed.state = "done";
  ASSERT_OK(store_->UpdateRound(closed));
  EXPECT_FALSE(open_task(1));
  // A new round gives device 3 a task: its cached answer is void, the
  // others' stay right.
  ASSERT_OK_AND_ASSIGN(auto tasks, store_->CreateRound(MakeRound(2), {MakeTask(3)}));
  EXPECT_TRUE(open_task(3));
  EXPECT_FALSE(open_task(1));
  // Its own participant status moves it both ways.
  ASSERT_OK(store_->SetParticipantStatus(2, 3, "uploaded", ""));
  EXPECT_FALSE(open_task(3));
  ASSERT_OK(store_->SetParticipantStatus(2, 3, "assigned", ""));
  EXPECT_TRUE(open_task(3));
  // So does the round: closed, then written back to open.
  RoundRecord second = MakeRound(2);
  second.state = "aggregating";
  ASSERT_OK(store_->UpdateRound(second));
  EXPECT_FALSE(open_task(3));
  second.state = "open";
  ASSERT_OK(store_->UpdateRound(second));
  EXPECT_TRUE(open_task(3));
  // An update and a report of device 3 end its task.
  ASSERT_OK(store_->InsertUpdate(MakeUpdate(tasks[0], "u3")).status());
  EXPECT_FALSE(open_task(3));
  EXPECT_FALSE(open_task(2));
}

TEST_F(RoundsTest, OpenTaskFollowsRoundStateAndParticipantStatus) {
  ASSERT_OK_AND_ASSIGN(auto open, store_->OpenTaskForDevice(1));
  ASSERT_TRUE(open.has_value());
  ExpectSame(*open, tasks_[1]);
  EXPECT_THAT(store_->OpenTaskForDevice(3), IsOkAndHolds(Eq(std::nullopt)));

  ASSERT_OK(store_->SetParticipantStatus(1, 1, "pulled", ""));
  ASSERT_OK_AND_ASSIGN(open, store_->OpenTaskForDevice(1));
  EXPECT_TRUE(open.has_value());
  ASSERT_OK(store_->SetParticipantStatus(1, 1, "uploaded", ""));
  EXPECT_THAT(store_->OpenTaskForDevice(1), IsOkAndHolds(Eq(std::nullopt)));

  RoundRecord aggregating = round_;
  aggregating.state = "aggregating";
  ASSERT_OK(store_->UpdateRound(aggregating));
  EXPECT_THAT(store_->OpenTaskForDevice(2), IsOkAndHolds(Eq(std::nullopt)));

  // The newest open round wins.
  ASSERT_OK_AND_ASSIGN(auto next,
                       store_->CreateRound(MakeRound(2), {MakeTask(2)}));
  ASSERT_OK_AND_ASSIGN(open, store_->OpenTaskForDevice(2));
  ASSERT_TRUE(open.has_value());
  EXPECT_EQ(open->task_id, next[0].task_id);
  EXPECT_EQ(open->round, 2u);
}

TEST_F(RoundsTest, SetParticipantStatusStoresDetail) {
  ASSERT_OK(store_->SetParticipantStatus(1, 2, "rejected", "bad checksum"));
  ASSERT_OK_AND_ASSIGN(auto participants, store_->ListParticipants(1));
  EXPECT_EQ(participants[1].status, "rejected");
  EXPECT_EQ(participants[1].detail, "bad checksum");
  EXPECT_THAT(store_->SetParticipantStatus(1, 2, "lost", ""),
              StatusIs(kInvalidArgument));
  EXPECT_THAT(store_->SetParticipantStatus(1, 3, "pulled", ""),
              StatusIs(kNotFound, HasSubstr("device 3")));
  EXPECT_THAT(store_->SetParticipantStatus(8, 1, "pulled", ""),
              StatusIs(kNotFound, HasSubstr("round 8")));
}

TEST_F(RoundsTest, UnknownRoundAndTaskAreNotFound) {
  EXPECT_THAT(store_->GetRound(8), StatusIs(kNotFound, HasSubstr("8")));
  EXPECT_THAT(store_->UpdateRound(MakeRound(8)),
              StatusIs(kNotFound, HasSubstr("8")));
  EXPECT_THAT(store_->ListParticipants(8), StatusIs(kNotFound, HasSubstr("8")));
  EXPECT_THAT(store_->ListUpdates(8), StatusIs(kNotFound, HasSubstr("8")));
  EXPECT_THAT(store_->ListReports(8), StatusIs(kNotFound, HasSubstr("8")));
  EXPECT_THAT(store_->GetTask(808), StatusIs(kNotFound, HasSubstr("808")));
}

// --- updates
// ------------------------------------------------------------------

TEST_F(RoundsTest, UpdateIsStoredOnceAndAdvancesTheParticipant) {
  const UpdateRecord update = MakeUpdate(tasks_[0], "req-1");
  ASSERT_OK_AND_ASSIGN(auto first, store_->InsertUpdate(update));
  EXPECT_FALSE(first.second);
  UpdateRecord expected = update;
  expected.update_id = first.first.update_id;
  EXPECT_NE(expected.update_id, 0u);
  ExpectSame(first.first, expected);

  // A retry (even with different payload fields) returns the stored row.
  UpdateRecord retry = update;
  retry.bytes = 1;
  ASSERT_OK_AND_ASSIGN(auto second, store_->InsertUpdate(retry));
  EXPECT_TRUE(second.second);
  ExpectSame(second.first, expected);

  ASSERT_OK_AND_ASSIGN(std::vector<UpdateRecord> updates,
                       store_->ListUpdates(1));
  ASSERT_THAT(updates, SizeIs(1));
  ExpectSame(updates[0], expected);
  EXPECT_THAT(
      store_->ListParticipants(1),
      IsOkAndHolds(ElementsAre(HasStatus("assigned"), HasStatus("uploaded"))));
}

TEST_F(RoundsTest, SecondUpdateForTheSameTaskIsAlreadyExists) {
  ASSERT_OK(store_->InsertUpdate(MakeUpdate(tasks_[0], "req-1")));
  EXPECT_THAT(store_->InsertUpdate(MakeUpdate(tasks_[0], "req-2")),
              StatusIs(kAlreadyExists, HasSubstr("round 1")));
  EXPECT_THAT(store_->ListUpdates(1), IsOkAndHolds(SizeIs(1)));
}

TEST_F(RoundsTest, ReusedRequestIdForAnotherTaskIsAlreadyExists) {
  ASSERT_OK(store_->InsertUpdate(MakeUpdate(tasks_[0], "req-1")));
  ASSERT_OK_AND_ASSIGN(auto next,
                       store_->CreateRound(MakeRound(2), {MakeTask(2)}));
  EXPECT_THAT(store_->InsertUpdate(MakeUpdate(next[0], "req-1")),
              StatusIs(kAlreadyExists, HasSubstr("req-1")));
  EXPECT_THAT(store_->ListUpdates(2), IsOkAndHolds(IsEmpty()));
}

TEST_F(RoundsTest, UpdatesAreListedByDeviceId) {
  ASSERT_OK(store_->InsertUpdate(MakeUpdate(tasks_[0], "from-2")));
  ASSERT_OK(store_->InsertUpdate(MakeUpdate(tasks_[1], "from-1")));
  EXPECT_THAT(store_->ListUpdates(1),
              IsOkAndHolds(ElementsAre(Field(&UpdateRecord::device_id, 1u),
                                       Field(&UpdateRecord::device_id, 2u))));
}

TEST_F(RoundsTest, UpdateMustMatchItsTask) {
  UpdateRecord no_task = MakeUpdate(tasks_[0], "r");
  no_task.task_id = 555;
  EXPECT_THAT(store_->InsertUpdate(no_task),
              StatusIs(kNotFound, HasSubstr("555")));
  UpdateRecord wrong_device = MakeUpdate(tasks_[0], "r");
  wrong_device.device_id = 1;
  EXPECT_THAT(store_->InsertUpdate(wrong_device), StatusIs(kInvalidArgument));
  UpdateRecord wrong_round = MakeUpdate(tasks_[0], "r");
  wrong_round.round = 2;
  EXPECT_THAT(store_->InsertUpdate(wrong_round), StatusIs(kInvalidArgument));
  EXPECT_THAT(store_->InsertUpdate(MakeUpdate(tasks_[0], "")),
              StatusIs(kInvalidArgument));
  UpdateRecord any_round = MakeUpdate(tasks_[0], "r");
  any_round.round = 0;  // Taken from the task.
  ASSERT_OK_AND_ASSIGN(auto stored, store_->InsertUpdate(any_round));
  EXPECT_EQ(stored.first.round, 1u);
  EXPECT_THAT(store_->ListUpdates(1), IsOkAndHolds(SizeIs(1)));
}

TEST_F(RoundsTest, LateUpdateDoesNotReviveADroppedParticipant) {
  ASSERT_OK(store_->SetParticipantStatus(1, 2, "dropped", "deadline"));
  ASSERT_OK(store_->InsertUpdate(MakeUpdate(tasks_[0], "late")));
  ASSERT_OK_AND_ASSIGN(auto participants, store_->ListParticipants(1));
  EXPECT_EQ(participants[1].status, "dropped");
  EXPECT_EQ(participants[1].detail, "deadline");
}

// --- reports
// ------------------------------------------------------------------

TEST_F(RoundsTest, ReportRoundTripsExactlyAndIsStoredOnce) {
  const ReportRecord report = MakeReport(tasks_[0], "rep-1");
  EXPECT_THAT(store_->InsertReport(report), IsOkAndHolds(false));
  EXPECT_THAT(store_->InsertReport(report), IsOkAndHolds(true));
  ASSERT_OK_AND_ASSIGN(std::vector<ReportRecord> reports,
                       store_->ListReports(1));
  ASSERT_THAT(reports, SizeIs(1));
  ExpectSame(reports[0], report);
  EXPECT_THAT(
      store_->ListParticipants(1),
      IsOkAndHolds(ElementsAre(HasStatus("assigned"), HasStatus("reported"))));
  EXPECT_THAT(store_->InsertReport(MakeReport(tasks_[0], "rep-2")),
              StatusIs(kAlreadyExists));
  EXPECT_THAT(store_->ListReports(1), IsOkAndHolds(SizeIs(1)));
}

TEST_F(RoundsTest, ReportAfterUploadMovesToReported) {
  ASSERT_OK(store_->InsertUpdate(MakeUpdate(tasks_[1], "u")));
  ASSERT_OK(store_->InsertReport(MakeReport(tasks_[1], "r")));
  ASSERT_OK_AND_ASSIGN(auto participants, store_->ListParticipants(1));
  EXPECT_EQ(participants[0].status, "reported");
}

TEST_F(RoundsTest, ReportWithErrorDropsTheParticipant) {
  ReportRecord failed = MakeReport(tasks_[1], "rep-err");
  failed.error = "out of memory";
  failed.metrics.clear();
  failed.train_loss = std::nan("");
  EXPECT_THAT(store_->InsertReport(failed), IsOkAndHolds(false));
  ASSERT_OK_AND_ASSIGN(auto participants, store_->ListParticipants(1));
  EXPECT_EQ(participants[0].status, "dropped");
  EXPECT_EQ(participants[0].detail, "out of memory");
  ASSERT_OK_AND_ASSIGN(std::vector<ReportRecord> reports,
                       store_->ListReports(1));
  ASSERT_THAT(reports, SizeIs(1));
  ExpectSame(reports[0], failed);
  EXPECT_THAT(store_->OpenTaskForDevice(1), IsOkAndHolds(Eq(std::nullopt)));
}

TEST_F(RoundsTest, ReportsAreListedByDeviceIdAndValidated) {
  ASSERT_OK(store_->InsertReport(MakeReport(tasks_[0], "a")));
  ASSERT_OK(store_->InsertReport(MakeReport(tasks_[1], "b")));
  EXPECT_THAT(store_->ListReports(1),
              IsOkAndHolds(ElementsAre(Field(&ReportRecord::device_id, 1u),
                                       Field(&ReportRecord::device_id, 2u))));
  ReportRecord bad_name = MakeReport(tasks_[0], "c");
  bad_name.metrics = {{std::string("\xff\xfe"), 1.0}};
  ASSERT_OK_AND_ASSIGN(auto next,
                       store_->CreateRound(MakeRound(2), {MakeTask(2)}));
  bad_name.task_id = next[0].task_id;
  bad_name.round = 2;
  EXPECT_THAT(store_->InsertReport(bad_name), StatusIs(kInvalidArgument));
  EXPECT_THAT(store_->ListReports(2), IsOkAndHolds(IsEmpty()));
  EXPECT_THAT(store_->InsertReport(MakeReport(tasks_[0], "")),
              StatusIs(kInvalidArgument));
  ReportRecord no_task = MakeReport(tasks_[0], "d");
  no_task.task_id = 555;
  EXPECT_THAT(store_->InsertReport(no_task),
              StatusIs(kNotFound, HasSubstr("555")));
}

// --- atomic multi-step callers
// ------------------------------------------------

TEST_F(RoundsTest, RunInTransactionRollsBackUpdateAndRoundChange) {
  const absl::Status status = store_->RunInTransaction([&]() -> absl::Status {
    RETURN_IF_ERROR(store_->InsertUpdate(MakeUpdate(tasks_[0], "u")).status());
    RoundRecord aggregating = round_;
    aggregating.state = "aggregating";
    RETURN_IF_ERROR(store_->UpdateRound(aggregating));
    return absl::UnavailableError("blob write failed");
  });
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(store_->ListUpdates(1), IsOkAndHolds(IsEmpty()));
  ASSERT_OK_AND_ASSIGN(RoundRecord loaded, store_->GetRound(1));
  EXPECT_EQ(loaded.state, "open");
  EXPECT_THAT(
      store_->ListParticipants(1),
      IsOkAndHolds(ElementsAre(HasStatus("assigned"), HasStatus("assigned"))));
}

}  // namespace
}  // namespace qfleet::cloud
