#include "cloud/store/sqlite_db.h"

#include <cctype>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cloud/store/sqlite_status.h"
#include "common/status_macros.h"

namespace qfleet::cloud {
namespace {

// SQL text for error messages, cut to a readable length.
std::string Abbreviate(absl::string_view sql) {
  constexpr size_t kMax = 80;
  if (sql.size() <= kMax) return std::string(sql);
  return absl::StrCat(sql.substr(0, kMax), "...");
}

bool OnlyWhitespace(const char* text) {
  for (; text != nullptr && *text != '\0'; ++text) {
    if (!std::isspace(static_cast<unsigned char>(*text)) && *text != ';') {
      return false;
    }
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------
// Statement

SqliteDb::Statement::Statement(Statement&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      stmt_(std::exchange(other.stmt_, nullptr)) {}

SqliteDb::Statement& SqliteDb::Statement::operator=(
    Statement&& other) noexcept {
  if (this != &other) {
    Finalize();
    db_ = std::exchange(other.db_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
  }
  return *this;
}

SqliteDb::Statement::~Statement() { Finalize(); }

void SqliteDb::Statement::Finalize() {
  if (stmt_ == nullptr) return;
  ReentrantMutexLock lock(&db_->mu_);
  sqlite3_finalize(stmt_);
  stmt_ = nullptr;
}

absl::Status SqliteDb::Statement::BindInt64(int index, int64_t value) {
  ReentrantMutexLock lock(&db_->mu_);
  return SqliteStatus(sqlite3_bind_int64(stmt_, index, value), db_->db_,
                      absl::StrCat("bind #", index));
}

absl::Status SqliteDb::Statement::BindDouble(int index, double value) {
  ReentrantMutexLock lock(&db_->mu_);
  return SqliteStatus(sqlite3_bind_double(stmt_, index, value), db_->db_,
                      absl::StrCat("bind #", index));
}

absl::Status SqliteDb::Statement::BindText(int index, absl::string_view value) {
  ReentrantMutexLock lock(&db_->mu_);
  return SqliteStatus(
      sqlite3_bind_text64(stmt_, index, value.data(), value.size(),
                          SQLITE_TRANSIENT, SQLITE_UTF8),
      db_->db_, absl::StrCat("bind #", index));
}

absl::Status SqliteDb::Statement::BindBlob(int index, absl::string_view value) {
  ReentrantMutexLock lock(&db_->mu_);
  // A null data pointer would bind NULL; an empty blob must stay a blob.
  static const char kEmpty = 0;
  const char* data = value.empty() ? &kEmpty : value.data();
  return SqliteStatus(
      sqlite3_bind_blob64(stmt_, index, data, value.size(), SQLITE_TRANSIENT),
      db_->db_, absl::StrCat("bind #", index));
}

absl::Status SqliteDb::Statement::BindNull(int index) {
  ReentrantMutexLock lock(&db_->mu_);
  return SqliteStatus(sqlite3_bind_null(stmt_, index), db_->db_,
                      absl::StrCat("bind #", index));
}

absl::StatusOr<bool> SqliteDb::Statement::Step() {
  ReentrantMutexLock lock(&db_->mu_);
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteStatus(
      rc, db_->db_,
      absl::StrCat("step '", Abbreviate(sqlite3_sql(stmt_)), "'"));
}

int64_t SqliteDb::Statement::ColumnInt64(int col) const {
  ReentrantMutexLock lock(&db_->mu_);
  return sqlite3_column_int64(stmt_, col);
}

uint64_t SqliteDb::Statement::ColumnUint64(int col) const {
  return static_cast<uint64_t>(ColumnInt64(col));
}

double SqliteDb::Statement::ColumnDouble(int col) const {
  ReentrantMutexLock lock(&db_->mu_);
  return sqlite3_column_double(stmt_, col);
}

std::string SqliteDb::Statement::ColumnText(int col) const {
  ReentrantMutexLock lock(&db_->mu_);
  const unsigned char* text = sqlite3_column_text(stmt_, col);
  const int size = sqlite3_column_bytes(stmt_, col);
  if (text == nullptr) return std::string();
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(size));
}

std::string SqliteDb::Statement::ColumnBlob(int col) const {
  ReentrantMutexLock lock(&db_->mu_);
  const void* data = sqlite3_column_blob(stmt_, col);
  const int size = sqlite3_column_bytes(stmt_, col);
  if (data == nullptr) return std::string();
  return std::string(static_cast<const char*>(data), static_cast<size_t>(size));
}

bool SqliteDb::Statement::ColumnIsNull(int col) const {
  ReentrantMutexLock lock(&db_->mu_);
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

absl::Status SqliteDb::Statement::Reset() {
  ReentrantMutexLock lock(&db_->mu_);
  // sqlite3_reset repeats the last step's error; the statement is rewound
  // regardless, which is all Reset promises.
  sqlite3_reset(stmt_);
  return SqliteStatus(sqlite3_clear_bindings(stmt_), db_->db_, "reset");
}

// ---------------------------------------------------------------------------
// SqliteDb

absl::StatusOr<std::unique_ptr<SqliteDb>> SqliteDb::Open(
    const std::string& path, const SqliteOptions& options) {
  const std::string context = absl::StrCat("opening sqlite db '", path, "'");
  if (path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(context, ": empty path"));
  }
  sqlite3* raw = nullptr;
  const int flags =
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  // The handle is owned (and closed) by `db` even when opening failed.
  std::unique_ptr<SqliteDb> db(new SqliteDb(raw, path));
  if (rc != SQLITE_OK) {
    if (raw == nullptr) {
      return absl::ResourceExhaustedError(
          absl::StrCat(context, ": out of memory"));
    }
    absl::Status status = SqliteStatus(rc, raw, context);
    std::error_code ec;
    const std::filesystem::path parent =
        std::filesystem::path(path).parent_path();
    if ((rc & 0xff) == SQLITE_CANTOPEN && !parent.empty() &&
        !std::filesystem::exists(parent, ec)) {
      return absl::NotFoundError(absl::StrCat(
          context, ": directory '", parent.string(), "' does not exist"));
    }
    return status;
  }
  sqlite3_extended_result_codes(raw, 1);
  absl::Status status = db->Configure(options);
  if (status.ok() && path != ":memory:" && options.checkpoint_interval_ms > 0) {
    status = db->StartCheckpointer(options.checkpoint_interval_ms);
  }
  if (!status.ok()) {
    return absl::Status(status.code(),
                        absl::StrCat(context, ": ", status.message()));
  }
  return db;
}

absl::Status SqliteDb::StartCheckpointer(int64_t interval_ms) {
  const int rc = sqlite3_open_v2(path_.c_str(), &checkpoint_db_,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    return SqliteStatus(rc, checkpoint_db_, "opening the checkpoint connection");
  }
  sqlite3_busy_timeout(checkpoint_db_, 1000);
  // A connection learns that the file is in WAL mode (and opens the log)
  // on its first read; until then a checkpoint call does nothing.
  RETURN_IF_ERROR(SqliteStatus(
      sqlite3_exec(checkpoint_db_, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr),
      checkpoint_db_, "first read of the checkpoint connection"));
  {
    ReentrantMutexLock lock(&mu_);
    // From now on only the checkpointer (and the last close) checkpoints.
    RETURN_IF_ERROR(SqliteStatus(sqlite3_wal_autocheckpoint(db_, 0), db_, "wal_autocheckpoint"));
  }
  stop_checkpoints_ = std::make_unique<absl::Notification>();
  checkpointer_ = std::thread([this, interval_ms] {
    while (!stop_checkpoints_->WaitForNotificationWithTimeout(absl::Milliseconds(interval_ms))) {
      // PASSIVE copies what no reader still needs and never waits for the
      // writer; a busy or failed attempt is retried next period (the log
      // stays the durable copy until then).
      sqlite3_wal_checkpoint_v2(checkpoint_db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                nullptr);
    }
  });
  return absl::OkStatus();
}

absl::Status SqliteDb::Configure(const SqliteOptions& options) {
  ReentrantMutexLock lock(&mu_);
  RETURN_IF_ERROR(SqliteStatus(
      sqlite3_busy_timeout(db_, options.busy_timeout_ms), db_, "busy_timeout"));
  // Check before anything writes to the file: a corrupt database must be
  // reported, not modified.
  RETURN_IF_ERROR(QuickCheck());
  RETURN_IF_ERROR(ExecLocked("PRAGMA foreign_keys=ON"));
  RETURN_IF_ERROR(ExecLocked("PRAGMA journal_mode=WAL"));
  return ExecLocked(options.durable ? "PRAGMA synchronous=FULL"
                                    : "PRAGMA synchronous=NORMAL");
}

absl::Status SqliteDb::QuickCheck() {
  ASSIGN_OR_RETURN(Statement check, Prepare("PRAGMA quick_check(8)"));
  std::vector<std::string> problems;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, check.Step());
    if (!row) break;
    std::string line = check.ColumnText(0);
    if (line != "ok") problems.push_back(std::move(line));
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat(
      "database failed PRAGMA quick_check: ", absl::StrJoin(problems, "; ")));
}

SqliteDb::~SqliteDb() {
  if (checkpointer_.joinable()) {
    stop_checkpoints_->Notify();
    checkpointer_.join();
  }
  if (checkpoint_db_ != nullptr) sqlite3_close_v2(checkpoint_db_);
  // Statements must already be gone (see class comment); close_v2 would
  // otherwise defer the close until they are finalized. Closing the last
  // connection checkpoints the log into the database.
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

absl::Status SqliteDb::Exec(absl::string_view sql) {
  ReentrantMutexLock lock(&mu_);
  return ExecLocked(sql);
}

absl::Status SqliteDb::ExecLocked(absl::string_view sql) {
  const std::string text(sql);  // sqlite3_exec needs a terminator.
  char* error = nullptr;
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &error);
  if (rc == SQLITE_OK) return absl::OkStatus();
  std::string message = error != nullptr ? error : sqlite3_errstr(rc);
  sqlite3_free(error);
  return absl::Status(SqliteCodeToStatusCode(rc),
                      absl::StrCat("exec '", Abbreviate(sql), "': ", message,
                                   " (sqlite ", rc, ")"));
}

absl::StatusOr<SqliteDb::Statement> SqliteDb::Prepare(absl::string_view sql) {
  if (sql.empty()) return absl::InvalidArgumentError("prepare: empty SQL");
  ReentrantMutexLock lock(&mu_);
  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  const int rc = sqlite3_prepare_v2(db_, sql.data(),
                                    static_cast<int>(sql.size()), &stmt, &tail);
  if (rc != SQLITE_OK) {
    return SqliteStatus(rc, db_,
                        absl::StrCat("prepare '", Abbreviate(sql), "'"));
  }
  Statement statement(this, stmt);
  if (stmt == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("prepare '", Abbreviate(sql), "': no statement"));
  }
  const char* end = sql.data() + sql.size();
  if (tail != nullptr && tail < end &&
      !OnlyWhitespace(std::string(tail, end).c_str())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prepare '", Abbreviate(sql), "': more than one statement"));
  }
  return statement;
}

absl::Status SqliteDb::Transaction(const std::function<absl::Status()>& body) {
  ReentrantMutexLock lock(&mu_);
  const int depth = tx_depth_;
  const std::string savepoint = absl::StrCat("qfleet_sp_", depth);
  // If SQLite rolled the outer transaction back on its own (SQLITE_FULL,
  // IOERR...), a SAVEPOINT would silently start a new top-level one.
  if (depth > 0 && sqlite3_get_autocommit(db_)) {
    return absl::AbortedError("enclosing transaction was rolled back");
  }
  RETURN_IF_ERROR(ExecLocked(depth == 0 ? std::string("BEGIN IMMEDIATE")
                                        : "SAVEPOINT " + savepoint));
  ++tx_depth_;
  absl::Status status;
  try {
    status = body();
  } catch (...) {
    --tx_depth_;
    RollbackLocked(depth, savepoint);
    throw;
  }
  --tx_depth_;
  if (status.ok() && sqlite3_get_autocommit(db_)) {
    status = absl::AbortedError("transaction was rolled back by sqlite");
  }
  if (status.ok()) {
    status =
        ExecLocked(depth == 0 ? std::string("COMMIT") : "RELEASE " + savepoint);
  }
  if (!status.ok()) RollbackLocked(depth, savepoint);
  return status;
}

void SqliteDb::RollbackLocked(int depth, const std::string& savepoint) {
  if (sqlite3_get_autocommit(db_)) return;  // Nothing left to undo.
  // Rollback failures leave nothing better to do; the caller already has
  // the error that caused the rollback.
  if (depth == 0) {
    ExecLocked("ROLLBACK").IgnoreError();
  } else {
    ExecLocked(absl::StrCat("ROLLBACK TO ", savepoint, "; RELEASE ", savepoint))
        .IgnoreError();
  }
}

absl::Status SqliteDb::WithLock(const std::function<absl::Status()>& body) {
  ReentrantMutexLock lock(&mu_);
  return body();
}

int64_t SqliteDb::LastInsertRowId() {
  ReentrantMutexLock lock(&mu_);
  return sqlite3_last_insert_rowid(db_);
}

int64_t SqliteDb::Changes() {
  ReentrantMutexLock lock(&mu_);
  return sqlite3_changes64(db_);
}

bool SqliteDb::InTransaction() {
  if (!mu_.HeldByCurrentThread()) return false;
  return tx_depth_ > 0;
}

}  // namespace qfleet::cloud
