#include "cloud/service/fleet_service_impl.h"

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

// A two-channel CHORD stand-in: code 0 for a positive first value, else 3.
class TwoChannelPlanner final : public PlanGenerator {
 public:
  std::string Id() const override { return "two"; }
  int64_t EmbedDim() const override { return 2; }
  absl::StatusOr<std::vector<std::string>> Generate(const std::vector<float>& e,
                                                    const std::vector<uint64_t>& v) override {
    std::vector<std::string> out;
    for (size_t i = 0; i < v.size(); ++i) {
      PrecisionPlan p;
      p.version = v[i];
      p.layer_names = {"w"};
      p.channels = {2};
      p.codes = {static_cast<uint8_t>(e[2 * i] > 0 ? 0 : 3), 1};
      out.push_back(*EncodePlan(p));
    }
    return out;
  }
  absl::StatusOr<FleetPlan> FleetPlanFor(const std::string& m) override {
    return absl::NotFoundError("no fleet plan for " + m);
  }
  std::vector<double> TierImportance() const override { return {8, 4, 2, 0.5}; }
};

TEST_F(FleetServiceTest, RequestPlanAuthenticatesValidatesAndServesTheStoredPlan) {
  fv1::PlanRequest req;
  req.set_device_id(id_);
  req.set_method("chord");
  req.add_user_embedding(1.0f);
  req.add_user_embedding(-2.0f);
  fv1::PlanResponse resp;
  {
    grpc::ClientContext ctx;
    Auth(&ctx, token_);
    EXPECT_EQ(stub_->RequestPlan(&ctx, req, &resp).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  }
  coordinator_->SetPlanGenerator(std::make_shared<TwoChannelPlanner>());
  {
    grpc::ClientContext ctx;
    Auth(&ctx, b_token_);  // B's token for A's id
    EXPECT_EQ(stub_->RequestPlan(&ctx, req, &resp).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext ctx;
    Auth(&ctx, token_);
    fv1::PlanRequest wide = req;
    wide.add_user_embedding(0.0f);
    EXPECT_EQ(stub_->RequestPlan(&ctx, wide, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    grpc::ClientContext ctx;
    Auth(&ctx, token_);
    fv1::PlanRequest fleet = req;
    fleet.set_method("static");
    EXPECT_EQ(stub_->RequestPlan(&ctx, fleet, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    Auth(&ctx, token_);
    ASSERT_TRUE(stub_->RequestPlan(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.plan_version(), 1u);
    EXPECT_FALSE(resp.cached());
    ASSERT_OK_AND_ASSIGN(PrecisionPlan plan, DecodePlan(resp.plan()));
    EXPECT_EQ(plan.codes, (std::vector<uint8_t>{0, 1}));
    EXPECT_THAT(resp.tier_importance(), ::testing::ElementsAre(8, 4, 2, 0.5));
  }
  {
    grpc::ClientContext ctx;
    Auth(&ctx, token_);
    fv1::PlanResponse again;
    ASSERT_TRUE(stub_->RequestPlan(&ctx, req, &again).ok());
    EXPECT_TRUE(again.cached());
    EXPECT_EQ(again.plan(), resp.plan());
    EXPECT_EQ(again.plan_version(), 1u);
  }
}

TEST_F(FleetServiceTest, MalformedUploadStreamsAreRejected) {
  std::string u = GoodUpdate();
  // No header.
  EXPECT_EQ(Upload(u, {Chunk(u, 0, u.size())}, /*send_header=*/false).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // Truncated: last chunk missing. The prefix is kept for resuming.
  EXPECT_EQ(Upload(u, {Chunk(u, 0, 50)}).error_code(), grpc::StatusCode::ABORTED);
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

// --- Resumable uploads ---------------------------------------------------------

// Chunks [from, to) of `whole` cut into `n`-byte pieces.
std::vector<fv1::UpdateChunk> Pieces(const std::string& whole, size_t from, size_t to, size_t n) {
  std::vector<fv1::UpdateChunk> out;
  for (size_t off = from; off < to; off += n) {
    fv1::UpdateChunk c;
    c.set_offset(off);
    c.set_data(whole.substr(off, std::min(n, to - off)));
    c.set_crc32c(Crc32c(c.data().data(), c.data().size()));
    out.push_back(std::move(c));
  }
  return out;
}

// The fault test "connection cut mid-upload": the client's stream dies
// (cancelled, as when the connection drops) after two chunks; the device
// asks how far it got, resumes there, and the update is recorded once with
// the right bytes.
TEST_F(FleetServiceTest, UploadCutMidStreamResumesAndIsRecordedOnce) {
  const std::string u = GoodUpdate();
  const size_t n = u.size() / 5 + 1;
  {
    grpc::ClientContext ctx;
    Auth(&ctx, token_);
    fv1::UploadUpdateResponse resp;
    auto w = stub_->UploadUpdate(&ctx, &resp);
    ASSERT_TRUE(w->Write(Header(u, "cut", 0)));
    for (const auto& c : Pieces(u, 0, 2 * n, n)) ASSERT_TRUE(w->Write(c));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let them arrive
    ctx.TryCancel();
    EXPECT_EQ(w->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  // The coordinator keeps the prefix once its handler sees the broken stream.
  fv1::UploadStatusResponse st;
  for (int i = 0; i < 150 && (st = UploadStatus("cut")).committed_bytes() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Exactly the two chunks that arrived before the cut.
  const uint64_t kept = st.committed_bytes();
  ASSERT_EQ(kept, 2 * n);
  EXPECT_EQ(st.total_bytes(), u.size());
  EXPECT_EQ(st.sha256(), Sha256Hex(u));
  EXPECT_FALSE(st.accepted());
  EXPECT_EQ(coordinator_->store().ListUpdates(1)->size(), 0u);

  fv1::UploadUpdateResponse resp;
  grpc::Status s = Stream(Header(u, "cut", kept), Pieces(u, kept, u.size(), n), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_FALSE(resp.duplicate());
  auto updates = coordinator_->store().ListUpdates(1);
  ASSERT_OK(updates.status());
  ASSERT_EQ(updates->size(), 1u);
  EXPECT_EQ((*updates)[0].blob_hash, Sha256Hex(u));
  EXPECT_EQ((*updates)[0].bytes, u.size());
  EXPECT_EQ((*updates)[0].update_id, resp.update_id());
  st = UploadStatus("cut");
  EXPECT_TRUE(st.accepted());
  EXPECT_EQ(st.update_id(), resp.update_id());
  EXPECT_EQ(st.committed_bytes(), 0u);  // the kept prefix is gone
  EXPECT_EQ(coordinator_->store().GetPartialUpload(id_, task_id_, "cut")->has_value(), false);

  // A retry of the finished upload (from scratch or resuming) is recorded once.
  fv1::UploadUpdateResponse again;
  ASSERT_TRUE(Stream(Header(u, "cut", 0), Pieces(u, 0, u.size(), n), &again).ok());
  EXPECT_TRUE(again.duplicate());
  EXPECT_EQ(again.update_id(), resp.update_id());
  ASSERT_TRUE(Stream(Header(u, "cut", 2 * n), {}, &again).ok());
  EXPECT_TRUE(again.duplicate());
  EXPECT_EQ(coordinator_->store().ListUpdates(1)->size(), 1u);
}

TEST_F(FleetServiceTest, HalfClosedUploadIsAbortedWithItsResumeOffset) {
  const std::string u = GoodUpdate();
  const size_t a = u.size() / 3, b = 2 * u.size() / 3;
  fv1::UploadUpdateResponse resp;
  grpc::Status s = Stream(Header(u, "half", 0), Pieces(u, 0, a, 16), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_THAT(s.error_message(), testing::HasSubstr("resume at offset " + std::to_string(a)));
  EXPECT_EQ(UploadStatus("half").committed_bytes(), a);
  // Resuming in two more streams, the second finishing the update.
  ASSERT_EQ(Stream(Header(u, "half", a), Pieces(u, a, b, 16), &resp).error_code(),
            grpc::StatusCode::ABORTED);
  EXPECT_EQ(UploadStatus("half").committed_bytes(), b);
  s = Stream(Header(u, "half", b), Pieces(u, b, u.size(), 16), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(coordinator_->store().ListUpdates(1)->size(), 1u);
  EXPECT_EQ(coordinator_->store().ListUpdates(1)->at(0).blob_hash, Sha256Hex(u));
}

TEST_F(FleetServiceTest, ResumeAtWrongOffsetOrForAnotherUpdateIsOutOfRange) {
  const std::string u = GoodUpdate();
  fv1::UploadUpdateResponse resp;
  ASSERT_EQ(Stream(Header(u, "r", 0), Pieces(u, 0, 100, 50), &resp).error_code(),
            grpc::StatusCode::ABORTED);
  // Past, before, or without any kept prefix.
  for (uint64_t offset : {150u, 50u}) {
    grpc::Status s = Stream(Header(u, "r", offset), Pieces(u, offset, u.size(), 64), &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE) << offset;
    EXPECT_THAT(s.error_message(), testing::HasSubstr("100 bytes are kept; resume at 100"));
  }
  grpc::Status s = Stream(Header(u, "other", 100), Pieces(u, 100, u.size(), 64), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_THAT(s.error_message(), testing::HasSubstr("start at 0"));
  // The same request_id for a different update cannot continue this prefix.
  std::string changed = u;
  changed.back() ^= 1;
  s = Stream(Header(changed, "r", 100), Pieces(changed, 100, changed.size(), 64), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  // The chunk after the header must start where the stream said it would.
  s = Stream(Header(u, "r", 100), Pieces(u, 0, u.size(), 64), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(UploadStatus("r").committed_bytes(), 100u);
  EXPECT_EQ(coordinator_->store().ListUpdates(1)->size(), 0u);
}

TEST_F(FleetServiceTest, ResumedUploadFailingItsSha256IsRefusedAndItsPrefixDiscarded) {
  const std::string u = GoodUpdate();
  fv1::UploadUpdateResponse resp;
  ASSERT_EQ(Stream(Header(u, "r", 0), Pieces(u, 0, 100, 50), &resp).error_code(),
            grpc::StatusCode::ABORTED);
  // The rest arrives with good chunk CRCs but is not the announced update.
  std::string wrong = u;
  wrong[u.size() - 3] ^= 0x40;
  grpc::Status s = Stream(Header(u, "r", 100), Pieces(wrong, 100, wrong.size(), 64), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DATA_LOSS);
  EXPECT_THAT(s.error_message(), testing::HasSubstr("SHA-256"));
  EXPECT_EQ(UploadStatus("r").committed_bytes(), 0u);
  EXPECT_EQ(coordinator_->store().ListUpdates(1)->size(), 0u);
  // Starting over works.
  s = Stream(Header(u, "r", 0), Pieces(u, 0, u.size(), 64), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(coordinator_->store().ListUpdates(1)->size(), 1u);
}

TEST_F(FleetServiceTest, UploadStatusOfAnotherDevicesTaskIsDenied) {
  grpc::ClientContext ctx;
  Auth(&ctx, token_);
  fv1::UploadStatusRequest req;
  req.set_device_id(id_);
  req.set_task_id(b_task_id_);
  req.set_request_id("x");
  fv1::UploadStatusResponse resp;
  EXPECT_EQ(stub_->UploadStatus(&ctx, req, &resp).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  grpc::ClientContext ctx2;
  Auth(&ctx2, b_token_);  // B's token cannot ask as A
  req.set_task_id(task_id_);
  EXPECT_EQ(stub_->UploadStatus(&ctx2, req, &resp).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST(TaskToProtoTest, CarriesTheDeltaUploadFlagAndRefusesACorruptConfig) {
  PulledTask pulled;
  TaskRecord t;
  t.task_id = 3;
  t.round = 1;
  t.device_id = 2;
  t.strategy = "ptq";
  t.weight_bits = 2;
  t.train_config_json = R"({"local_epochs":1,"upload_delta":true,"quant_gap":true})";
  pulled.task = t;
  ASSERT_OK_AND_ASSIGN(fv1::Task proto, TaskToProto(pulled));
  EXPECT_EQ(proto.strategy(), fv1::STRATEGY_PTQ);
  EXPECT_TRUE(proto.upload_delta());
  EXPECT_TRUE(proto.report_quant_gap());
  pulled.task->train_config_json = R"({"local_epochs":1})";
  ASSERT_OK_AND_ASSIGN(proto, TaskToProto(pulled));
  EXPECT_FALSE(proto.upload_delta());
  EXPECT_FALSE(proto.report_quant_gap());
  // Unparseable, or a field of the wrong type: an error, never a crash.
  for (const char* bad : {"{not json", R"({"upload_delta":"yes"})", R"({"quant_gap":1})",
                          R"({"local_epochs":"one"})"}) {
    pulled.task->train_config_json = bad;
    EXPECT_THAT(TaskToProto(pulled),
                StatusIs(absl::StatusCode::kInternal, testing::HasSubstr("corrupt")))
        << bad;
  }
}

TEST(TaskToProtoTest, CarriesTheCoordinatorsActivationStepsAndRefusesCorruptOnes) {
  PulledTask pulled;
  TaskRecord t;
  t.task_id = 4;
  t.strategy = "qat";
  t.weight_bits = 2;
  t.activation_bits = 3;
  t.train_config_json = R"({"local_epochs":1,"act_steps":[0.5,0.25,0.125]})";
  pulled.task = t;
  ASSERT_OK_AND_ASSIGN(fv1::Task proto, TaskToProto(pulled));
  EXPECT_THAT(proto.activation_steps(), testing::ElementsAre(0.5, 0.25, 0.125));
  pulled.task->train_config_json = R"({"local_epochs":1})";
  ASSERT_OK_AND_ASSIGN(proto, TaskToProto(pulled));
  EXPECT_EQ(proto.activation_steps_size(), 0);
  pulled.task->train_config_json = R"({"act_steps":[0.5,"x",0.1]})";
  EXPECT_THAT(TaskToProto(pulled),
              StatusIs(absl::StatusCode::kInternal, testing::HasSubstr("activation step")));
}

}  // namespace
}  // namespace qfleet::cloud
