// The long-polls and the health service over gRPC: PullTask with wait_ms,
// ListRounds with wait_for_change_ms, grpc.health.v1 readiness, and a
// server shutdown releasing waiting calls.
#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "cloud/service/coordinator_server.h"
#include "common/status_matchers.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "qfleet/admin/v1/admin.grpc.pb.h"
#include "qfleet/fleet/v1/fleet.grpc.pb.h"
#include "tests/cloud/fake_backend.h"

namespace qfleet::cloud {
namespace {

namespace fv1 = qfleet::fleet::v1;
namespace av1 = qfleet::admin::v1;
namespace hv1 = grpc::health::v1;
using Ms = std::chrono::milliseconds;

class LongPollServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("qfleet-lp-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    CoordinatorOptions o;
    o.db_path = (dir_ / "state.db").string();
    o.open_enrollment = true;
    ASSERT_OK_AND_ASSIGN(coordinator_, Coordinator::Open(o, std::make_unique<FakeBackend>()));
    ServerOptions options;
    options.insecure = true;
    options.serving_at_start = false;
    ASSERT_OK_AND_ASSIGN(server_, CoordinatorServer::Start(coordinator_.get(), options));
    auto channel = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    fleet_ = fv1::FleetService::NewStub(channel);
    admin_ = av1::AdminService::NewStub(channel);
    health_ = hv1::Health::NewStub(channel);
    DeviceRecord d;
    d.name = "dev";
    d.sample_count = 10;
    ASSERT_OK_AND_ASSIGN(Registration reg, coordinator_->Register(d, ""));
    id_ = reg.device_id;
    token_ = reg.token;
  }
  void TearDown() override {
    server_.reset();
    coordinator_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Deadline(grpc::ClientContext* ctx, int64_t ms = 30000) {
    ctx->set_deadline(std::chrono::system_clock::now() + Ms(ms));
  }
  grpc::Status Pull(uint32_t wait_ms, fv1::PullTaskResponse* resp) {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    ctx.AddMetadata("authorization", "Bearer " + token_);
    fv1::PullTaskRequest req;
    req.set_device_id(id_);
    req.set_wait_ms(wait_ms);
    return fleet_->PullTask(&ctx, req, resp);
  }
  hv1::HealthCheckResponse::ServingStatus Health() {
    grpc::ClientContext ctx;
    Deadline(&ctx, 5000);
    hv1::HealthCheckResponse resp;
    grpc::Status s = health_->Check(&ctx, hv1::HealthCheckRequest(), &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.status();
  }
  void AwaitWaiters(int n) {
    for (int i = 0; i < 500 && coordinator_->waiters() < n; ++i) std::this_thread::sleep_for(Ms(10));
    ASSERT_EQ(coordinator_->waiters(), n);
  }

  std::filesystem::path dir_;
  std::unique_ptr<Coordinator> coordinator_;
  std::unique_ptr<CoordinatorServer> server_;
  std::unique_ptr<fv1::FleetService::Stub> fleet_;
  std::unique_ptr<av1::AdminService::Stub> admin_;
  std::unique_ptr<hv1::Health::Stub> health_;
  uint64_t id_ = 0;
  std::string token_;
};

TEST_F(LongPollServiceTest, HealthSaysServingOnlyOnceTheProgramSaysSo) {
  EXPECT_EQ(Health(), hv1::HealthCheckResponse::NOT_SERVING);
  server_->SetServing(true);
  EXPECT_EQ(Health(), hv1::HealthCheckResponse::SERVING);
}

TEST_F(LongPollServiceTest, HealthOfAnUnknownServiceIsNotFound) {
  grpc::ClientContext ctx;
  Deadline(&ctx, 5000);
  hv1::HealthCheckRequest req;
  req.set_service("no.such.Service");
  hv1::HealthCheckResponse resp;
  EXPECT_EQ(health_->Check(&ctx, req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(LongPollServiceTest, PullTaskIsHeldUntilARoundOpens) {
  ASSERT_OK(coordinator_->StartCampaign(CampaignConfig{}).status());
  const auto start = std::chrono::steady_clock::now();
  fv1::PullTaskResponse resp;
  auto pulled = std::async(std::launch::async, [&] { return Pull(20000, &resp); });
  AwaitWaiters(1);
  ASSERT_OK(coordinator_->Step());
  grpc::Status s = pulled.get();
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(resp.has_task());
  EXPECT_GT(resp.waited_ms(), 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, Ms(10000));
}

TEST_F(LongPollServiceTest, PullTaskWithoutWaitAnswersAtOnce) {
  fv1::PullTaskResponse resp;
  grpc::Status s = Pull(0, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_FALSE(resp.has_task());
  EXPECT_TRUE(resp.fleet_idle());
  EXPECT_EQ(resp.waited_ms(), 0u);
  EXPECT_GT(resp.retry_after_ms(), 0u);
}

TEST_F(LongPollServiceTest, ListRoundsWaitsForAChangeOfItsVersion) {
  av1::ListRoundsResponse first;
  {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    ASSERT_TRUE(admin_->ListRounds(&ctx, av1::ListRoundsRequest(), &first).ok());
  }
  EXPECT_NE(first.state_version(), 0u);
  EXPECT_EQ(first.rounds_size(), 0);
  av1::ListRoundsRequest req;
  req.set_known_version(first.state_version());
  req.set_wait_for_change_ms(20000);
  av1::ListRoundsResponse second;
  auto listed = std::async(std::launch::async, [&] {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    return admin_->ListRounds(&ctx, req, &second);
  });
  AwaitWaiters(1);
  ASSERT_OK(coordinator_->StartCampaign(CampaignConfig{}).status());
  ASSERT_OK(coordinator_->Step());
  ASSERT_TRUE(listed.get().ok());
  EXPECT_NE(second.state_version(), first.state_version());
}

TEST_F(LongPollServiceTest, ShutdownReleasesWaitingCalls) {
  const auto start = std::chrono::steady_clock::now();
  fv1::PullTaskResponse resp;
  auto pulled = std::async(std::launch::async, [&] { return Pull(20000, &resp); });
  AwaitWaiters(1);
  server_->Shutdown(5000);
  (void)pulled.get();  // answered or cancelled, but promptly
  EXPECT_LT(std::chrono::steady_clock::now() - start, Ms(5000));
}

}  // namespace
}  // namespace qfleet::cloud
