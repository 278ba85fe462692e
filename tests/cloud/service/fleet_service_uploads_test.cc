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

}  // namespace
}  // namespace qfleet::cloud
