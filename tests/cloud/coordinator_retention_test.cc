// Retention (issue 23): old model versions, finished rounds' update blobs,
// old plan rows and blobs nothing refers to go; pinned versions, the newest
// ones and what an open round needs stay.
#include <sys/stat.h>
#include <utime.h>

#include <ctime>
#include <filesystem>
#include <fstream>

#include "cloud/coordinator.h"
#include "common/clock.h"
#include "common/status_matchers.h"
#include "tests/cloud/coordinator_test_fixture.h"

namespace qfleet::cloud {
namespace {

class RetentionTest : public CoordinatorTest {
 protected:
  std::filesystem::path BlobPath(const std::string& hash) {
    return dir_ / "state.db.blobs" / hash.substr(0, 2) / hash;
  }
  // Runs `rounds` one-device rounds of one campaign; round r's update holds
  // 0.1 * r everywhere (distinct blobs) unless `same_update`.
  void RunRounds(uint64_t device, int rounds, bool same_update = false) {
    ASSERT_OK(coordinator_->StartCampaign(Config(rounds)).status());
    for (int r = 1; r <= rounds; ++r) {
      ASSERT_OK(coordinator_->Step());  // opens the round
      ASSERT_OK_AND_ASSIGN(PulledTask t, coordinator_->PullTask(device));
      ASSERT_TRUE(t.task.has_value()) << "round " << r;
      // A float update of one device becomes the next model byte for byte
      // (same blob); an 8-bit one does not.
      const float value = same_update ? 0.5f : 0.1f * static_cast<float>(r);
      const std::string rid = "u" + std::to_string(r) + (same_update ? "s" : "");
      ASSERT_OK(coordinator_->AcceptUpdate(device, t.task->task_id, rid, 10,
                                           Delta(value, same_update ? 8 : 0))
                    .status());
      ASSERT_OK(coordinator_->AcceptReport(
                    Report(device, t.task->task_id, rid + "r"))
                    .status());
      ASSERT_OK(coordinator_->Step());  // aggregates
    }
    ASSERT_OK(coordinator_->Step());  // ends the campaign
  }
  void Age(const std::filesystem::path& p, int64_t seconds) {
    struct utimbuf t;
    t.actime = t.modtime = ::time(nullptr) - seconds;
    ASSERT_EQ(::utime(p.c_str(), &t), 0) << p;
  }
};

TEST_F(RetentionTest, KeepsTheNewestVersionsAndPinnedOnesAndSaysWhyAnOldOneIsGone) {
  keep_models_ = 2;
  // Version r + 1 is round r's float update byte for byte; those updates go
  // too (all but the last round's), or they would keep the blobs alive.
  keep_update_rounds_ = 1;
  blob_gc_min_age_s_ = 0;
  Reopen();
  Registration a = Enroll("a");
  ASSERT_OK(coordinator_->PinModel(1, true).status());
  RunRounds(a.device_id, 4);
  ASSERT_OK_AND_ASSIGN(ModelBlob latest, coordinator_->GetModel(0));
  ASSERT_EQ(latest.version, 5u);
  std::vector<std::string> hashes;
  for (uint64_t v = 1; v <= 5; ++v) {
    ASSERT_OK_AND_ASSIGN(ModelVersionRecord m, coordinator_->store().GetModelVersion(v));
    hashes.push_back(m.blob_hash);
    ASSERT_TRUE(std::filesystem::exists(BlobPath(m.blob_hash)));
  }

  ASSERT_OK_AND_ASSIGN(RetentionResult r, coordinator_->RunRetention());
  EXPECT_EQ(r.model_versions, 2u);  // versions 2 and 3
  EXPECT_OK(coordinator_->GetModel(1).status());  // pinned
  EXPECT_THAT(coordinator_->GetModel(2).status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("retention policy")));
  EXPECT_THAT(coordinator_->GetModel(3).status(), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_OK(coordinator_->GetModel(4).status());
  EXPECT_OK(coordinator_->GetModel(5).status());
  EXPECT_FALSE(std::filesystem::exists(BlobPath(hashes[1])));
  EXPECT_FALSE(std::filesystem::exists(BlobPath(hashes[2])));
  EXPECT_TRUE(std::filesystem::exists(BlobPath(hashes[0])));
  // The rows stay, with their history.
  ASSERT_OK_AND_ASSIGN(ModelVersionRecord v2, coordinator_->store().GetModelVersion(2));
  EXPECT_NE(v2.pruned_ms, 0);
  EXPECT_EQ(v2.round, 1u);
  // A pruned version cannot be pinned; an unknown one is NotFound.
  EXPECT_THAT(coordinator_->PinModel(2, true).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(coordinator_->PinModel(99, true).status(), StatusIs(absl::StatusCode::kNotFound));
  // A second pass finds nothing more; unpinning lets version 1 go.
  ASSERT_OK_AND_ASSIGN(r, coordinator_->RunRetention());
  EXPECT_EQ(r.model_versions, 0u);
  ASSERT_OK(coordinator_->PinModel(1, false).status());
  ASSERT_OK_AND_ASSIGN(r, coordinator_->RunRetention());
  EXPECT_EQ(r.model_versions, 1u);
  EXPECT_FALSE(std::filesystem::exists(BlobPath(hashes[0])));
}

TEST_F(RetentionTest, NeverPrunesTheInputOfAnOpenRound) {
  keep_models_ = 1;
  Reopen();
  Registration a = Enroll("a");
  ASSERT_OK(coordinator_->StartCampaign(Config(1)).status());
  ASSERT_OK(coordinator_->Step());
  ASSERT_OK_AND_ASSIGN(RoundRecord round, coordinator_->store().GetRound(1));
  ASSERT_EQ(round.state, "open");
  ASSERT_EQ(round.model_version_in, 1u);
  // Newer versions appear while round 1 (input: version 1) is still open.
  for (uint64_t v : {2, 3}) {
    ModelVersionRecord m;
    m.version = v;
    m.blob_hash = std::string(64, static_cast<char>('0' + v));
    m.bytes = 1;
    m.round = 0;
    ASSERT_OK(coordinator_->store().InsertModelVersion(m));
  }
  ASSERT_OK_AND_ASSIGN(RetentionResult r, coordinator_->RunRetention());
  EXPECT_EQ(r.model_versions, 1u);  // version 2 only
  ASSERT_OK_AND_ASSIGN(ModelVersionRecord v1, coordinator_->store().GetModelVersion(1));
  EXPECT_EQ(v1.pruned_ms, 0);
  ASSERT_OK_AND_ASSIGN(ModelVersionRecord v2, coordinator_->store().GetModelVersion(2));
  EXPECT_NE(v2.pruned_ms, 0);
  ASSERT_OK_AND_ASSIGN(PulledTask t, coordinator_->PullTask(a.device_id));
  ASSERT_TRUE(t.task.has_value());
  EXPECT_OK(coordinator_->GetModel(t.task->model_version).status());
}

TEST_F(RetentionTest, UpdateBlobsOfOldFinishedRoundsGoButASharedBlobStays) {
  keep_update_rounds_ = 1;
  keep_models_ = 1;  // round r's float update is model version r + 1
  blob_gc_min_age_s_ = 0;
  Reopen();
  Registration a = Enroll("a");
  RunRounds(a.device_id, 3);
  ASSERT_OK_AND_ASSIGN(std::vector<UpdateRecord> u1, coordinator_->store().ListUpdates(1));
  ASSERT_OK_AND_ASSIGN(std::vector<UpdateRecord> u3, coordinator_->store().ListUpdates(3));
  ASSERT_EQ(u1.size(), 1u);
  ASSERT_EQ(u3.size(), 1u);
  ASSERT_OK_AND_ASSIGN(RetentionResult r, coordinator_->RunRetention());
  EXPECT_EQ(r.updates, 2u);  // rounds 1 and 2
  EXPECT_FALSE(std::filesystem::exists(BlobPath(u1[0].blob_hash)));
  EXPECT_TRUE(std::filesystem::exists(BlobPath(u3[0].blob_hash)));
  // The rows stay (who sent what is history).
  ASSERT_OK_AND_ASSIGN(u1, coordinator_->store().ListUpdates(1));
  EXPECT_EQ(u1.size(), 1u);

  // Identical 8-bit updates in rounds 4..6 share one blob (no model has
  // those bytes): it stays while a kept update names it.
  RunRounds(a.device_id, 3, /*same_update=*/true);
  ASSERT_OK_AND_ASSIGN(std::vector<UpdateRecord> u4, coordinator_->store().ListUpdates(4));
  ASSERT_OK_AND_ASSIGN(std::vector<UpdateRecord> u6, coordinator_->store().ListUpdates(6));
  ASSERT_EQ(u4[0].blob_hash, u6[0].blob_hash);
  ASSERT_OK_AND_ASSIGN(r, coordinator_->RunRetention());
  EXPECT_EQ(r.updates, 3u);  // rounds 3, 4 and 5
  EXPECT_TRUE(std::filesystem::exists(BlobPath(u6[0].blob_hash)));
  EXPECT_FALSE(std::filesystem::exists(BlobPath(u3[0].blob_hash)));  // round 3's, float
}

TEST_F(RetentionTest, StrayBlobsGoOnceOldTempFilesAndOtherFilesStay) {
  Registration a = Enroll("a");
  const std::string stray_old(64, 'a'), stray_new(64, 'b');
  for (const std::string& h : {stray_old, stray_new}) {
    std::filesystem::create_directories(BlobPath(h).parent_path());
    std::ofstream(BlobPath(h)) << "not referenced";
  }
  Age(BlobPath(stray_old), 3600);
  const std::filesystem::path other = dir_ / "state.db.blobs" / "README";
  std::ofstream(other) << "operator's note";
  Age(other, 3600);
  ASSERT_OK_AND_ASSIGN(ModelVersionRecord v1, coordinator_->store().GetModelVersion(1));
  Age(BlobPath(v1.blob_hash), 3600);  // referenced: stays however old

  ASSERT_OK_AND_ASSIGN(RetentionResult r, coordinator_->RunRetention());
  EXPECT_EQ(r.blobs, 1u);
  EXPECT_EQ(r.blob_bytes, std::string("not referenced").size());
  EXPECT_FALSE(std::filesystem::exists(BlobPath(stray_old)));
  EXPECT_TRUE(std::filesystem::exists(BlobPath(stray_new)));  // younger than the guard
  EXPECT_TRUE(std::filesystem::exists(other));
  EXPECT_OK(coordinator_->GetModel(1).status());
  (void)a;
}

TEST_F(RetentionTest, PlanRowsBeyondEachDevicesNewestGoUnlessATaskUsesThem) {
  keep_plans_ = 2;
  Reopen();
  Registration a = Enroll("a");
  Registration b = Enroll("b");
  for (int i = 0; i < 5; ++i) {
    for (uint64_t dev : {a.device_id, b.device_id}) {
      PlanRecord p;
      p.device_id = dev;
      p.bytes = std::string(4, static_cast<char>(i));
      p.created_ms = 1;
      ASSERT_OK(coordinator_->store().InsertPlan(p).status());
    }
  }
  ASSERT_OK_AND_ASSIGN(RetentionResult r, coordinator_->RunRetention());
  EXPECT_EQ(r.plans, 6u);  // versions 1..3 of each device
  ASSERT_OK_AND_ASSIGN(std::optional<PlanRecord> latest, coordinator_->store().LatestPlanForDevice(a.device_id));
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->version, 5u);
}

}  // namespace
}  // namespace qfleet::cloud
