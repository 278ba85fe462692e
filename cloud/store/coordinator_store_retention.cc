// CoordinatorStore: retention. Which model versions, update blobs and plan
// rows may go, and the blob hashes still referenced (issue 23: bounded
// resources). Rows of pruned versions and updates stay, marked with the
// time they were pruned, so history (accuracies, who sent what) is kept.

#include "absl/strings/str_cat.h"
#include "cloud/store/coordinator_store.h"
#include "cloud/store/record_rows.h"
#include "common/status_macros.h"

namespace qfleet::cloud {

namespace {

// Rounds whose inputs must stay: their tasks may still download the model.
constexpr absl::string_view kLiveRounds = "('open', 'aggregating')";

}  // namespace

absl::StatusOr<ModelVersionRecord> CoordinatorStore::SetModelPinned(uint64_t version,
                                                                    bool pinned) {
  RETURN_IF_ERROR(db_->Transaction([&]() -> absl::Status {
    RETURN_IF_ERROR(Execute(*db_, "UPDATE model_versions SET pinned = ?2 WHERE version = ?1",
                            version, pinned));
    if (db_->Changes() == 0) {
      return absl::NotFoundError(absl::StrCat("model version ", version, " does not exist"));
    }
    return absl::OkStatus();
  }));
  return GetModelVersion(version);
}

absl::StatusOr<std::vector<ModelVersionRecord>> CoordinatorStore::PruneModelVersions(
    int keep, int64_t now_ms) {
  std::vector<ModelVersionRecord> pruned;
  if (keep <= 0) return pruned;
  RETURN_IF_ERROR(db_->Transaction([&]() -> absl::Status {
    const std::string candidates = absl::StrCat(
        "FROM model_versions WHERE pruned_ms = 0 AND pinned = 0"
        " AND version NOT IN (SELECT version FROM model_versions ORDER BY version DESC LIMIT ?1)"
        " AND version NOT IN (SELECT model_version_in FROM rounds WHERE state IN ",
        kLiveRounds,
        ")"
        " AND version NOT IN (SELECT t.model_version FROM tasks t JOIN rounds r"
        " ON t.round = r.round WHERE r.state IN ",
        kLiveRounds, ")");
    ASSIGN_OR_RETURN(pruned,
                     QueryAll<ModelVersionRecord>(
                         *db_, absl::StrCat("SELECT ", kModelVersionColumns, " ", candidates,
                                            " ORDER BY version"),
                         keep));
    for (ModelVersionRecord& m : pruned) {
      RETURN_IF_ERROR(Execute(*db_, "UPDATE model_versions SET pruned_ms = ?2 WHERE version = ?1",
                              m.version, now_ms));
      m.pruned_ms = now_ms;
    }
    return absl::OkStatus();
  }));
  return pruned;
}

absl::StatusOr<uint64_t> CoordinatorStore::PruneUpdateBlobs(int keep_rounds, int64_t now_ms) {
  if (keep_rounds <= 0) return 0;
  uint64_t changed = 0;
  RETURN_IF_ERROR(db_->Transaction([&]() -> absl::Status {
    RETURN_IF_ERROR(Execute(
        *db_,
        "UPDATE updates SET pruned_ms = ?2 WHERE pruned_ms = 0 AND round IN ("
        "  SELECT round FROM rounds WHERE state IN ('done', 'failed', 'cancelled')"
        "  AND round <= (SELECT COALESCE(MAX(round), 0) FROM rounds) - ?1)",
        keep_rounds, now_ms));
    changed = static_cast<uint64_t>(db_->Changes());
    return absl::OkStatus();
  }));
  return changed;
}

absl::StatusOr<uint64_t> CoordinatorStore::PrunePlans(int keep_per_device) {
  if (keep_per_device <= 0) return 0;
  uint64_t changed = 0;
  RETURN_IF_ERROR(db_->Transaction([&]() -> absl::Status {
    RETURN_IF_ERROR(Execute(
        *db_,
        "DELETE FROM plans WHERE plan_id NOT IN"
        " (SELECT plan_id FROM tasks WHERE plan_id IS NOT NULL)"
        " AND version <= (SELECT MAX(p.version) FROM plans p"
        "                 WHERE p.device_id = plans.device_id) - ?1",
        keep_per_device));
    changed = static_cast<uint64_t>(db_->Changes());
    return absl::OkStatus();
  }));
  return changed;
}

absl::StatusOr<absl::flat_hash_set<std::string>> CoordinatorStore::LiveBlobHashes() {
  ReentrantMutexLock lock(db_->mutex());
  absl::flat_hash_set<std::string> live;
  for (absl::string_view sql :
       {"SELECT blob_hash FROM model_versions WHERE pruned_ms = 0",
        "SELECT blob_hash FROM updates WHERE pruned_ms = 0"}) {
    ASSIGN_OR_RETURN(SqliteDb::Statement stmt, db_->Prepare(sql));
    for (;;) {
      ASSIGN_OR_RETURN(const bool row, stmt.Step());
      if (!row) break;
      live.insert(stmt.ColumnText(0));
    }
  }
  return live;
}

}  // namespace qfleet::cloud
