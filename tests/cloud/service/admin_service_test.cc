// AdminService: the admin token, device revocation, join tokens and round
// cancellation over gRPC.

#include "cloud/service/admin_service_impl.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "cloud/service/admin_auth.h"
#include "common/security/pki.h"
#include "common/status_matchers.h"
#include "tests/cloud/service/server_fixture.h"

namespace qfleet::cloud {
namespace {

namespace av1 = qfleet::admin::v1;
namespace fv1 = qfleet::fleet::v1;
using ::testing::HasSubstr;

constexpr char kToken[] = "admin-token-0123456789abcdef0123456789";

class AdminServiceTest : public ServerFixture {
 protected:
  // A plaintext server (the token check does not depend on the transport)
  // with the admin token set.
  void StartWithToken() {
    ServerOptions o;
    o.insecure = true;
    o.admin_token = kToken;
    StartServer(o);
    channel_ = Channel(grpc::InsecureChannelCredentials());
  }
  // Calls GetStatus with `authorization` metadata (none when empty).
  grpc::Status Status(const std::string& authorization) {
    auto stub = av1::AdminService::NewStub(channel_);
    grpc::ClientContext ctx;
    Deadline(&ctx);
    if (!authorization.empty()) ctx.AddMetadata("authorization", authorization);
    av1::StatusResponse resp;
    return stub->GetStatus(&ctx, av1::StatusRequest(), &resp);
  }
  grpc::Status Revoke(uint64_t device_id) {
    auto stub = av1::AdminService::NewStub(channel_);
    grpc::ClientContext ctx;
    Deadline(&ctx);
    ctx.AddMetadata("authorization", std::string("Bearer ") + kToken);
    av1::RevokeDeviceRequest req;
    req.set_device_id(device_id);
    av1::RevokeDeviceResponse resp;
    grpc::Status s = stub->RevokeDevice(&ctx, req, &resp);
    if (s.ok()) {
      EXPECT_EQ(resp.device().state(), "revoked");
    }
    return s;
  }
  grpc::StatusCode PullTask(const fv1::RegisterResponse& reg) {
    auto stub = fv1::FleetService::NewStub(channel_);
    grpc::ClientContext ctx;
    Deadline(&ctx);
    ctx.AddMetadata("authorization", "Bearer " + reg.token());
    fv1::PullTaskRequest req;
    req.set_device_id(reg.device_id());
    fv1::PullTaskResponse resp;
    return stub->PullTask(&ctx, req, &resp).error_code();
  }

