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
#include "tests/cloud/service/fleet_service_fixture.h"

namespace qfleet::cloud {
namespace {

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

}  // namespace
}  // namespace qfleet::cloud
