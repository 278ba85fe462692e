#ifndef QFLEET_CLOUD_STORE_RECORD_ROWS_H_
#define QFLEET_CLOUD_STORE_RECORD_ROWS_H_

// Row <-> record conversion for the coordinator tables. Each k*Columns list
// gives the column order that BindRow binds (as ?1, ?2, ...) and ReadRow
// reads (as columns 0, 1, ...), so the SQL built from a list always matches
// its conversion functions. Encodings: vectors as JSON arrays, metrics as a
// JSON object (non-finite values as "nan"/"inf"/"-inf"), a 0 foreign key as
// NULL, uint64 as its int64 bit pattern, NaN doubles as NULL. The functions
// are thread-safe; the queries need the connection lock for consistency.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cloud/store/records.h"
#include "cloud/store/sqlite_db.h"
#include "common/status_macros.h"

namespace qfleet::cloud {

inline constexpr absl::string_view kDeviceColumns =
    "id, name, token_hash, compute_gflops, memory_mib, lowbit_support, "
    "uplink_kbps, downlink_kbps, availability, sample_count, label_histogram, "
    "agent_version, state, registered_ms, last_seen_ms, enrolled_by";
inline constexpr absl::string_view kCampaignColumns =
    "id, config_json, first_round, last_round, state, created_ms";
inline constexpr absl::string_view kRoundColumns =
    "round, campaign_id, state, model_version_in, model_version_out, "
    "started_ms, deadline_ms, finished_ms, acc_fp32, acc_q8, bytes_down, "
    "bytes_up, detail, sim_seconds, selector_seconds, acc_served";
inline constexpr absl::string_view kTaskColumns =
    "task_id, round, device_id, strategy, weight_bits, activation_bits, "
    "model_version, train_config_json, plan_id, deadline_ms, created_ms";
inline constexpr absl::string_view kParticipantColumns =
    "round, device_id, status, task_id, detail";
inline constexpr absl::string_view kPlanColumns =
    "plan_id, device_id, version, bytes, created_ms, method, input_sha256, "
    "generator, model_version";
inline constexpr absl::string_view kUpdateColumns =
    "update_id, round, device_id, task_id, request_id, blob_hash, "
    "sample_count, bytes, received_ms";
inline constexpr absl::string_view kReportColumns =
    "round, device_id, task_id, request_id, train_loss, train_accuracy, "
    "compute_seconds, quantize_seconds, bytes_down, bytes_up, steps, "
    "metrics_json, error, created_ms";
inline constexpr absl::string_view kPartialUploadColumns =
    "id, device_id, task_id, request_id, total_bytes, sha256, sample_count, "
    "committed_bytes, updated_ms";
inline constexpr absl::string_view kModelVersionColumns =
    "version, blob_hash, bytes, round, acc_fp32, acc_q8, created_ms, pinned, pruned_ms";

// "INSERT INTO table (columns) VALUES (?1, ..., ?N)".
std::string InsertSql(absl::string_view table, absl::string_view columns);

// "UPDATE table SET c2 = ?2, ... WHERE c1 = ?1": the first column is the
// key, so BindRow's bindings serve both INSERT and UPDATE.
std::string UpdateSql(absl::string_view table, absl::string_view columns);

// "alias.c1, alias.c2, ..." for joins.
std::string Qualify(absl::string_view alias, absl::string_view columns);

// Bind every column of the record in its k*Columns order. A 0 primary key
// binds NULL (SQLite assigns one). InvalidArgument when a value cannot be
// encoded (a metric name that is not UTF-8).
absl::Status BindRow(SqliteDb::Statement& stmt, const DeviceRecord& record);
absl::Status BindRow(SqliteDb::Statement& stmt, const CampaignRecord& record);
absl::Status BindRow(SqliteDb::Statement& stmt, const RoundRecord& record);
absl::Status BindRow(SqliteDb::Statement& stmt, const TaskRecord& record);
absl::Status BindRow(SqliteDb::Statement& stmt,
                     const ParticipantRecord& record);
absl::Status BindRow(SqliteDb::Statement& stmt, const PlanRecord& record);
absl::Status BindRow(SqliteDb::Statement& stmt, const UpdateRecord& record);
absl::Status BindRow(SqliteDb::Statement& stmt, const ReportRecord& record);
absl::Status BindRow(SqliteDb::Statement& stmt,
                     const ModelVersionRecord& record);
absl::Status BindRow(SqliteDb::Statement& stmt,
                     const PartialUploadRecord& record);

// Read the current row (selected with the matching k*Columns) into `out`.
// DataLoss when a stored JSON column does not decode.
absl::Status ReadRow(const SqliteDb::Statement& stmt, DeviceRecord* out);
absl::Status ReadRow(const SqliteDb::Statement& stmt, CampaignRecord* out);
absl::Status ReadRow(const SqliteDb::Statement& stmt, RoundRecord* out);
absl::Status ReadRow(const SqliteDb::Statement& stmt, TaskRecord* out);
absl::Status ReadRow(const SqliteDb::Statement& stmt, ParticipantRecord* out);
absl::Status ReadRow(const SqliteDb::Statement& stmt, PlanRecord* out);
absl::Status ReadRow(const SqliteDb::Statement& stmt, UpdateRecord* out);
absl::Status ReadRow(const SqliteDb::Statement& stmt, ReportRecord* out);
absl::Status ReadRow(const SqliteDb::Statement& stmt, ModelVersionRecord* out);
absl::Status ReadRow(const SqliteDb::Statement& stmt, PartialUploadRecord* out);

// Runs `sql` with `args` bound as ?1..?N and reads every row as a Record.
// Call with the connection lock held for a consistent result.
template <typename Record, typename... Args>
absl::StatusOr<std::vector<Record>> QueryAll(SqliteDb& db,
                                             absl::string_view sql,
                                             const Args&... args) {
  ASSIGN_OR_RETURN(SqliteDb::Statement stmt, db.Prepare(sql));
  RETURN_IF_ERROR(stmt.BindAll(args...));
  std::vector<Record> records;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, stmt.Step());
    if (!row) break;
    Record record;
    RETURN_IF_ERROR(ReadRow(stmt, &record));
    records.push_back(std::move(record));
  }
  return records;
}

