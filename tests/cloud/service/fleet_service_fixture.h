#ifndef QFLEET_TESTS_CLOUD_SERVICE_FLEET_SERVICE_FIXTURE_H_
#define QFLEET_TESTS_CLOUD_SERVICE_FLEET_SERVICE_FIXTURE_H_

#include <filesystem>
#include <optional>
#include <thread>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "cloud/service/coordinator_server.h"
#include "cloud/service/fleet_conversions.h"
#include "common/container_quant.h"
#include "common/crc32c.h"
#include "common/plan_codec.h"
#include "common/sha256.h"
#include "common/status_matchers.h"
#include "tests/cloud/fake_backend.h"

namespace qfleet::cloud {


namespace fv1 = qfleet::fleet::v1;

class FleetServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("qfleet-svc-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    CoordinatorOptions o;
    o.db_path = (dir_ / "state.db").string();
    o.open_enrollment = true;
    auto c = Coordinator::Open(o, std::make_unique<FakeBackend>());
    ASSERT_OK(c.status());
    coordinator_ = *std::move(c);
    // Plaintext for speed; TLS has its own tests (tls_test.cc).
    ServerOptions options;
    options.insecure = true;
    auto s = CoordinatorServer::Start(coordinator_.get(), options);
    ASSERT_OK(s.status());
    server_ = *std::move(s);
    stub_ = fv1::FleetService::NewStub(
        grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
    fv1::RegisterRequest req;
    req.set_device_name("dev");
    req.mutable_data()->set_sample_count(10);
    grpc::ClientContext ctx;
    fv1::RegisterResponse resp;
    ASSERT_TRUE(stub_->Register(&ctx, req, &resp).ok());
    id_ = resp.device_id();
    token_ = resp.token();
    {
      req.set_device_name("dev-b");
      grpc::ClientContext ctx_b;
      ASSERT_TRUE(stub_->Register(&ctx_b, req, &resp).ok());
      b_id_ = resp.device_id();
      b_token_ = resp.token();
    }
    CampaignConfig cfg;
    cfg.rounds = 1;
    ASSERT_OK(coordinator_->StartCampaign(cfg).status());
    ASSERT_OK(coordinator_->Step());
    ASSERT_OK_AND_ASSIGN(PulledTask t, coordinator_->PullTask(id_));
    task_id_ = t.task->task_id;
    ASSERT_OK_AND_ASSIGN(PulledTask tb, coordinator_->PullTask(b_id_));
    b_task_id_ = tb.task->task_id;
  }
  void TearDown() override {
    server_.reset();
    coordinator_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Auth(grpc::ClientContext* ctx, const std::string& token) {
    ctx->AddMetadata("authorization", "Bearer " + token);
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  }
  std::string GoodUpdate() {
    TensorContainer c = *DecodeContainer(*coordinator_->GetModel(0)->bytes);
    return *EncodeContainer(*QuantizeContainer(c, 8));
  }
  // Streams `chunks` after a header describing `whole`.
  grpc::Status Upload(const std::string& whole, const std::vector<fv1::UpdateChunk>& chunks,
                      bool send_header = true, const std::string& sha = "",
                      uint64_t task_id = 0) {
    fv1::UploadUpdateResponse resp;
    std::optional<fv1::UpdateChunk> header;
    if (send_header) {
      header = Header(whole, "req", 0);
      header->mutable_header()->set_task_id(task_id != 0 ? task_id : task_id_);
      if (!sha.empty()) header->mutable_header()->set_sha256(sha);
    }
    return Stream(header, chunks, &resp);
  }
  // The header message of request `request_id` for `whole`, starting at `offset`.
  fv1::UpdateChunk Header(const std::string& whole, const std::string& request_id,
                          uint64_t offset) const {
    fv1::UpdateChunk h;
    h.mutable_header()->set_device_id(id_);
    h.mutable_header()->set_task_id(task_id_);
    h.mutable_header()->set_request_id(request_id);
    h.mutable_header()->set_sample_count(10);
    h.mutable_header()->set_total_bytes(whole.size());
    h.mutable_header()->set_sha256(Sha256Hex(whole));
    h.set_offset(offset);
    return h;
  }
  grpc::Status Stream(const std::optional<fv1::UpdateChunk>& header,
                      const std::vector<fv1::UpdateChunk>& chunks,
                      fv1::UploadUpdateResponse* resp) {
    grpc::ClientContext ctx;
    Auth(&ctx, token_);
    auto w = stub_->UploadUpdate(&ctx, resp);
    if (header.has_value()) w->Write(*header);
    for (const auto& c : chunks) w->Write(c);
    w->WritesDone();
    return w->Finish();
  }
  fv1::UploadStatusResponse UploadStatus(const std::string& request_id) {
    grpc::ClientContext ctx;
    Auth(&ctx, token_);
    fv1::UploadStatusRequest req;
    req.set_device_id(id_);
    req.set_task_id(task_id_);
    req.set_request_id(request_id);
    fv1::UploadStatusResponse resp;
    EXPECT_TRUE(stub_->UploadStatus(&ctx, req, &resp).ok());
    return resp;
  }
  static fv1::UpdateChunk Chunk(const std::string& whole, size_t off, size_t n) {
    fv1::UpdateChunk c;
    c.set_offset(off);
    c.set_data(whole.substr(off, n));
    c.set_crc32c(Crc32c(whole.data() + off, std::min(n, whole.size() - off)));
    return c;
  }

  std::filesystem::path dir_;
  std::unique_ptr<Coordinator> coordinator_;
  std::unique_ptr<CoordinatorServer> server_;
  std::unique_ptr<fv1::FleetService::Stub> stub_;
  uint64_t id_ = 0, task_id_ = 0;
  std::string token_;
  // A second device with its own task.
  uint64_t b_id_ = 0, b_task_id_ = 0;
  std::string b_token_;
};

}  // namespace qfleet::cloud

#endif  // QFLEET_TESTS_CLOUD_SERVICE_FLEET_SERVICE_FIXTURE_H_