  // Calls an admin method with the right token.
  template <typename Req, typename Resp, typename Method>
  grpc::Status Admin(Method method, const Req& req, Resp* resp) {
    auto stub = av1::AdminService::NewStub(channel_);
    grpc::ClientContext ctx;
    Deadline(&ctx);
    ctx.AddMetadata("authorization", std::string("Bearer ") + kToken);
    return ((*stub).*method)(&ctx, req, resp);
  }
  grpc::Status RegisterWith(const std::string& name, const std::string& secret,
                            fv1::RegisterResponse* resp) {
    auto stub = fv1::FleetService::NewStub(channel_);
    fv1::RegisterRequest req;
    req.set_device_name(name);
    req.mutable_data()->set_sample_count(10);
    req.set_join_secret(secret);
    grpc::ClientContext ctx;
    Deadline(&ctx);
    return stub->Register(&ctx, req, resp);
  }

  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(AdminServiceTest, RightTokenIsAccepted) {
  StartWithToken();
  grpc::Status s = Status(std::string("Bearer ") + kToken);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(AdminServiceTest, InsecureServerWithoutTokenIsOpenForLocalDevelopment) {
  ServerOptions o;
  o.insecure = true;
  StartServer(o);
  channel_ = Channel(grpc::InsecureChannelCredentials());
  EXPECT_TRUE(Status("").ok());
}

TEST_F(AdminServiceTest, RevokedDeviceIsUnauthenticatedAcrossRestart) {
  StartWithToken();
  fv1::RegisterResponse reg, other;
  ASSERT_TRUE(Register(channel_, "dev-a", &reg).ok());
  ASSERT_TRUE(Register(channel_, "dev-b", &other).ok());
  ASSERT_EQ(PullTask(reg), grpc::StatusCode::OK);
  ASSERT_TRUE(Revoke(reg.device_id()).ok());
  EXPECT_EQ(PullTask(reg), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(PullTask(other), grpc::StatusCode::OK);

  // A new coordinator process on the same database.
  OpenCoordinator();
  StartWithToken();
  EXPECT_EQ(PullTask(reg), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(PullTask(other), grpc::StatusCode::OK);
  fv1::RegisterResponse again;
  grpc::Status s = Register(channel_, "dev-a", &again);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("revoked"));
}

TEST_F(AdminServiceTest, JoinTokenIsShownOnceEnrollsAndCanBeRevoked) {
  StartWithToken();
  av1::CreateJoinTokenRequest create;
  create.set_label("rack 7");
  create.set_ttl_s(3600);
  create.set_max_uses(5);
  av1::CreateJoinTokenResponse created;
  ASSERT_TRUE(Admin(&av1::AdminService::Stub::CreateJoinToken, create, &created).ok());
  EXPECT_EQ(created.secret().size(), 64u);
  EXPECT_EQ(created.token().state(), "active");
  EXPECT_EQ(created.token().expires_ms() - created.token().created_ms(), 3600 * 1000);
  EXPECT_EQ(created.token().max_uses(), 5u);

  fv1::RegisterResponse reg;
  ASSERT_TRUE(RegisterWith("dev-a", created.secret(), &reg).ok());

  av1::ListJoinTokensResponse listed;
  ASSERT_TRUE(Admin(&av1::AdminService::Stub::ListJoinTokens, av1::ListJoinTokensRequest(),
                    &listed)
                  .ok());
  ASSERT_EQ(listed.tokens_size(), 1);
  EXPECT_EQ(listed.tokens(0).label(), "rack 7");
  EXPECT_EQ(listed.tokens(0).uses(), 1u);
  // The secret is never listed.
  EXPECT_EQ(listed.SerializeAsString().find(created.secret()), std::string::npos);

  av1::RevokeJoinTokenRequest revoke;
  revoke.set_token_id(created.token().token_id());
  av1::RevokeJoinTokenResponse revoked;
  ASSERT_TRUE(Admin(&av1::AdminService::Stub::RevokeJoinToken, revoke, &revoked).ok());
  EXPECT_EQ(revoked.token().state(), "revoked");
  grpc::Status s = RegisterWith("dev-b", created.secret(), &reg);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("join token 1 was revoked"));
}

TEST_F(AdminServiceTest, CancelRoundStopsUploadsAndReports) {
  StartWithToken();
  fv1::RegisterResponse reg;
  ASSERT_TRUE(Register(channel_, "dev-a", &reg).ok());
  CampaignConfig config;
  config.rounds = 2;
  ASSERT_OK(coordinator_->StartCampaign(config).status());
  ASSERT_OK(coordinator_->Step());
  ASSERT_OK_AND_ASSIGN(PulledTask task, coordinator_->PullTask(reg.device_id()));
  ASSERT_TRUE(task.task.has_value());

  av1::CancelRoundRequest cancel;
  cancel.set_round(1);
  cancel.set_reason("wrong learning rate");
  av1::CancelRoundResponse cancelled;
  grpc::Status s = Admin(&av1::AdminService::Stub::CancelRound, cancel, &cancelled);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(cancelled.round().state(), "cancelled");
  EXPECT_THAT(cancelled.round().detail(), HasSubstr("wrong learning rate"));

  auto stub = fv1::FleetService::NewStub(channel_);
  grpc::ClientContext ctx;
  Deadline(&ctx);
  ctx.AddMetadata("authorization", "Bearer " + reg.token());
  fv1::SubmitReportRequest report;
  report.mutable_report()->set_device_id(reg.device_id());
  report.mutable_report()->set_task_id(task.task->task_id);
  report.mutable_report()->set_request_id("r1");
  fv1::SubmitReportResponse reported;
  s = stub->SubmitReport(&ctx, report, &reported);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("round 1 was cancelled"));

  // Already cancelled.
  s = Admin(&av1::AdminService::Stub::CancelRound, cancel, &cancelled);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("only an open round"));
}

// --- Error paths -------------------------------------------------------------

TEST_F(AdminServiceTest, JoinTokenAndCancelErrorsKeepTheirCodes) {
  StartWithToken();
  av1::CreateJoinTokenRequest create;
  create.set_ttl_s(20ull * 366 * 24 * 3600);
  av1::CreateJoinTokenResponse created;
  EXPECT_EQ(Admin(&av1::AdminService::Stub::CreateJoinToken, create, &created).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  av1::RevokeJoinTokenRequest revoke;
  revoke.set_token_id(42);
  av1::RevokeJoinTokenResponse revoked;
  EXPECT_EQ(Admin(&av1::AdminService::Stub::RevokeJoinToken, revoke, &revoked).error_code(),
            grpc::StatusCode::NOT_FOUND);
  av1::CancelRoundRequest cancel;
  cancel.set_round(7);
  av1::CancelRoundResponse cancelled;
  grpc::Status s = Admin(&av1::AdminService::Stub::CancelRound, cancel, &cancelled);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("round 7 does not exist"));
}


TEST_F(AdminServiceTest, MissingOrWrongTokenIsUnauthenticated) {
  StartWithToken();
  EXPECT_EQ(Status("").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Status("Bearer wrong").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Status(std::string("Bearer ") + kToken + "x").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Status(kToken).error_code(), grpc::StatusCode::UNAUTHENTICATED);  // no "Bearer "
  EXPECT_EQ(Status(std::string("bearer ") + kToken).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(AdminServiceTest, EveryMethodChecksTheToken) {
  StartWithToken();
  auto stub = av1::AdminService::NewStub(channel_);
  auto ctx = [] {
    auto c = std::make_unique<grpc::ClientContext>();
    Deadline(c.get());
    return c;
  };
  av1::ListDevicesResponse devices;
  EXPECT_EQ(stub->ListDevices(ctx().get(), {}, &devices).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  av1::StartRoundsRequest start;
  start.mutable_config()->set_rounds(1);
  av1::StartRoundsResponse started;
  EXPECT_EQ(stub->StartRounds(ctx().get(), start, &started).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  av1::RevokeDeviceResponse revoked;
  EXPECT_EQ(stub->RevokeDevice(ctx().get(), {}, &revoked).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  av1::CreateJoinTokenResponse created;
  EXPECT_EQ(stub->CreateJoinToken(ctx().get(), {}, &created).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  av1::ListJoinTokensResponse listed;
  EXPECT_EQ(stub->ListJoinTokens(ctx().get(), {}, &listed).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  av1::RevokeJoinTokenResponse token_revoked;
  EXPECT_EQ(stub->RevokeJoinToken(ctx().get(), {}, &token_revoked).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  av1::CancelRoundResponse cancelled;
  EXPECT_EQ(stub->CancelRound(ctx().get(), {}, &cancelled).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(coordinator_->ListJoinTokens()->empty());
  auto c = ctx();
  auto reader = stub->ExportModel(c.get(), av1::ExportModelRequest());
  av1::ExportModelChunk chunk;
  EXPECT_FALSE(reader->Read(&chunk));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(coordinator_->store().ListCampaigns()->empty());
}

TEST_F(AdminServiceTest, TlsServerWithoutAdminTokenRefusesAdminCalls) {
  ASSERT_OK_AND_ASSIGN(Pki pki, GeneratePki());
  ServerOptions o;
  o.tls.cert_pem = pki.server_cert;
  o.tls.key_pem = pki.server_key;
  StartServer(o);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = pki.ca_cert;
  channel_ = Channel(grpc::SslCredentials(ssl));
  grpc::Status s = Status("Bearer anything");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("--admin-token-file"));
}

TEST_F(AdminServiceTest, RevokingAnUnknownDeviceIsNotFound) {
  StartWithToken();
  EXPECT_EQ(Revoke(999).error_code(), grpc::StatusCode::NOT_FOUND);
}

// --- AdminAuthorizer without gRPC --------------------------------------------

TEST(AdminAuthorizerTest, DecidesByTokenAndMode) {
  const absl::string_view right = "Bearer tok";
  const absl::string_view wrong = "Bearer tok2";
  AdminAuthorizer with_token("tok", /*allow_without_token=*/false);
  EXPECT_OK(with_token.Check(&right));
  EXPECT_THAT(with_token.Check(&wrong), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(with_token.Check(nullptr), StatusIs(absl::StatusCode::kUnauthenticated));
  // A configured token is required even on an insecure server.
  AdminAuthorizer insecure_with_token("tok", /*allow_without_token=*/true);
  EXPECT_THAT(insecure_with_token.Check(nullptr), StatusIs(absl::StatusCode::kUnauthenticated));
  AdminAuthorizer none(/*token=*/"", /*allow_without_token=*/false);
  EXPECT_THAT(none.Check(&right), StatusIs(absl::StatusCode::kPermissionDenied));
  AdminAuthorizer open(/*token=*/"", /*allow_without_token=*/true);
  EXPECT_OK(open.Check(nullptr));
}

}  // namespace
}  // namespace qfleet::cloud
