// CoordinatorStore: kept prefixes of broken uploads (partial_uploads and
// their upload_chunks), so a device can resume an upload from an offset.

#include "absl/strings/str_cat.h"
#include "cloud/store/coordinator_store.h"
#include "cloud/store/record_rows.h"
#include "common/status_macros.h"

namespace qfleet::cloud {
namespace {

bool SameHeader(const PartialUploadRecord& a, const PartialUploadRecord& b) {
  return a.total_bytes == b.total_bytes && a.sha256 == b.sha256 &&
         a.sample_count == b.sample_count;
}

}  // namespace

absl::StatusOr<std::optional<UpdateRecord>> CoordinatorStore::FindUpdate(
    uint64_t device_id, absl::string_view request_id) {
  ReentrantMutexLock lock(db_->mutex());
  return QueryFirst<UpdateRecord>(
      *db_,
      absl::StrCat("SELECT ", kUpdateColumns,
                   " FROM updates WHERE device_id = ?1 AND request_id = ?2"),
      device_id, request_id);
}

absl::StatusOr<std::optional<PartialUploadRecord>>
CoordinatorStore::GetPartialUpload(uint64_t device_id, uint64_t task_id,
                                   absl::string_view request_id) {
  ReentrantMutexLock lock(db_->mutex());
  return QueryFirst<PartialUploadRecord>(
      *db_,
      absl::StrCat("SELECT ", kPartialUploadColumns,
                   " FROM partial_uploads WHERE device_id = ?1 AND "
                   "task_id = ?2 AND request_id = ?3"),
      device_id, task_id, request_id);
}

absl::StatusOr<PartialUploadRecord> CoordinatorStore::AppendPartialUpload(
    const PartialUploadRecord& header, uint64_t offset, absl::string_view data,
    int64_t now_ms, int max_per_device) {
  if (header.request_id.empty()) {
    return absl::InvalidArgumentError("upload request_id must not be empty");
  }
  if (offset > header.total_bytes ||
      data.size() > header.total_bytes - offset) {
    return absl::InvalidArgumentError(
        absl::StrCat("upload data at ", offset, "+", data.size(),
                     " passes total_bytes ", header.total_bytes));
  }
  PartialUploadRecord row;
  RETURN_IF_ERROR(db_->Transaction([&]() -> absl::Status {
    ASSIGN_OR_RETURN(
        std::optional<PartialUploadRecord> existing,
        GetPartialUpload(header.device_id, header.task_id, header.request_id));
    if (offset == 0) {
      if (existing) {
        RETURN_IF_ERROR(Execute(*db_, "DELETE FROM partial_uploads WHERE id = ?1",
                                existing->id));
      }
      RETURN_IF_ERROR(TaskOfDevice(header.task_id, header.device_id, 0).status());
      row = header;
      row.id = 0;
      row.committed_bytes = 0;
      row.updated_ms = now_ms;
      RETURN_IF_ERROR(ExecuteRow(
          *db_, InsertSql("partial_uploads", kPartialUploadColumns), row));
      row.id = static_cast<uint64_t>(db_->LastInsertRowId());
      // Keep at most max_per_device prefixes per device: drop the oldest.
      RETURN_IF_ERROR(Execute(
          *db_,
          "DELETE FROM partial_uploads WHERE device_id = ?1 AND id NOT IN "
          "(SELECT id FROM partial_uploads WHERE device_id = ?1 "
          "ORDER BY updated_ms DESC, id DESC LIMIT ?2)",
          header.device_id, static_cast<int64_t>(max_per_device)));
    } else {
      if (!existing || !SameHeader(*existing, header)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "no kept upload '", header.request_id, "' of task ",
            header.task_id, existing ? " with this header" : "",
            "; start at offset 0"));
      }
      if (existing->committed_bytes != offset) {
        return absl::FailedPreconditionError(
            absl::StrCat("upload '", header.request_id, "' continues at ",
                         offset, " but ", existing->committed_bytes,
                         " bytes are kept"));
      }
      row = *std::move(existing);
    }
    if (!data.empty()) {
      RETURN_IF_ERROR(Execute(
          *db_,
          "INSERT INTO upload_chunks (upload_id, offset, data) "
          "VALUES (?1, ?2, ?3)",
          row.id, offset, SqliteDb::Statement::Blob{data}));
    }
    row.committed_bytes = offset + data.size();
    row.updated_ms = now_ms;
    return Execute(*db_,
                   "UPDATE partial_uploads SET committed_bytes = ?2, "
                   "updated_ms = ?3 WHERE id = ?1",
                   row.id, row.committed_bytes, row.updated_ms);
  }));
  return row;
}

absl::StatusOr<std::string> CoordinatorStore::ReadPartialUpload(uint64_t id) {
  ReentrantMutexLock lock(db_->mutex());
  ASSIGN_OR_RETURN(const int64_t committed,
                   QueryInt64(*db_, -1,
                              "SELECT committed_bytes FROM partial_uploads "
                              "WHERE id = ?1",
                              id));
  if (committed < 0) {
    return absl::NotFoundError(absl::StrCat("partial upload ", id, " not found"));
  }
  ASSIGN_OR_RETURN(SqliteDb::Statement stmt,
                   db_->Prepare("SELECT offset, data FROM upload_chunks "
                                "WHERE upload_id = ?1 ORDER BY offset"));
  RETURN_IF_ERROR(stmt.BindAll(id));
  std::string bytes;
  while (true) {
    ASSIGN_OR_RETURN(const bool more, stmt.Step());
    if (!more) break;
    if (stmt.ColumnUint64(0) != bytes.size()) {
      return absl::DataLossError(absl::StrCat("partial upload ", id,
                                              " has a gap at ", bytes.size()));
    }
    bytes += stmt.ColumnBlob(1);
  }
  if (bytes.size() != static_cast<uint64_t>(committed)) {
    return absl::DataLossError(absl::StrCat("partial upload ", id, " holds ",
                                            bytes.size(), " of ", committed,
                                            " committed bytes"));
  }
  return bytes;
}

absl::Status CoordinatorStore::DeletePartialUpload(
    uint64_t device_id, uint64_t task_id, absl::string_view request_id) {
  ReentrantMutexLock lock(db_->mutex());
  // A read first: most finished uploads kept nothing, and need no write.
  ASSIGN_OR_RETURN(std::optional<PartialUploadRecord> kept,
                   GetPartialUpload(device_id, task_id, request_id));
  if (!kept) return absl::OkStatus();
  return Execute(*db_, "DELETE FROM partial_uploads WHERE id = ?1", kept->id);
}

absl::StatusOr<int64_t> CoordinatorStore::PrunePartialUploads(
    int64_t idle_before_ms) {
  ReentrantMutexLock lock(db_->mutex());
  // Most calls find nothing to do: skip the write transaction then.
  ASSIGN_OR_RETURN(const int64_t kept,
                   QueryInt64(*db_, 0, "SELECT count(*) FROM partial_uploads"));
  if (kept == 0) return 0;
  int64_t pruned = 0;
  RETURN_IF_ERROR(db_->Transaction([&]() -> absl::Status {
    RETURN_IF_ERROR(Execute(
        *db_,
        "DELETE FROM partial_uploads WHERE updated_ms < ?1 OR NOT EXISTS "
        "(SELECT 1 FROM tasks t JOIN rounds r ON r.round = t.round "
        "WHERE t.task_id = partial_uploads.task_id AND r.state = 'open')",
        idle_before_ms));
    pruned = db_->Changes();
    return absl::OkStatus();
  }));
  return pruned;
}

}  // namespace qfleet::cloud
