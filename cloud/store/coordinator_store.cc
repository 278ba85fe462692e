// CoordinatorStore: opening, devices, model versions, campaigns and plans.
// Rounds, tasks, participants, updates and reports are in
// coordinator_store_rounds.cc.

#include "cloud/store/coordinator_store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cloud/store/migrations.h"
#include "cloud/store/record_checks.h"
#include "cloud/store/record_rows.h"
#include "common/status_macros.h"

namespace qfleet::cloud {

absl::StatusOr<std::unique_ptr<CoordinatorStore>> CoordinatorStore::Open(
    const std::string& path, const CoordinatorStoreOptions& options) {
  SqliteOptions sqlite_options;
  sqlite_options.durable = options.durable;
  ASSIGN_OR_RETURN(std::unique_ptr<SqliteDb> db,
                   SqliteDb::Open(path, sqlite_options));
  ASSIGN_OR_RETURN(const int version,
                   ApplyMigrations(*db, CoordinatorMigrations(),
                                   absl::ToUnixMillis(absl::Now())));
  return std::unique_ptr<CoordinatorStore>(
      new CoordinatorStore(std::move(db), version));
}

absl::Status CoordinatorStore::RunInTransaction(
    const std::function<absl::Status()>& body) {
  return db_->Transaction(body);
}

absl::Status CoordinatorStore::CheckDeviceExists(uint64_t device_id) {
  ASSIGN_OR_RETURN(
      const int64_t found,
      QueryInt64(*db_, 0, "SELECT 1 FROM devices WHERE id = ?1", device_id));
  if (found == 0) {
    return absl::NotFoundError(
        absl::StrCat("device ", device_id, " not found"));
  }
  return absl::OkStatus();
}

// --- devices ----------------------------------------------------------------

absl::StatusOr<uint64_t> CoordinatorStore::InsertDevice(
    const DeviceRecord& record) {
  RETURN_IF_ERROR(CheckDevice(record));
  DeviceRecord row = record;
  row.id = 0;  // SQLite assigns it.
  uint64_t id = 0;
  RETURN_IF_ERROR(db_->Transaction([&]() -> absl::Status {
    RETURN_IF_ERROR(ExplainIf(
        ExecuteRow(*db_, InsertSql("devices", kDeviceColumns), row),
        absl::StatusCode::kAlreadyExists,
        absl::StrCat("device name '", row.name, "' is already registered")));
    id = static_cast<uint64_t>(db_->LastInsertRowId());
    ForgetAuth(id);
    return absl::OkStatus();
  }));
  return id;
}

absl::Status CoordinatorStore::UpdateDevice(const DeviceRecord& record) {
  RETURN_IF_ERROR(CheckDevice(record));
  return db_->Transaction([&]() -> absl::Status {
    ForgetAuth(record.id);
    RETURN_IF_ERROR(ExplainIf(
        ExecuteRow(*db_, UpdateSql("devices", kDeviceColumns), record),
        absl::StatusCode::kAlreadyExists,
        absl::StrCat("device name '", record.name, "' is already registered")));
    if (db_->Changes() == 0) {
      return absl::NotFoundError(
          absl::StrCat("device ", record.id, " not found"));
    }
    return absl::OkStatus();
  });
}

void CoordinatorStore::VoidTaskCaches() {
  absl::MutexLock cached(&cache_mu_);
  ++task_epoch_;
}

void CoordinatorStore::VoidNoTaskFor(uint64_t device_id) {
  absl::MutexLock cached(&cache_mu_);
  no_task_epoch_.erase(device_id);
}

void CoordinatorStore::ForgetAuth(uint64_t device_id) {
  absl::MutexLock cached(&cache_mu_);
  auth_cache_.erase(device_id);
}

absl::StatusOr<CoordinatorStore::DeviceAuth> CoordinatorStore::GetDeviceAuth(uint64_t id) {
  constexpr size_t kMaxCached = 1 << 20;
  {
    absl::ReaderMutexLock cached(&cache_mu_);
    if (auto it = auth_cache_.find(id); it != auth_cache_.end()) return it->second;
  }
  ReentrantMutexLock lock(db_->mutex());
  ASSIGN_OR_RETURN(DeviceRecord device, GetDevice(id));
  DeviceAuth auth{device.token_hash, device.state};
  // Inside an open transaction the row may still roll back: do not cache it.
  if (db_->InTransaction()) return auth;
  absl::MutexLock cached(&cache_mu_);
  if (auth_cache_.size() >= kMaxCached) auth_cache_.clear();
  auth_cache_.emplace(id, auth);
  return auth;
}

absl::StatusOr<DeviceRecord> CoordinatorStore::GetDevice(uint64_t id) {
  ReentrantMutexLock lock(db_->mutex());
  ASSIGN_OR_RETURN(
      std::optional<DeviceRecord> device,
      QueryFirst<DeviceRecord>(*db_,
                               absl::StrCat("SELECT ", kDeviceColumns,
                                            " FROM devices WHERE id = ?1"),
                               id));
  if (!device) {
    return absl::NotFoundError(absl::StrCat("device ", id, " not found"));
  }
  return *std::move(device);
}

absl::StatusOr<DeviceRecord> CoordinatorStore::GetDeviceByName(
    absl::string_view name) {
  ReentrantMutexLock lock(db_->mutex());
  ASSIGN_OR_RETURN(
      std::optional<DeviceRecord> device,
      QueryFirst<DeviceRecord>(*db_,
                               absl::StrCat("SELECT ", kDeviceColumns,
                                            " FROM devices WHERE name = ?1"),
                               name));
  if (!device) {
    return absl::NotFoundError(
        absl::StrCat("device named '", name, "' not found"));
  }
  return *std::move(device);
}

absl::StatusOr<std::vector<DeviceRecord>> CoordinatorStore::ListDevices() {
  ReentrantMutexLock lock(db_->mutex());
  return QueryAll<DeviceRecord>(
      *db_,
      absl::StrCat("SELECT ", kDeviceColumns, " FROM devices ORDER BY id"));
}

absl::StatusOr<std::vector<uint64_t>> CoordinatorStore::ActiveDevicesSeenSince(
    int64_t since_ms) {
  ReentrantMutexLock lock(db_->mutex());
  ASSIGN_OR_RETURN(SqliteDb::Statement stmt,
                   db_->Prepare("SELECT id FROM devices WHERE state = 'active' "
                                "AND last_seen_ms >= ?1 ORDER BY id"));
  RETURN_IF_ERROR(stmt.BindAll(since_ms));
  std::vector<uint64_t> ids;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, stmt.Step());
    if (!row) break;
    ids.push_back(stmt.ColumnUint64(0));
  }
  return ids;
}

