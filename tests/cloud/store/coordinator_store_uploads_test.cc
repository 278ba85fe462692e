// CoordinatorStore: kept prefixes of broken uploads.

#include <string>

#include "cloud/store/coordinator_store.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "record_test_util.h"
#include "store_test_util.h"

namespace qfleet::cloud {
namespace {

using ::qfleet::cloud::testing::IsOkAndHolds;
using ::qfleet::cloud::testing::MakeDevice;
using ::qfleet::cloud::testing::MakeRound;
using ::qfleet::cloud::testing::MakeTask;
using ::testing::HasSubstr;
using ::testing::Field;
using ::testing::Optional;

constexpr int kMaxPerDevice = 2;

MATCHER(IsNone, "is nullopt") { return !arg.has_value(); }

// Devices 1 and 2; round 1 open with a task for each.
class PartialUploadsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(store_, CoordinatorStore::Open(":memory:"));
    ASSERT_OK(store_->InsertDevice(MakeDevice("d1")));
    ASSERT_OK(store_->InsertDevice(MakeDevice("d2")));
    ASSERT_OK_AND_ASSIGN(auto tasks, store_->CreateRound(MakeRound(1), {MakeTask(1), MakeTask(2)}));
    task1_ = tasks[0];
    task2_ = tasks[1];
  }
  PartialUploadRecord Header(const std::string& request_id, uint64_t total = 10) const {
    PartialUploadRecord h;
    h.device_id = 1;
    h.task_id = task1_.task_id;
    h.request_id = request_id;
    h.total_bytes = total;
    h.sha256 = std::string(64, 'a');
    h.sample_count = 7;
    return h;
  }
  absl::StatusOr<PartialUploadRecord> Append(const PartialUploadRecord& h, uint64_t offset,
                                             const std::string& data, int64_t now = 100) {
    return store_->AppendPartialUpload(h, offset, data, now, kMaxPerDevice);
  }
  auto Committed(uint64_t n) { return Optional(Field(&PartialUploadRecord::committed_bytes, n)); }

  std::unique_ptr<CoordinatorStore> store_;
  TaskRecord task1_, task2_;
};

TEST_F(PartialUploadsTest, AppendsReassembleInOrder) {
  const PartialUploadRecord h = Header("r");
  ASSERT_OK(Append(h, 0, "abcd").status());
  ASSERT_OK_AND_ASSIGN(PartialUploadRecord kept, Append(h, 4, "efg"));
  EXPECT_EQ(kept.committed_bytes, 7u);
  EXPECT_THAT(store_->GetPartialUpload(1, task1_.task_id, "r"), IsOkAndHolds(Committed(7)));
  EXPECT_THAT(store_->ReadPartialUpload(kept.id), IsOkAndHolds(std::string("abcdefg")));
}

TEST_F(PartialUploadsTest, OffsetZeroStartsAfresh) {
  const PartialUploadRecord h = Header("r");
  ASSERT_OK(Append(h, 0, "abcd").status());
  ASSERT_OK_AND_ASSIGN(PartialUploadRecord kept, Append(h, 0, "xy"));
  EXPECT_THAT(store_->ReadPartialUpload(kept.id), IsOkAndHolds(std::string("xy")));
}

