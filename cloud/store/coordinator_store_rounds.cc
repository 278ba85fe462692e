// CoordinatorStore: rounds, tasks, participants, updates and reports.

#include "absl/strings/str_cat.h"
#include "cloud/store/coordinator_store.h"
#include "cloud/store/record_checks.h"
#include "cloud/store/record_rows.h"
#include "common/status_macros.h"

namespace qfleet::cloud {

absl::Status CoordinatorStore::CheckRoundExists(uint64_t round) {
  ASSIGN_OR_RETURN(
      const int64_t found,
      QueryInt64(*db_, 0, "SELECT 1 FROM rounds WHERE round = ?1", round));
  if (found == 0) {
    return absl::NotFoundError(absl::StrCat("round ", round, " not found"));
  }
  return absl::OkStatus();
}

absl::Status CoordinatorStore::CheckCampaignExists(uint64_t campaign_id) {
  ASSIGN_OR_RETURN(const int64_t found,
                   QueryInt64(*db_, 0, "SELECT 1 FROM campaigns WHERE id = ?1",
                              campaign_id));
  if (found == 0) {
    return absl::NotFoundError(
        absl::StrCat("campaign ", campaign_id, " not found"));
  }
  return absl::OkStatus();
}

absl::StatusOr<TaskRecord> CoordinatorStore::TaskOfDevice(uint64_t task_id,
                                                          uint64_t device_id,
                                                          uint64_t round) {
  ASSIGN_OR_RETURN(TaskRecord task, GetTask(task_id));
  if (task.device_id != device_id || (round != 0 && task.round != round)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "task ", task_id, " belongs to device ", task.device_id, " in round ",
        task.round, ", not device ", device_id,
        round != 0 ? absl::StrCat(" in round ", round) : std::string()));
  }
  return task;
}

absl::Status CoordinatorStore::InsertTaskLocked(TaskRecord* task) {
  RETURN_IF_ERROR(CheckDeviceExists(task->device_id));
  if (task->plan_id != 0) {
    ASSIGN_OR_RETURN(
        const int64_t plan_device,
        QueryInt64(*db_, 0, "SELECT device_id FROM plans WHERE plan_id = ?1",
                   task->plan_id));
    if (plan_device == 0) {
      return absl::NotFoundError(
          absl::StrCat("plan ", task->plan_id, " not found"));
    }
    if (static_cast<uint64_t>(plan_device) != task->device_id) {
      return absl::InvalidArgumentError(
          absl::StrCat("plan ", task->plan_id, " belongs to device ",
                       plan_device, ", not device ", task->device_id));
    }
  }
  RETURN_IF_ERROR(
      ExplainIf(ExecuteRow(*db_, InsertSql("tasks", kTaskColumns), *task),
                absl::StatusCode::kAlreadyExists,
                absl::StrCat("device ", task->device_id,
                             " has two tasks in round ", task->round)));
  task->task_id = static_cast<uint64_t>(db_->LastInsertRowId());
  ParticipantRecord participant;
  participant.round = task->round;
  participant.device_id = task->device_id;
  participant.status = "assigned";
  participant.task_id = task->task_id;
  return ExecuteRow(*db_, InsertSql("participants", kParticipantColumns),
                    participant);
}

// --- rounds -----------------------------------------------------------------

absl::StatusOr<std::vector<TaskRecord>> CoordinatorStore::CreateRound(
    const RoundRecord& round, const std::vector<TaskRecord>& tasks) {
  // Only the devices given a task can have one now: the cached "no open
  // task" answers of the rest of the fleet stay valid.
  ReentrantMutexLock epoch_lock(db_->mutex());
  for (const TaskRecord& task : tasks) VoidNoTaskFor(task.device_id);
  RETURN_IF_ERROR(CheckRound(round));
  std::vector<TaskRecord> stored = tasks;
  for (TaskRecord& task : stored) {
    RETURN_IF_ERROR(CheckTask(task));
    if (task.round == 0) task.round = round.round;
    if (task.round != round.round) {
      return absl::InvalidArgumentError(
          absl::StrCat("task for device ", task.device_id, " names round ",
                       task.round, " but is created with round ", round.round));
    }
    task.task_id = 0;  // SQLite assigns it.
  }
  RETURN_IF_ERROR(db_->Transaction([&]() -> absl::Status {
    if (round.campaign_id != 0) {
      RETURN_IF_ERROR(CheckCampaignExists(round.campaign_id));
    }
    RETURN_IF_ERROR(
        ExplainIf(ExecuteRow(*db_, InsertSql("rounds", kRoundColumns), round),
                  absl::StatusCode::kAlreadyExists,
                  absl::StrCat("round ", round.round, " already exists")));
    for (TaskRecord& task : stored) RETURN_IF_ERROR(InsertTaskLocked(&task));
    return absl::OkStatus();
  }));
  return stored;
}

