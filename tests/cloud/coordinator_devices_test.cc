#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "cloud/coordinator.h"
#include "common/sha256.h"
#include "common/status_matchers.h"
#include "tests/cloud/fake_backend.h"

namespace qfleet::cloud {
namespace {

using ::testing::HasSubstr;

// Device lifecycle: revoke, drain, enable, and the fleet gauges.
class CoordinatorDevicesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("qfleet-devices-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    Reopen();
  }
  void TearDown() override {
    coordinator_.reset();
    std::filesystem::remove_all(dir_);
  }
  // Closes the coordinator and opens a new one on the same database, as a
  // restarted process would.
  void Reopen() {
    coordinator_.reset();
    CoordinatorOptions o;
    o.db_path = (dir_ / "state.db").string();
    o.clock = &clock_;
    o.join_secret = "s3cret";
    auto c = Coordinator::Open(o, std::make_unique<FakeBackend>());
    ASSERT_OK(c.status());
    coordinator_ = *std::move(c);
  }
  absl::StatusOr<Registration> Enroll(const std::string& name) {
    DeviceRecord d;
    d.name = name;
    d.sample_count = 10;
    return coordinator_->Register(d, "s3cret");
  }

  std::filesystem::path dir_;
  FakeClock clock_{1000000};
  std::unique_ptr<Coordinator> coordinator_;
};

TEST_F(CoordinatorDevicesTest, TokensAreStoredOnlyAsTheirSha256) {
  ASSERT_OK_AND_ASSIGN(Registration a, Enroll("dev-a"));
  ASSERT_OK_AND_ASSIGN(DeviceRecord stored, coordinator_->store().GetDevice(a.device_id));
  EXPECT_EQ(a.token.size(), 64u);
  EXPECT_NE(stored.token_hash, a.token);
  EXPECT_EQ(stored.token_hash, Sha256Hex(a.token));
}

TEST_F(CoordinatorDevicesTest, RevokedDeviceIsUnauthenticatedAndCannotReRegister) {
  ASSERT_OK_AND_ASSIGN(Registration a, Enroll("dev-a"));
  ASSERT_OK(coordinator_->Authenticate(a.device_id, a.token));
  ASSERT_OK_AND_ASSIGN(DeviceRecord revoked, coordinator_->RevokeDevice(a.device_id));
  EXPECT_EQ(revoked.state, "revoked");
  EXPECT_THAT(coordinator_->Authenticate(a.device_id, a.token),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("revoked")));
  // The join secret does not bring it back.
  EXPECT_THAT(Enroll("dev-a"), StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("revoked")));
  // Revoking twice is fine.
  EXPECT_OK(coordinator_->RevokeDevice(a.device_id).status());
  // Other devices are unaffected.
  ASSERT_OK_AND_ASSIGN(Registration b, Enroll("dev-b"));
  EXPECT_OK(coordinator_->Authenticate(b.device_id, b.token));
}

