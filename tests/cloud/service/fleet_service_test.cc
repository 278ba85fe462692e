#include "cloud/service/fleet_service_impl.h"

#include <filesystem>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "cloud/service/coordinator_server.h"
#include "common/container_quant.h"
#include "common/crc32c.h"
#include "common/sha256.h"
#include "common/status_matchers.h"
#include "tests/cloud/fake_backend.h"

namespace qfleet::cloud {
namespace {

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
    grpc::ClientContext ctx;
    Auth(&ctx, token_);
    fv1::UploadUpdateResponse resp;
    auto w = stub_->UploadUpdate(&ctx, &resp);
    if (send_header) {
      fv1::UpdateChunk h;
      h.mutable_header()->set_device_id(id_);
      h.mutable_header()->set_task_id(task_id != 0 ? task_id : task_id_);
      h.mutable_header()->set_request_id("req");
      h.mutable_header()->set_sample_count(10);
      h.mutable_header()->set_total_bytes(whole.size());
      h.mutable_header()->set_sha256(sha.empty() ? Sha256Hex(whole) : sha);
      w->Write(h);
    }
    for (const auto& c : chunks) w->Write(c);
    w->WritesDone();
    return w->Finish();
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

TEST_F(FleetServiceTest, ChunkedUploadIsAccepted) {
  std::string u = GoodUpdate();
  grpc::Status s = Upload(u, {Chunk(u, 0, 50), Chunk(u, 50, u.size())});
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(coordinator_->store().ListUpdates(1)->size(), 1u);
}

TEST_F(FleetServiceTest, DownloadStreamsVerifiableChunksAndResumesFromOffset) {
  for (uint64_t offset : {uint64_t{0}, uint64_t{17}}) {
    grpc::ClientContext ctx;
    Auth(&ctx, token_);
    fv1::DownloadModelRequest req;
    req.set_device_id(id_);
    req.set_model_version(1);
    req.set_offset(offset);
    auto r = stub_->DownloadModel(&ctx, req);
    fv1::ModelChunk c;
    std::string got;
    while (r->Read(&c)) {
      EXPECT_EQ(c.offset(), offset + got.size());
      EXPECT_EQ(Crc32c(c.data().data(), c.data().size()), c.crc32c());
      got += c.data();
    }
    ASSERT_TRUE(r->Finish().ok());
    EXPECT_EQ(got, coordinator_->GetModel(1)->bytes->substr(offset));
  }
}

// --- Error paths -------------------------------------------------------------

TEST_F(FleetServiceTest, CallsWithoutOrWithWrongTokenAreUnauthenticated) {
  fv1::PullTaskRequest req;
  req.set_device_id(id_);
  fv1::PullTaskResponse resp;
  {
    grpc::ClientContext ctx;
    EXPECT_EQ(stub_->PullTask(&ctx, req, &resp).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext ctx;
    Auth(&ctx, "not-the-token");
    EXPECT_EQ(stub_->PullTask(&ctx, req, &resp).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext ctx;
    Auth(&ctx, token_);
    req.set_device_id(id_ + 100);  // unknown device
    EXPECT_EQ(stub_->PullTask(&ctx, req, &resp).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
}

TEST_F(FleetServiceTest, MalformedUploadStreamsAreRejected) {
  std::string u = GoodUpdate();
  // No header.
  EXPECT_EQ(Upload(u, {Chunk(u, 0, u.size())}, /*send_header=*/false).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // Truncated: last chunk missing.
  EXPECT_EQ(Upload(u, {Chunk(u, 0, 50)}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // Gap in offsets.
  EXPECT_EQ(Upload(u, {Chunk(u, 0, 50), Chunk(u, 80, u.size())}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // Chunk CRC mismatch.
  fv1::UpdateChunk bad = Chunk(u, 0, u.size());
  bad.set_crc32c(bad.crc32c() ^ 1);
  EXPECT_EQ(Upload(u, {bad}).error_code(), grpc::StatusCode::DATA_LOSS);
  // Whole-object checksum mismatch.
  EXPECT_EQ(Upload(u, {Chunk(u, 0, u.size())}, true, std::string(64, 'a')).error_code(),
            grpc::StatusCode::DATA_LOSS);
  // Malformed checksum.
  EXPECT_EQ(Upload(u, {Chunk(u, 0, u.size())}, true, "xyz").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // Longer than announced.
  std::string longer = u + "extra";
  grpc::ClientContext ctx;
  EXPECT_EQ(Upload(u, {Chunk(longer, 0, longer.size())}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // A header announcing more than the coordinator's limit is refused before
  // anything is buffered or reserved.
  {
    grpc::ClientContext big_ctx;
    Auth(&big_ctx, token_);
    fv1::UploadUpdateResponse resp;
    auto w = stub_->UploadUpdate(&big_ctx, &resp);
    fv1::UpdateChunk h;
    h.mutable_header()->set_device_id(id_);
    h.mutable_header()->set_task_id(task_id_);
    h.mutable_header()->set_request_id("big");
    h.mutable_header()->set_sample_count(10);
    h.mutable_header()->set_total_bytes(coordinator_->max_update_bytes() + 1);
    h.mutable_header()->set_sha256(std::string(64, 'a'));
    w->Write(h);
    w->WritesDone();
    const grpc::Status st = w->Finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(st.error_message(), testing::HasSubstr("exceeds the limit"));
  }
  EXPECT_EQ(coordinator_->store().ListUpdates(1)->size(), 0u);
  // A good upload still goes through afterwards.
  EXPECT_TRUE(Upload(u, {Chunk(u, 0, u.size())}).ok());
}

TEST_F(FleetServiceTest, DownloadOfUnknownVersionOrBadOffsetFails) {
  fv1::ModelChunk c;
  {
    grpc::ClientContext ctx;
    Auth(&ctx, token_);
    fv1::DownloadModelRequest req;
    req.set_device_id(id_);
    req.set_model_version(42);
    auto r = stub_->DownloadModel(&ctx, req);
    while (r->Read(&c)) {
    }
    EXPECT_EQ(r->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    Auth(&ctx, token_);
    fv1::DownloadModelRequest req;
    req.set_device_id(id_);
    req.set_model_version(1);
    req.set_offset(1ull << 40);
    auto r = stub_->DownloadModel(&ctx, req);
    while (r->Read(&c)) {
    }
    EXPECT_EQ(r->Finish().error_code(), grpc::StatusCode::OUT_OF_RANGE);
  }
}

TEST_F(FleetServiceTest, DeviceCannotActAsAnotherDevice) {
  // A's token with B's id: the token does not belong to B.
  {
    grpc::ClientContext ctx;
    Auth(&ctx, token_);
    fv1::PullTaskRequest req;
    req.set_device_id(b_id_);
    fv1::PullTaskResponse resp;
    EXPECT_EQ(stub_->PullTask(&ctx, req, &resp).error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_FALSE(resp.has_task());
  }
  {
    grpc::ClientContext ctx;
    Auth(&ctx, token_);
    fv1::HeartbeatRequest req;
    req.set_device_id(b_id_);
    fv1::HeartbeatResponse resp;
    EXPECT_EQ(stub_->Heartbeat(&ctx, req, &resp).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext ctx;
    Auth(&ctx, token_);
    fv1::DownloadModelRequest req;
    req.set_device_id(b_id_);
    req.set_model_version(1);
    auto r = stub_->DownloadModel(&ctx, req);
    fv1::ModelChunk c;
    EXPECT_FALSE(r->Read(&c));
    EXPECT_EQ(r->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext ctx;
    Auth(&ctx, token_);
    fv1::SubmitReportRequest req;
    req.mutable_report()->set_device_id(b_id_);
    req.mutable_report()->set_task_id(b_task_id_);
    req.mutable_report()->set_request_id("r1");
    fv1::SubmitReportResponse resp;
    EXPECT_EQ(stub_->SubmitReport(&ctx, req, &resp).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
}

TEST_F(FleetServiceTest, DeviceCannotWriteAnotherDevicesTask) {
  // A authenticates as itself but names B's task.
  std::string u = GoodUpdate();
  EXPECT_EQ(Upload(u, {Chunk(u, 0, u.size())}, true, "", b_task_id_).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  grpc::ClientContext ctx;
  Auth(&ctx, token_);
  fv1::SubmitReportRequest req;
  req.mutable_report()->set_device_id(id_);
  req.mutable_report()->set_task_id(b_task_id_);
  req.mutable_report()->set_request_id("r1");
  fv1::SubmitReportResponse resp;
  EXPECT_EQ(stub_->SubmitReport(&ctx, req, &resp).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(coordinator_->store().ListUpdates(1)->size(), 0u);
  EXPECT_EQ(coordinator_->store().ListReports(1)->size(), 0u);
  // B itself still can.
  token_ = b_token_;
  id_ = b_id_;
  EXPECT_TRUE(Upload(u, {Chunk(u, 0, u.size())}, true, "", b_task_id_).ok());
}

}  // namespace
}  // namespace qfleet::cloud