TEST_F(PartialUploadsTest, DeleteDropsPrefixAndChunks) {
  ASSERT_OK_AND_ASSIGN(PartialUploadRecord kept, Append(Header("r"), 0, "abcd"));
  ASSERT_OK(store_->DeletePartialUpload(1, task1_.task_id, "r"));
  EXPECT_THAT(store_->GetPartialUpload(1, task1_.task_id, "r"), IsOkAndHolds(IsNone()));
  EXPECT_THAT(store_->ReadPartialUpload(kept.id), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_OK(store_->DeletePartialUpload(1, task1_.task_id, "r"));  // idempotent
}

TEST_F(PartialUploadsTest, KeepsAtMostMaxPerDeviceDroppingTheOldest) {
  ASSERT_OK(Append(Header("old"), 0, "a", 100).status());
  ASSERT_OK(Append(Header("mid"), 0, "b", 200).status());
  ASSERT_OK(Append(Header("new"), 0, "c", 300).status());
  EXPECT_THAT(store_->GetPartialUpload(1, task1_.task_id, "old"), IsOkAndHolds(IsNone()));
  EXPECT_THAT(store_->GetPartialUpload(1, task1_.task_id, "mid"), IsOkAndHolds(Committed(1)));
  EXPECT_THAT(store_->GetPartialUpload(1, task1_.task_id, "new"), IsOkAndHolds(Committed(1)));
}

TEST_F(PartialUploadsTest, PruneDropsIdleAndClosedRoundPrefixes) {
  EXPECT_THAT(store_->PrunePartialUploads(1000), IsOkAndHolds(0));
  ASSERT_OK(Append(Header("idle"), 0, "a", 100).status());
  ASSERT_OK(Append(Header("fresh"), 0, "b", 5000).status());
  EXPECT_THAT(store_->PrunePartialUploads(1000), IsOkAndHolds(1));
  EXPECT_THAT(store_->GetPartialUpload(1, task1_.task_id, "idle"), IsOkAndHolds(IsNone()));
  EXPECT_THAT(store_->GetPartialUpload(1, task1_.task_id, "fresh"), IsOkAndHolds(Committed(1)));
  RoundRecord closed = MakeRound(1);
  closed.state = "done";
  ASSERT_OK(store_->UpdateRound(closed));
  EXPECT_THAT(store_->PrunePartialUploads(1000), IsOkAndHolds(1));
  EXPECT_THAT(store_->GetPartialUpload(1, task1_.task_id, "fresh"), IsOkAndHolds(IsNone()));
}

TEST_F(PartialUploadsTest, FindUpdateByRequestId) {
  EXPECT_THAT(store_->FindUpdate(1, "u"), IsOkAndHolds(IsNone()));
  UpdateRecord u;
  u.device_id = 1;
  u.task_id = task1_.task_id;
  u.request_id = "u";
  u.blob_hash = std::string(64, 'b');
  u.sample_count = 3;
  ASSERT_OK(store_->InsertUpdate(u).status());
  EXPECT_THAT(store_->FindUpdate(1, "u"),
              IsOkAndHolds(Optional(Field(&UpdateRecord::task_id, task1_.task_id))));
  EXPECT_THAT(store_->FindUpdate(2, "u"), IsOkAndHolds(IsNone()));
}

// --- Error paths ---------------------------------------------------------------

TEST_F(PartialUploadsTest, ContinuingAtAnotherOffsetIsFailedPrecondition) {
  const PartialUploadRecord h = Header("r");
  ASSERT_OK(Append(h, 0, "abcd").status());
  EXPECT_THAT(Append(h, 3, "x"), StatusIs(absl::StatusCode::kFailedPrecondition,
                                          HasSubstr("4 bytes are kept")));
  EXPECT_THAT(Append(h, 5, "x"), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(Append(Header("none"), 2, "x"), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(store_->GetPartialUpload(1, task1_.task_id, "r"), IsOkAndHolds(Committed(4)));
}

TEST_F(PartialUploadsTest, ContinuingWithAnotherHeaderIsFailedPrecondition) {
  ASSERT_OK(Append(Header("r"), 0, "abcd").status());
  PartialUploadRecord other = Header("r");
  other.sha256 = std::string(64, 'c');
  EXPECT_THAT(Append(other, 4, "x"), StatusIs(absl::StatusCode::kFailedPrecondition,
                                              HasSubstr("with this header")));
}

TEST_F(PartialUploadsTest, DataPastTotalIsInvalidArgument) {
  const PartialUploadRecord h = Header("r", 4);
  EXPECT_THAT(Append(h, 0, "abcde"), StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_OK(Append(h, 0, "abc").status());
  EXPECT_THAT(Append(h, 3, "de"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Append(h, ~uint64_t{0}, "d"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(PartialUploadsTest, AnotherDevicesTaskOrEmptyRequestIdIsRejected) {
  PartialUploadRecord h = Header("r");
  h.task_id = task2_.task_id;
  EXPECT_THAT(Append(h, 0, "a"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Append(Header(""), 0, "a"), StatusIs(absl::StatusCode::kInvalidArgument));
  h.task_id = 999;
  EXPECT_THAT(Append(h, 0, "a"), StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace qfleet::cloud