// Like QueryAll, but reads only the first row; nullopt when there is none.
template <typename Record, typename... Args>
absl::StatusOr<std::optional<Record>> QueryFirst(SqliteDb& db,
                                                 absl::string_view sql,
                                                 const Args&... args) {
  ASSIGN_OR_RETURN(SqliteDb::Statement stmt, db.Prepare(sql));
  RETURN_IF_ERROR(stmt.BindAll(args...));
  ASSIGN_OR_RETURN(const bool row, stmt.Step());
  if (!row) return std::optional<Record>();
  Record record;
  RETURN_IF_ERROR(ReadRow(stmt, &record));
  return std::optional<Record>(std::move(record));
}

// Runs a statement that returns no rows (INSERT/UPDATE/DELETE) with `args`
// bound as ?1..?N. Errors map per SqliteCodeToStatusCode.
template <typename... Args>
absl::Status Execute(SqliteDb& db, absl::string_view sql, const Args&... args) {
  ASSIGN_OR_RETURN(SqliteDb::Statement stmt, db.Prepare(sql));
  RETURN_IF_ERROR(stmt.BindAll(args...));
  return stmt.Step().status();
}

// Runs `sql` (built from the record's k*Columns) with the record bound.
template <typename Record>
absl::Status ExecuteRow(SqliteDb& db, absl::string_view sql,
                        const Record& record) {
  ASSIGN_OR_RETURN(SqliteDb::Statement stmt, db.Prepare(sql));
  RETURN_IF_ERROR(BindRow(stmt, record));
  return stmt.Step().status();
}

// First column of the first row as int64; `fallback` when there is no row.
template <typename... Args>
absl::StatusOr<int64_t> QueryInt64(SqliteDb& db, int64_t fallback,
                                   absl::string_view sql, const Args&... args) {
  ASSIGN_OR_RETURN(SqliteDb::Statement stmt, db.Prepare(sql));
  RETURN_IF_ERROR(stmt.BindAll(args...));
  ASSIGN_OR_RETURN(const bool row, stmt.Step());
  return row ? stmt.ColumnInt64(0) : fallback;
}

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_STORE_RECORD_ROWS_H_