TEST_F(CoordinatorDevicesTest, RevocationSurvivesRestart) {
  ASSERT_OK_AND_ASSIGN(Registration a, Enroll("dev-a"));
  ASSERT_OK(coordinator_->RevokeDevice(a.device_id).status());
  Reopen();
  EXPECT_THAT(coordinator_->Authenticate(a.device_id, a.token),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(Enroll("dev-a"), StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST_F(CoordinatorDevicesTest, EnableAfterRevokeNeedsANewRegistrationAndNewToken) {
  ASSERT_OK_AND_ASSIGN(Registration a, Enroll("dev-a"));
  ASSERT_OK(coordinator_->RevokeDevice(a.device_id).status());
  ASSERT_OK_AND_ASSIGN(DeviceRecord enabled, coordinator_->EnableDevice(a.device_id));
  EXPECT_EQ(enabled.state, "offline");
  // The revoked token stays dead.
  EXPECT_THAT(coordinator_->Authenticate(a.device_id, a.token),
              StatusIs(absl::StatusCode::kUnauthenticated));
  ASSERT_OK_AND_ASSIGN(Registration again, Enroll("dev-a"));
  EXPECT_EQ(again.device_id, a.device_id);
  EXPECT_NE(again.token, a.token);
  EXPECT_OK(coordinator_->Authenticate(a.device_id, again.token));
  EXPECT_THAT(coordinator_->Authenticate(a.device_id, a.token),
              StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST_F(CoordinatorDevicesTest, RevokingDropsTheDeviceFromTheOpenRound) {
  ASSERT_OK_AND_ASSIGN(Registration a, Enroll("dev-a"));
  ASSERT_OK_AND_ASSIGN(Registration b, Enroll("dev-b"));
  CampaignConfig cfg;
  cfg.rounds = 1;
  cfg.min_devices = 2;
  ASSERT_OK(coordinator_->StartCampaign(cfg).status());
  ASSERT_OK(coordinator_->Step());
  ASSERT_OK(coordinator_->RevokeDevice(a.device_id).status());
  ASSERT_OK_AND_ASSIGN(auto participants, coordinator_->store().ListParticipants(1));
  ASSERT_EQ(participants.size(), 2u);
  EXPECT_EQ(participants[0].device_id, a.device_id);
  EXPECT_EQ(participants[0].status, "dropped");
  EXPECT_EQ(participants[0].detail, "device revoked");
  EXPECT_EQ(participants[1].status, "assigned");
  (void)b;
}

TEST_F(CoordinatorDevicesTest, DrainedDeviceKeepsItsTokenButIsNotSelected) {
  ASSERT_OK_AND_ASSIGN(Registration a, Enroll("dev-a"));
  ASSERT_OK_AND_ASSIGN(Registration b, Enroll("dev-b"));
  ASSERT_OK_AND_ASSIGN(DeviceRecord drained, coordinator_->DrainDevice(a.device_id));
  EXPECT_EQ(drained.state, "drained");
  EXPECT_OK(coordinator_->Authenticate(a.device_id, a.token));
  // Re-registering does not undo a drain.
  ASSERT_OK_AND_ASSIGN(Registration a2, Enroll("dev-a"));
  EXPECT_EQ(coordinator_->store().GetDevice(a2.device_id)->state, "drained");
  CampaignConfig cfg;
  cfg.rounds = 1;
  ASSERT_OK(coordinator_->StartCampaign(cfg).status());
  ASSERT_OK(coordinator_->Step());
  ASSERT_OK_AND_ASSIGN(auto participants, coordinator_->store().ListParticipants(1));
  ASSERT_EQ(participants.size(), 1u);
  EXPECT_EQ(participants[0].device_id, b.device_id);
  ASSERT_OK_AND_ASSIGN(DeviceRecord enabled, coordinator_->EnableDevice(a.device_id));
  EXPECT_EQ(enabled.state, "active");
}

TEST_F(CoordinatorDevicesTest, GaugesCountRegisteredOnlineAndDoneRounds) {
  ASSERT_OK_AND_ASSIGN(Registration a, Enroll("dev-a"));
  ASSERT_OK(Enroll("dev-b").status());
  ASSERT_OK(coordinator_->DrainDevice(a.device_id).status());
  ASSERT_OK_AND_ASSIGN(FleetGauges g, coordinator_->Gauges());
  EXPECT_EQ(g.devices_registered, 2u);
  EXPECT_EQ(g.devices_online, 1u);
  EXPECT_EQ(g.rounds_completed, 0u);
  clock_.Advance(10 * 60 * 1000);  // every lease expires
  ASSERT_OK_AND_ASSIGN(g, coordinator_->Gauges());
  EXPECT_EQ(g.devices_online, 0u);
}

// --- Error paths -------------------------------------------------------------

TEST_F(CoordinatorDevicesTest, UnknownDevicesAreNotFound) {
  EXPECT_THAT(coordinator_->RevokeDevice(42).status(), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(coordinator_->DrainDevice(42).status(), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(coordinator_->EnableDevice(42).status(), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(CoordinatorDevicesTest, DrainingARevokedDeviceIsRefused) {
  ASSERT_OK_AND_ASSIGN(Registration a, Enroll("dev-a"));
  ASSERT_OK(coordinator_->RevokeDevice(a.device_id).status());
  EXPECT_THAT(coordinator_->DrainDevice(a.device_id).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(coordinator_->store().GetDevice(a.device_id)->state, "revoked");
}

}  // namespace
}  // namespace qfleet::cloud
