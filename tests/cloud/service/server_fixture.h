#ifndef QFLEET_TESTS_CLOUD_SERVICE_SERVER_FIXTURE_H_
#define QFLEET_TESTS_CLOUD_SERVICE_SERVER_FIXTURE_H_

// A coordinator on a temporary SQLite file with the fake backend, served by
// an in-process CoordinatorServer on a loopback port; for service tests.

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "gtest/gtest.h"
#include "cloud/service/coordinator_server.h"
#include "common/status_matchers.h"
#include "qfleet/admin/v1/admin.grpc.pb.h"
#include "qfleet/fleet/v1/fleet.grpc.pb.h"
#include "tests/cloud/fake_backend.h"

namespace qfleet::cloud {

class ServerFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("qfleet-srv-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    OpenCoordinator();
  }
  void TearDown() override {
    server_.reset();
    coordinator_.reset();
    std::filesystem::remove_all(dir_);
  }
  // (Re)opens the coordinator on the test's database; stops any server.
  void OpenCoordinator() {
    server_.reset();
    coordinator_.reset();
    CoordinatorOptions o;
    o.db_path = (dir_ / "state.db").string();
    o.open_enrollment = true;
    auto c = Coordinator::Open(o, std::make_unique<FakeBackend>());
    ASSERT_OK(c.status());
    coordinator_ = *std::move(c);
  }
  void StartServer(ServerOptions options) {
    auto s = CoordinatorServer::Start(coordinator_.get(), options);
    ASSERT_OK(s.status());
    server_ = *std::move(s);
  }
  std::shared_ptr<grpc::Channel> Channel(std::shared_ptr<grpc::ChannelCredentials> creds,
                                         const std::string& host = "127.0.0.1") {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(host + ":" + std::to_string(server_->port()), creds, args);
  }
  static void Deadline(grpc::ClientContext* ctx, int ms = 5000) {
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(ms));
  }
  // Registers `name` over `channel`; returns the call's status.
  static grpc::Status Register(const std::shared_ptr<grpc::Channel>& channel,
                               const std::string& name, fleet::v1::RegisterResponse* resp) {
    auto stub = fleet::v1::FleetService::NewStub(channel);
    fleet::v1::RegisterRequest req;
    req.set_device_name(name);
    req.mutable_data()->set_sample_count(10);
    grpc::ClientContext ctx;
    Deadline(&ctx);
    return stub->Register(&ctx, req, resp);
  }

  std::filesystem::path dir_;
  std::unique_ptr<Coordinator> coordinator_;
  std::unique_ptr<CoordinatorServer> server_;
};

}  // namespace qfleet::cloud

#endif  // QFLEET_TESTS_CLOUD_SERVICE_SERVER_FIXTURE_H_
