// The coordinator's side of issue 23's trust rules, without gRPC: what an
// update must pass before anything is written, failed aggregations, caps on
// what a device may make the coordinator store.

#include <filesystem>

#include "cloud/coordinator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/status_matchers.h"
#include "tests/cloud/coordinator_test_fixture.h"

namespace qfleet::cloud {
namespace {

size_t BlobFiles(const std::filesystem::path& dir) {
  size_t n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) n += e.is_regular_file();
  return n;
}

TEST_F(CoordinatorTest, ARevokedDevicesUpdateIsRefusedBeforeAnythingIsWritten) {
  Registration a = Enroll("a");
  const uint64_t task = OpenRoundTaskFor(a.device_id);
  ASSERT_NE(task, 0u);
  ASSERT_OK(coordinator_->RevokeDevice(a.device_id).status());
  const size_t before = BlobFiles(dir_ / "state.db.blobs");
  EXPECT_THAT(coordinator_->AcceptUpdate(a.device_id, task, "u", 10, Delta(0.5f)).status(),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(BlobFiles(dir_ / "state.db.blobs"), before);
}

TEST_F(CoordinatorTest, ADroppedParticipantsUpdateIsRefused) {
  Registration a = Enroll("a");
  const uint64_t task = OpenRoundTaskFor(a.device_id);
  ASSERT_OK(coordinator_->ResetDevice(a.device_id).status());  // drops its task
  EXPECT_THAT(coordinator_->AcceptUpdate(a.device_id, task, "u", 10, Delta(0.5f)).status(),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST_F(CoordinatorTest, AFailingAggregationBacksOffThenFailsTheRoundAndKeepsEarlierVersions) {
  Registration a = Enroll("a");
  const uint64_t task = OpenRoundTaskFor(a.device_id);
  ASSERT_OK(coordinator_->AcceptUpdate(a.device_id, task, "u", 10, Delta(0.5f, 0)).status());
  ASSERT_OK(coordinator_->AcceptReport(Report(a.device_id, task, "r")).status());
  backend_->fail_evaluate = true;
  const int evaluations = backend_->evaluations.load();
  EXPECT_THAT(coordinator_->Step(), StatusIs(absl::StatusCode::kUnavailable));
  ASSERT_OK_AND_ASSIGN(RoundRecord r, coordinator_->store().GetRound(1));
  EXPECT_EQ(r.state, "aggregating");
  EXPECT_OK(coordinator_->Step());  // backing off: no attempt
  EXPECT_EQ(backend_->evaluations.load(), evaluations + 1);
  for (int attempt = 2; attempt <= 5; ++attempt) {
    clock_.Advance(60000);
    EXPECT_THAT(coordinator_->Step(), StatusIs(absl::StatusCode::kUnavailable));
  }
  ASSERT_OK_AND_ASSIGN(r, coordinator_->store().GetRound(1));
  EXPECT_EQ(r.state, "failed");
  EXPECT_THAT(r.detail, testing::HasSubstr("aggregation failed 5 times"));
  EXPECT_THAT(r.detail, testing::HasSubstr("no space left on device"));
  ASSERT_OK_AND_ASSIGN(ModelBlob latest, coordinator_->GetModel(0));
  EXPECT_EQ(latest.version, 1u);
  EXPECT_OK(coordinator_->Step());  // the engine carries on
}

TEST_F(CoordinatorTest, CapsOnWhatOneDeviceMayMakeTheCoordinatorStore) {
  DeviceRecord d;
  d.name = "greedy";
  d.lowbit_support.assign(17, 2);
  EXPECT_THAT(coordinator_->Register(d, "").status(), StatusIs(absl::StatusCode::kInvalidArgument));
  d.lowbit_support = {2, 99};
  EXPECT_THAT(coordinator_->Register(d, "").status(), StatusIs(absl::StatusCode::kInvalidArgument));
  Registration a = Enroll("a");
  const uint64_t task = OpenRoundTaskFor(a.device_id);
  ReportRecord r = Report(a.device_id, task, "r");
  for (int i = 0; i < 65; ++i) r.metrics["m" + std::to_string(i)] = 1;
  EXPECT_THAT(coordinator_->AcceptReport(r).status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(CoordinatorTest, WithoutOpenEnrollmentAnEmptySecretIsRefused) {
  CoordinatorOptions o;
  o.db_path = (dir_ / "closed.db").string();
  o.clock = &clock_;
  ASSERT_OK_AND_ASSIGN(auto closed, Coordinator::Open(o, std::make_unique<FakeBackend>()));
  DeviceRecord d;
  d.name = "x";
  auto r = closed->Register(d, "");
  EXPECT_THAT(r.status(), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(std::string(r.status().message()), testing::HasSubstr("--open-enrollment"));
}

}  // namespace
}  // namespace qfleet::cloud
