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
  absl::StatusOr<Registration> Enroll(const std::string& name,
                                      const std::string& secret = "s3cret") {
    DeviceRecord d;
    d.name = name;
    d.sample_count = 10;
    return coordinator_->Register(d, secret);
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
  // Re-registering (with its token) does not undo a drain.
  DeviceRecord again;
  again.name = "dev-a";
  ASSERT_OK_AND_ASSIGN(Registration a2, coordinator_->Register(again, "", a.token));
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

TEST_F(CoordinatorDevicesTest, GaugesCountJoinTokensByStateAndCancelledRounds) {
  ASSERT_OK_AND_ASSIGN(NewJoinToken used, coordinator_->CreateJoinToken("used", 0, 0));
  ASSERT_OK_AND_ASSIGN(NewJoinToken once, coordinator_->CreateJoinToken("once", 0, 1));
  ASSERT_OK_AND_ASSIGN(NewJoinToken gone, coordinator_->CreateJoinToken("gone", 0, 0));
  ASSERT_OK(coordinator_->CreateJoinToken("short", 60000, 0).status());
  clock_.Advance(60000);  // "short" expires
  ASSERT_OK(Enroll("dev-a", used.secret).status());
  ASSERT_OK(Enroll("dev-b", used.secret).status());
  ASSERT_OK(Enroll("dev-c", once.secret).status());
  ASSERT_OK(Enroll("dev-d").status());  // the join secret: no token spent
  ASSERT_OK(coordinator_->RevokeJoinToken(gone.record.id).status());

  CampaignConfig cfg;
  cfg.rounds = 2;
  ASSERT_OK(coordinator_->StartCampaign(cfg).status());
  ASSERT_OK(coordinator_->Step());
  ASSERT_OK(coordinator_->CancelRound(1, "test").status());

  ASSERT_OK_AND_ASSIGN(FleetGauges g, coordinator_->Gauges());
  EXPECT_EQ(g.join_token_enrollments, 3u);
  EXPECT_EQ(g.join_tokens["active"], 1u);
  EXPECT_EQ(g.join_tokens["used_up"], 1u);
  EXPECT_EQ(g.join_tokens["revoked"], 1u);
  EXPECT_EQ(g.join_tokens["expired"], 1u);
  EXPECT_EQ(g.rounds_cancelled, 1u);
  EXPECT_EQ(g.rounds_completed, 0u);
  EXPECT_EQ(g.rounds_failed, 0u);
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

// --- Join tokens ---------------------------------------------------------------

TEST_F(CoordinatorDevicesTest, JoinTokenEnrollsNextToTheJoinSecret) {
  ASSERT_OK_AND_ASSIGN(NewJoinToken t, coordinator_->CreateJoinToken("lab", 0, 0));
  EXPECT_EQ(t.record.id, 1u);
  EXPECT_EQ(t.secret.size(), 64u);
  EXPECT_EQ(t.record.token_hash, Sha256Hex(t.secret));
  ASSERT_OK_AND_ASSIGN(Registration a, Enroll("dev-a", t.secret));
  EXPECT_OK(coordinator_->Authenticate(a.device_id, a.token));
  // The coordinator's join secret keeps working.
  EXPECT_OK(Enroll("dev-b").status());
  EXPECT_THAT(Enroll("dev-c", "nope"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("wrong join secret")));
  ASSERT_OK_AND_ASSIGN(std::vector<JoinTokenRecord> all, coordinator_->ListJoinTokens());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].uses, 1u);
  EXPECT_EQ(all[0].label, "lab");
  EXPECT_EQ(JoinTokenState(all[0], clock_.NowMs()), "active");
}