absl::Status CoordinatorStore::TouchDevices(
    const std::vector<std::pair<uint64_t, int64_t>>& seen) {
  // A transaction per slice, so a fleet-wide flush does not keep other
  // writers (uploads, reports) off the connection for its whole length.
  constexpr size_t kSlice = 32;
  for (size_t begin = 0; begin < seen.size(); begin += kSlice) {
    const size_t end = std::min(seen.size(), begin + kSlice);
    RETURN_IF_ERROR(db_->Transaction([&]() -> absl::Status {
      ASSIGN_OR_RETURN(
          SqliteDb::Statement stmt,
          db_->Prepare("UPDATE devices SET last_seen_ms = MAX(last_seen_ms, ?2) WHERE id = ?1"));
      for (size_t i = begin; i < end; ++i) {
        RETURN_IF_ERROR(stmt.Reset());
        RETURN_IF_ERROR(stmt.BindAll(seen[i].first, seen[i].second));
        RETURN_IF_ERROR(stmt.Step().status());
      }
      return absl::OkStatus();
    }));
  }
  return absl::OkStatus();
}

absl::Status CoordinatorStore::TouchDevice(uint64_t id, int64_t now_ms) {
  return db_->Transaction([&]() -> absl::Status {
    RETURN_IF_ERROR(
        Execute(*db_, "UPDATE devices SET last_seen_ms = ?2 WHERE id = ?1", id,
                now_ms));
    if (db_->Changes() == 0) {
      return absl::NotFoundError(absl::StrCat("device ", id, " not found"));
    }
    return absl::OkStatus();
  });
}

absl::Status CoordinatorStore::SetDeviceState(uint64_t id,
                                              absl::string_view state) {
  RETURN_IF_ERROR(CheckDeviceState(state));
  return db_->Transaction([&]() -> absl::Status {
    ForgetAuth(id);
    RETURN_IF_ERROR(Execute(*db_, "UPDATE devices SET state = ?2 WHERE id = ?1",
                            id, state));
    if (db_->Changes() == 0) {
      return absl::NotFoundError(absl::StrCat("device ", id, " not found"));
    }
    return absl::OkStatus();
  });
}

// --- model versions ---------------------------------------------------------

