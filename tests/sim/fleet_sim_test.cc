#include "sim/fleet_sim.h"

#include <filesystem>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/test_util.h"
#include "cloud/coordinator.h"
#include "cloud/fmnist_backend.h"
#include "cloud/service/coordinator_server.h"
#include "common/idx_dataset.h"
#include "common/security/pki.h"
#include "common/status_matchers.h"

namespace qfleet::apps {
namespace {

using ::qfleet::testing_util::HaveFashionMnist;

FlSimOptions Small() {
  FlSimOptions o;
  o.devices = 3;
  o.rounds = 1;
  o.seed = 3;
  o.data_dir = kDefaultFashionMnistDir;
  o.train_limit = 1200;
  o.test_limit = 500;
  o.progress = false;
  return o;
}

// An in-process coordinator (TLS with a throw-away PKI, random admin token:
// the default) and three agents (each a real TLS gRPC client) doing one full
// round on real Fashion-MNIST images.
TEST(FleetSimIntegrationTest, ThreeAgentsCompleteOneRoundAndLearn) {
  if (!HaveFashionMnist()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  std::ostringstream log;
  ASSERT_OK_AND_ASSIGN(FlSimResult r, RunFlSim(Small(), log));
  ASSERT_EQ(r.rounds.size(), 1u);
  const RoundRow& row = r.rounds[0];
  EXPECT_EQ(row.state, "done");
  EXPECT_EQ(row.participants, 3u);
  EXPECT_EQ(row.updates, 3u);
  // 1200 images, one epoch: far above the 10% of chance.
  EXPECT_GT(row.acc_fp32, 0.5);
  EXPECT_GT(row.acc_q8, 0.5);
  EXPECT_NEAR(row.acc_q8, row.acc_fp32, 0.05);
  EXPECT_GT(row.bytes_down, 3 * 800000u);  // every agent downloaded the FP32 model
  EXPECT_GT(row.bytes_up, 3 * 200000u);
  EXPECT_LT(row.bytes_up, row.bytes_down / 2);  // 8-bit uploads are ~4x smaller
}

TEST(FleetSimIntegrationTest, SameSeedGivesTheSameAccuracies) {
  if (!HaveFashionMnist()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  FlSimOptions o = Small();
  o.alpha = 0.5;
  o.max_steps = 10;
  std::ostringstream log;
  ASSERT_OK_AND_ASSIGN(FlSimResult a, RunFlSim(o, log));
  ASSERT_OK_AND_ASSIGN(FlSimResult b, RunFlSim(o, log));
  ASSERT_EQ(a.rounds.size(), 1u);
  EXPECT_EQ(a.rounds[0].acc_fp32, b.rounds[0].acc_fp32);
  EXPECT_EQ(a.rounds[0].acc_q8, b.rounds[0].acc_q8);
}

// A separately started coordinator under mutual TLS with an admin token:
// the simulator's admin client and every agent present the client
// certificate and the token.
class RemoteCoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveFashionMnist()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
    dir_ = std::filesystem::temp_directory_path() /
           ("qfleet-remote-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    ASSERT_OK_AND_ASSIGN(pki_, GeneratePki());
    cloud::CoordinatorOptions copts;
    copts.db_path = (dir_ / "state.db").string();
    copts.open_enrollment = true;
    copts.model_seed = 3;
    copts.poll_interval_ms = 100;
    ASSERT_OK_AND_ASSIGN(auto backend, cloud::FmnistBackend::Create(kDefaultFashionMnistDir, 500));
    ASSERT_OK_AND_ASSIGN(coordinator_, cloud::Coordinator::Open(copts, std::move(backend)));
    coordinator_->StartEngine(20);
    cloud::ServerOptions sopts;
    sopts.tls.cert_pem = pki_.server_cert;
    sopts.tls.key_pem = pki_.server_key;
    sopts.tls.client_ca_pem = pki_.ca_cert;
    sopts.admin_token = "remote-admin-token-0123456789abcdef";
    ASSERT_OK_AND_ASSIGN(server_, cloud::CoordinatorServer::Start(coordinator_.get(), sopts));
  }
  void TearDown() override {
    if (server_) server_->Shutdown(1000);
    if (coordinator_) coordinator_->StopEngine();
    server_.reset();
    coordinator_.reset();
    std::filesystem::remove_all(dir_);
  }
  FlSimOptions Remote() {
    FlSimOptions o = Small();
    o.max_steps = 5;
    o.coordinator = server_->address();
    o.security.ca_pem = pki_.ca_cert;
    o.security.cert_pem = pki_.client_cert;
    o.security.key_pem = pki_.client_key;
    o.admin_token = "remote-admin-token-0123456789abcdef";
    return o;
  }

  std::filesystem::path dir_;
  Pki pki_;
  std::unique_ptr<cloud::Coordinator> coordinator_;
  std::unique_ptr<cloud::CoordinatorServer> server_;
};

TEST_F(RemoteCoordinatorTest, FleetRunsOverMutualTlsWithTheAdminToken) {
  std::ostringstream log;
  ASSERT_OK_AND_ASSIGN(FlSimResult r, RunFlSim(Remote(), log));
  ASSERT_EQ(r.rounds.size(), 1u);
  EXPECT_EQ(r.rounds[0].state, "done");
  EXPECT_EQ(r.rounds[0].updates, 3u);
  EXPECT_THAT(server_->MetricsText(), testing::HasSubstr("qfleet_rounds_completed_total 1\n"));
}

TEST_F(RemoteCoordinatorTest, WrongAdminTokenIsRefusedBeforeAnyDeviceRegisters) {
  FlSimOptions o = Remote();
  o.admin_token = "not-the-token";
  std::ostringstream log;
  EXPECT_THAT(RunFlSim(o, log).status(), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(coordinator_->store().ListDevices()->size(), 0u);
}

TEST(FleetSimIntegrationTest, MissingDatasetIsAClearError) {
  FlSimOptions o = Small();
  o.data_dir = "/nonexistent/fashion";
  std::ostringstream log;
  auto r = RunFlSim(o, log);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kNotFound, testing::HasSubstr("/nonexistent/fashion")));
}

}  // namespace
}  // namespace qfleet::apps