TEST_F(CoordinatorDevicesTest, ExpiredJoinTokenIsRefused) {
  ASSERT_OK_AND_ASSIGN(NewJoinToken t, coordinator_->CreateJoinToken("", 60000, 0));
  EXPECT_EQ(t.record.expires_ms, clock_.NowMs() + 60000);
  ASSERT_OK(Enroll("dev-a", t.secret).status());
  clock_.Advance(60000);
  EXPECT_THAT(Enroll("dev-b", t.secret),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("join token 1 expired")));
  // Also for re-enrolling a device the token enrolled.
  EXPECT_THAT(Enroll("dev-a", t.secret), StatusIs(absl::StatusCode::kPermissionDenied));
  ASSERT_OK_AND_ASSIGN(JoinTokenRecord stored, coordinator_->store().GetJoinToken(1));
  EXPECT_EQ(JoinTokenState(stored, clock_.NowMs()), "expired");
}

TEST_F(CoordinatorDevicesTest, RevokedJoinTokenIsRefusedEvenAfterRestart) {
  ASSERT_OK_AND_ASSIGN(NewJoinToken t, coordinator_->CreateJoinToken("", 0, 0));
  ASSERT_OK_AND_ASSIGN(Registration a, Enroll("dev-a", t.secret));
  ASSERT_OK_AND_ASSIGN(JoinTokenRecord revoked, coordinator_->RevokeJoinToken(t.record.id));
  EXPECT_EQ(revoked.revoked_ms, clock_.NowMs());
  clock_.Advance(5);
  // Idempotent: the first revocation time stays.
  ASSERT_OK_AND_ASSIGN(JoinTokenRecord again, coordinator_->RevokeJoinToken(t.record.id));
  EXPECT_EQ(again.revoked_ms, revoked.revoked_ms);
  Reopen();
  EXPECT_THAT(Enroll("dev-b", t.secret),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("join token 1 was revoked")));
  // Devices it enrolled keep their own token.
  EXPECT_OK(coordinator_->Authenticate(a.device_id, a.token));
}

TEST_F(CoordinatorDevicesTest, UsedUpJoinTokenRefusesNewDevicesOnly) {
  ASSERT_OK_AND_ASSIGN(NewJoinToken t, coordinator_->CreateJoinToken("two", 0, 2));
  ASSERT_OK(Enroll("dev-a", t.secret).status());
  ASSERT_OK(Enroll("dev-b", t.secret).status());
  EXPECT_THAT(Enroll("dev-c", t.secret),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("used up")));
  // A restarting agent re-registers its name: no use is spent.
  EXPECT_OK(Enroll("dev-a", t.secret).status());
  ASSERT_OK_AND_ASSIGN(JoinTokenRecord stored, coordinator_->store().GetJoinToken(1));
  EXPECT_EQ(stored.uses, 2u);
  EXPECT_EQ(JoinTokenState(stored, clock_.NowMs()), "used_up");
}

TEST_F(CoordinatorDevicesTest, OpenEnrollmentStillRefusesAnUnusableJoinToken) {
  coordinator_.reset();
  CoordinatorOptions o;
  o.db_path = (dir_ / "state.db").string();
  o.open_enrollment = true;
  o.clock = &clock_;
  ASSERT_OK_AND_ASSIGN(coordinator_, Coordinator::Open(o, std::make_unique<FakeBackend>()));
  ASSERT_OK_AND_ASSIGN(NewJoinToken t, coordinator_->CreateJoinToken("", 0, 0));
  ASSERT_OK(coordinator_->RevokeJoinToken(t.record.id).status());
  EXPECT_OK(Enroll("dev-a", "anything").status());
  EXPECT_THAT(Enroll("dev-b", t.secret), StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST_F(CoordinatorDevicesTest, JoinTokenErrorPaths) {
  EXPECT_THAT(coordinator_->CreateJoinToken("", -1, 0),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(coordinator_->CreateJoinToken(std::string(257, 'x'), 0, 0),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(coordinator_->RevokeJoinToken(9),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("join token 9")));
  ASSERT_OK_AND_ASSIGN(std::vector<JoinTokenRecord> none, coordinator_->ListJoinTokens());
  EXPECT_TRUE(none.empty());
}

}  // namespace
}  // namespace qfleet::cloud