absl::Status CoordinatorStore::InsertModelVersion(
    const ModelVersionRecord& record) {
  RETURN_IF_ERROR(CheckModelVersion(record));
  return db_->Transaction([&]() -> absl::Status {
    return ExplainIf(
        ExecuteRow(*db_, InsertSql("model_versions", kModelVersionColumns),
                   record),
        absl::StatusCode::kAlreadyExists,
        absl::StrCat("model version ", record.version, " already exists"));
  });
}

absl::Status CoordinatorStore::SetModelVersionAccuracy(uint64_t version, double acc_fp32,
                                                       double acc_q8) {
  return db_->Transaction([&]() -> absl::Status {
    RETURN_IF_ERROR(Execute(*db_,
                            "UPDATE model_versions SET acc_fp32 = ?2, acc_q8 = ?3 WHERE version = ?1",
                            version, acc_fp32, acc_q8));
    if (db_->Changes() == 0) {
      return absl::NotFoundError(absl::StrCat("model version ", version, " not found"));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<ModelVersionRecord> CoordinatorStore::GetModelVersion(
    uint64_t version) {
  ReentrantMutexLock lock(db_->mutex());
  ASSIGN_OR_RETURN(std::optional<ModelVersionRecord> model,
                   QueryFirst<ModelVersionRecord>(
                       *db_,
                       absl::StrCat("SELECT ", kModelVersionColumns,
                                    " FROM model_versions WHERE version = ?1"),
                       version));
  if (!model) {
    return absl::NotFoundError(
        absl::StrCat("model version ", version, " not found"));
  }
  return *std::move(model);
}

absl::StatusOr<std::optional<ModelVersionRecord>>
CoordinatorStore::LatestModelVersion() {
  ReentrantMutexLock lock(db_->mutex());
  return QueryFirst<ModelVersionRecord>(
      *db_, absl::StrCat("SELECT ", kModelVersionColumns,
                         " FROM model_versions ORDER BY version DESC LIMIT 1"));
}

absl::StatusOr<std::vector<ModelVersionRecord>>
CoordinatorStore::ListModelVersions() {
  ReentrantMutexLock lock(db_->mutex());
  return QueryAll<ModelVersionRecord>(
      *db_, absl::StrCat("SELECT ", kModelVersionColumns,
                         " FROM model_versions ORDER BY version"));
}

// --- campaigns --------------------------------------------------------------

absl::StatusOr<uint64_t> CoordinatorStore::InsertCampaign(
    const CampaignRecord& record) {
  // Tasks, rounds or campaigns change: cached idle answers are void.
  ReentrantMutexLock epoch_lock(db_->mutex());
  VoidTaskCaches();
  RETURN_IF_ERROR(CheckCampaign(record));
  CampaignRecord row = record;
  row.id = 0;  // SQLite assigns it.
  uint64_t id = 0;
  RETURN_IF_ERROR(db_->Transaction([&]() -> absl::Status {
    RETURN_IF_ERROR(
        ExecuteRow(*db_, InsertSql("campaigns", kCampaignColumns), row));
    id = static_cast<uint64_t>(db_->LastInsertRowId());
    return absl::OkStatus();
  }));
  return id;
}

absl::Status CoordinatorStore::UpdateCampaign(const CampaignRecord& record) {
  // Tasks, rounds or campaigns change: cached idle answers are void.
  ReentrantMutexLock epoch_lock(db_->mutex());
  VoidTaskCaches();
  RETURN_IF_ERROR(CheckCampaign(record));
  return db_->Transaction([&]() -> absl::Status {
    RETURN_IF_ERROR(
        ExecuteRow(*db_, UpdateSql("campaigns", kCampaignColumns), record));
    if (db_->Changes() == 0) {
      return absl::NotFoundError(
          absl::StrCat("campaign ", record.id, " not found"));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<CampaignRecord> CoordinatorStore::GetCampaign(uint64_t id) {
  ReentrantMutexLock lock(db_->mutex());
  ASSIGN_OR_RETURN(
      std::optional<CampaignRecord> campaign,
      QueryFirst<CampaignRecord>(*db_,
                                 absl::StrCat("SELECT ", kCampaignColumns,
                                              " FROM campaigns WHERE id = ?1"),
                                 id));
  if (!campaign) {
    return absl::NotFoundError(absl::StrCat("campaign ", id, " not found"));
  }
  return *std::move(campaign);
}

absl::StatusOr<std::vector<CampaignRecord>> CoordinatorStore::ListCampaigns() {
  ReentrantMutexLock lock(db_->mutex());
  return QueryAll<CampaignRecord>(
      *db_,
      absl::StrCat("SELECT ", kCampaignColumns, " FROM campaigns ORDER BY id"));
}

absl::StatusOr<std::optional<CampaignRecord>>
CoordinatorStore::ActiveCampaign() {
  {
    absl::ReaderMutexLock cached(&cache_mu_);
    if (active_campaign_epoch_ == task_epoch_ && active_campaign_.has_value()) {
      return *active_campaign_;
    }
  }
  ReentrantMutexLock lock(db_->mutex());
  ASSIGN_OR_RETURN(std::optional<CampaignRecord> campaign, QueryFirst<CampaignRecord>(
      *db_, absl::StrCat("SELECT ", kCampaignColumns,
                         " FROM campaigns WHERE state = 'running' "
                         "ORDER BY id DESC LIMIT 1")));
  if (!db_->InTransaction()) {
    absl::MutexLock cached(&cache_mu_);
    active_campaign_ = campaign;
    active_campaign_epoch_ = task_epoch_;
  }
  return campaign;
}

// --- plans ------------------------------------------------------------------

absl::StatusOr<uint64_t> CoordinatorStore::InsertPlan(
    const PlanRecord& record) {
  PlanRecord row = record;
  row.plan_id = 0;  // SQLite assigns it.
  RETURN_IF_ERROR(db_->Transaction([&]() -> absl::Status {
    RETURN_IF_ERROR(CheckDeviceExists(row.device_id));
    if (row.version == 0) {
      ASSIGN_OR_RETURN(const int64_t previous,
                       QueryInt64(*db_, 0,
                                  "SELECT COALESCE(MAX(version), 0) FROM plans "
                                  "WHERE device_id = ?1",
                                  row.device_id));
      row.version = static_cast<uint64_t>(previous) + 1;
    }
    RETURN_IF_ERROR(
        ExplainIf(ExecuteRow(*db_, InsertSql("plans", kPlanColumns), row),
                  absl::StatusCode::kAlreadyExists,
                  absl::StrCat("device ", row.device_id,
                               " already has plan version ", row.version)));
    row.plan_id = static_cast<uint64_t>(db_->LastInsertRowId());
    return absl::OkStatus();
  }));
  return row.plan_id;
}

absl::StatusOr<std::optional<PlanRecord>> CoordinatorStore::LatestPlanForDevice(
    uint64_t device_id) {
  ReentrantMutexLock lock(db_->mutex());
  RETURN_IF_ERROR(CheckDeviceExists(device_id));
  return QueryFirst<PlanRecord>(*db_,
                                absl::StrCat("SELECT ", kPlanColumns,
                                             " FROM plans WHERE device_id = ?1 "
                                             "ORDER BY version DESC LIMIT 1"),
                                device_id);
}

absl::StatusOr<PlanRecord> CoordinatorStore::GetPlan(uint64_t plan_id) {
  ReentrantMutexLock lock(db_->mutex());
  ASSIGN_OR_RETURN(
      std::optional<PlanRecord> plan,
      QueryFirst<PlanRecord>(*db_,
                             absl::StrCat("SELECT ", kPlanColumns,
                                          " FROM plans WHERE plan_id = ?1"),
                             plan_id));
  if (!plan) {
    return absl::NotFoundError(absl::StrCat("plan ", plan_id, " not found"));
  }
  return *std::move(plan);
}

// --- kv -----------------------------------------------------------------------

absl::Status CoordinatorStore::PutKv(absl::string_view key, absl::string_view value,
                                     int64_t now_ms) {
  if (key.empty()) return absl::InvalidArgumentError("kv key is empty");
  ReentrantMutexLock lock(db_->mutex());
  ASSIGN_OR_RETURN(SqliteDb::Statement stmt,
                   db_->Prepare("INSERT INTO kv (key, value, updated_ms) VALUES (?1, ?2, ?3) "
                                "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                                "updated_ms = excluded.updated_ms"));
  RETURN_IF_ERROR(stmt.BindAll(std::string(key), SqliteDb::Statement::Blob{value}, now_ms));
  return stmt.Step().status();
}

absl::StatusOr<std::optional<std::string>> CoordinatorStore::GetKv(absl::string_view key) {
  ReentrantMutexLock lock(db_->mutex());
  ASSIGN_OR_RETURN(SqliteDb::Statement stmt, db_->Prepare("SELECT value FROM kv WHERE key = ?1"));
  RETURN_IF_ERROR(stmt.BindAll(std::string(key)));
  ASSIGN_OR_RETURN(const bool row, stmt.Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(stmt.ColumnBlob(0));
}

}  // namespace qfleet::cloud