absl::Status CoordinatorStore::UpdateRound(const RoundRecord& record) {
  // A round that closes only takes tasks away; one written back to "open"
  // may give its participants theirs again.
  ReentrantMutexLock epoch_lock(db_->mutex());
  if (record.state == "open") VoidTaskCaches();
  RETURN_IF_ERROR(CheckRound(record));
  return db_->Transaction([&]() -> absl::Status {
    if (record.campaign_id != 0) {
      RETURN_IF_ERROR(CheckCampaignExists(record.campaign_id));
    }
    RETURN_IF_ERROR(
        ExecuteRow(*db_, UpdateSql("rounds", kRoundColumns), record));
    if (db_->Changes() == 0) {
      return absl::NotFoundError(
          absl::StrCat("round ", record.round, " not found"));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<RoundRecord> CoordinatorStore::GetRound(uint64_t round) {
  ReentrantMutexLock lock(db_->mutex());
  ASSIGN_OR_RETURN(
      std::optional<RoundRecord> record,
      QueryFirst<RoundRecord>(*db_,
                              absl::StrCat("SELECT ", kRoundColumns,
                                           " FROM rounds WHERE round = ?1"),
                              round));
  if (!record) {
    return absl::NotFoundError(absl::StrCat("round ", round, " not found"));
  }
  return *std::move(record);
}

absl::StatusOr<std::vector<RoundRecord>> CoordinatorStore::ListRounds() {
  ReentrantMutexLock lock(db_->mutex());
  return QueryAll<RoundRecord>(
      *db_,
      absl::StrCat("SELECT ", kRoundColumns, " FROM rounds ORDER BY round"));
}

absl::StatusOr<std::optional<RoundRecord>> CoordinatorStore::LatestRound() {
  ReentrantMutexLock lock(db_->mutex());
  return QueryFirst<RoundRecord>(
      *db_, absl::StrCat("SELECT ", kRoundColumns,
                         " FROM rounds ORDER BY round DESC LIMIT 1"));
}

absl::StatusOr<uint64_t> CoordinatorStore::MaxRoundNumber() {
  ReentrantMutexLock lock(db_->mutex());
  ASSIGN_OR_RETURN(
      const int64_t max,
      QueryInt64(*db_, 0, "SELECT COALESCE(MAX(round), 0) FROM rounds"));
  return static_cast<uint64_t>(max);
}

// --- tasks and participants -------------------------------------------------

absl::StatusOr<TaskRecord> CoordinatorStore::GetTask(uint64_t task_id) {
  ReentrantMutexLock lock(db_->mutex());
  ASSIGN_OR_RETURN(
      std::optional<TaskRecord> task,
      QueryFirst<TaskRecord>(*db_,
                             absl::StrCat("SELECT ", kTaskColumns,
                                          " FROM tasks WHERE task_id = ?1"),
                             task_id));
  if (!task) {
    return absl::NotFoundError(absl::StrCat("task ", task_id, " not found"));
  }
  return *std::move(task);
}

absl::StatusOr<std::optional<TaskRecord>> CoordinatorStore::OpenTaskForDevice(
    uint64_t device_id) {
  // Idle polls dominate a large fleet: remember "no open task" per device
  // until tasks, rounds or campaigns change, and answer it without the
  // connection lock.
  {
    absl::ReaderMutexLock cached(&cache_mu_);
    if (auto it = no_task_epoch_.find(device_id);
        it != no_task_epoch_.end() && it->second == task_epoch_) {
      return std::optional<TaskRecord>();
    }
  }
  ReentrantMutexLock lock(db_->mutex());
  RETURN_IF_ERROR(CheckDeviceExists(device_id));
  ASSIGN_OR_RETURN(std::optional<TaskRecord> task, QueryFirst<TaskRecord>(
      *db_,
      absl::StrCat("SELECT ", Qualify("t", kTaskColumns),
                   " FROM tasks t"
                   " JOIN rounds r ON r.round = t.round"
                   " JOIN participants p"
                   "   ON p.round = t.round AND p.device_id = t.device_id"
                   " WHERE t.device_id = ?1 AND r.state = 'open'"
                   "   AND p.status IN ('assigned', 'pulled')"
                   " ORDER BY t.round DESC LIMIT 1"),
      device_id));
  if (!task.has_value() && !db_->InTransaction()) {
    absl::MutexLock cached(&cache_mu_);
    if (no_task_epoch_.size() >= (1u << 20)) no_task_epoch_.clear();
    no_task_epoch_[device_id] = task_epoch_;
  }
  return task;
}

absl::StatusOr<std::vector<ParticipantRecord>>
CoordinatorStore::ListParticipants(uint64_t round) {
  ReentrantMutexLock lock(db_->mutex());
  RETURN_IF_ERROR(CheckRoundExists(round));
  return QueryAll<ParticipantRecord>(
      *db_,
      absl::StrCat("SELECT ", kParticipantColumns,
                   " FROM participants WHERE round = ?1 ORDER BY device_id"),
      round);
}

absl::StatusOr<std::optional<ParticipantRecord>> CoordinatorStore::GetParticipant(
    uint64_t round, uint64_t device_id) {
  ReentrantMutexLock lock(db_->mutex());
  return QueryFirst<ParticipantRecord>(
      *db_,
      absl::StrCat("SELECT ", kParticipantColumns,
                   " FROM participants WHERE round = ?1 AND device_id = ?2"),
      round, device_id);
}

absl::Status CoordinatorStore::SetParticipantStatus(uint64_t round,
                                                    uint64_t device_id,
                                                    absl::string_view status,
                                                    absl::string_view detail) {
  // Only this device's open task can change.
  ReentrantMutexLock epoch_lock(db_->mutex());
  VoidNoTaskFor(device_id);
  RETURN_IF_ERROR(CheckParticipantStatus(status));
  return db_->Transaction([&]() -> absl::Status {
    RETURN_IF_ERROR(Execute(*db_,
                            "UPDATE participants SET status = ?3, detail = ?4 "
                            "WHERE round = ?1 AND device_id = ?2",
                            round, device_id, status, detail));
    if (db_->Changes() == 0) {
      return absl::NotFoundError(absl::StrCat(
          "device ", device_id, " is not a participant of round ", round));
    }
    return absl::OkStatus();
  });
}

// --- updates ----------------------------------------------------------------

absl::StatusOr<std::pair<UpdateRecord, bool>> CoordinatorStore::InsertUpdate(
    const UpdateRecord& record) {
  // Only this device's participation changes (to "uploaded").
  ReentrantMutexLock epoch_lock(db_->mutex());
  VoidNoTaskFor(record.device_id);
  if (record.request_id.empty()) {
    return absl::InvalidArgumentError("update request_id must not be empty");
  }
  UpdateRecord row = record;
  row.update_id = 0;  // SQLite assigns it.
  bool duplicate = false;
  RETURN_IF_ERROR(db_->Transaction([&]() -> absl::Status {
    ASSIGN_OR_RETURN(std::optional<UpdateRecord> existing,
                     QueryFirst<UpdateRecord>(
                         *db_,
                         absl::StrCat("SELECT ", kUpdateColumns,
                                      " FROM updates WHERE device_id = ?1 "
                                      "AND request_id = ?2"),
                         row.device_id, row.request_id));
    if (existing) {
      if (existing->task_id != row.task_id) {
        return absl::AlreadyExistsError(absl::StrCat(
            "request_id '", row.request_id, "' of device ", row.device_id,
            " was already used for task ", existing->task_id));
      }
      row = *std::move(existing);
      duplicate = true;
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(const TaskRecord task,
                     TaskOfDevice(row.task_id, row.device_id, row.round));
    row.round = task.round;
    RETURN_IF_ERROR(ExplainIf(
        ExecuteRow(*db_, InsertSql("updates", kUpdateColumns), row),
        absl::StatusCode::kAlreadyExists,
        absl::StrCat("device ", row.device_id,
                     " already has an update for round ", row.round)));
    row.update_id = static_cast<uint64_t>(db_->LastInsertRowId());
    return Execute(*db_,
                   "UPDATE participants SET status = 'uploaded' "
                   "WHERE round = ?1 AND device_id = ?2 "
                   "AND status IN ('assigned', 'pulled')",
                   row.round, row.device_id);
  }));
  return std::make_pair(std::move(row), duplicate);
}

absl::StatusOr<std::vector<UpdateRecord>> CoordinatorStore::ListUpdates(
    uint64_t round) {
  ReentrantMutexLock lock(db_->mutex());
  RETURN_IF_ERROR(CheckRoundExists(round));
  return QueryAll<UpdateRecord>(
      *db_,
      absl::StrCat("SELECT ", kUpdateColumns,
                   " FROM updates WHERE round = ?1 ORDER BY device_id"),
      round);
}

// --- reports ----------------------------------------------------------------

absl::StatusOr<bool> CoordinatorStore::InsertReport(
    const ReportRecord& record) {
  // Only this device's participation changes (to "reported"/"dropped").
  ReentrantMutexLock epoch_lock(db_->mutex());
  VoidNoTaskFor(record.device_id);
  if (record.request_id.empty()) {
    return absl::InvalidArgumentError("report request_id must not be empty");
  }
  ReportRecord row = record;
  bool duplicate = false;
  RETURN_IF_ERROR(db_->Transaction([&]() -> absl::Status {
    ASSIGN_OR_RETURN(
        const int64_t existing_task,
        QueryInt64(*db_, 0,
                   "SELECT task_id FROM reports WHERE device_id = ?1 "
                   "AND request_id = ?2",
                   row.device_id, row.request_id));
    if (existing_task != 0) {
      if (static_cast<uint64_t>(existing_task) != row.task_id) {
        return absl::AlreadyExistsError(absl::StrCat(
            "request_id '", row.request_id, "' of device ", row.device_id,
            " was already used for task ", existing_task));
      }
      duplicate = true;
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(const TaskRecord task,
                     TaskOfDevice(row.task_id, row.device_id, row.round));
    row.round = task.round;
    RETURN_IF_ERROR(
        ExplainIf(ExecuteRow(*db_, InsertSql("reports", kReportColumns), row),
                  absl::StatusCode::kAlreadyExists,
                  absl::StrCat("device ", row.device_id,
                               " already has a report for round ", row.round)));
    if (row.error.empty()) {
      return Execute(*db_,
                     "UPDATE participants SET status = 'reported' "
                     "WHERE round = ?1 AND device_id = ?2 "
                     "AND status IN ('assigned', 'pulled', 'uploaded')",
                     row.round, row.device_id);
    }
    return Execute(*db_,
                   "UPDATE participants SET status = 'dropped', detail = ?3 "
                   "WHERE round = ?1 AND device_id = ?2 "
                   "AND status IN ('assigned', 'pulled', 'uploaded')",
                   row.round, row.device_id, row.error);
  }));
  return duplicate;
}

absl::StatusOr<std::vector<ReportRecord>> CoordinatorStore::ListReports(
    uint64_t round) {
  ReentrantMutexLock lock(db_->mutex());
  RETURN_IF_ERROR(CheckRoundExists(round));
  return QueryAll<ReportRecord>(
      *db_,
      absl::StrCat("SELECT ", kReportColumns,
                   " FROM reports WHERE round = ?1 ORDER BY device_id"),
      round);
}

}  // namespace qfleet::cloud
