#ifndef QFLEET_CLOUD_STORE_SQLITE_DB_H_
#define QFLEET_CLOUD_STORE_SQLITE_DB_H_

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "cloud/store/reentrant_mutex.h"

namespace qfleet::cloud {

// How SqliteDb::Open configures the connection.
struct SqliteOptions {
  // synchronous=FULL (every commit survives power loss) instead of NORMAL
  // (WAL: a crash loses at most the last commits, never corrupts the file).
  bool durable = false;
  // How long a statement waits for another connection's lock, ms.
  int busy_timeout_ms = 5000;
  // WAL checkpoints (copying the log back into the database, with its
  // fsyncs) run every this many ms on a background thread with a connection
  // of its own (PASSIVE: never blocks a writer), instead of inside whichever
  // COMMIT crosses SQLite's automatic threshold while holding the
  // connection lock. 0 = SQLite's automatic checkpoints. Files only.
  int64_t checkpoint_interval_ms = 1000;
};

// One SQLite connection (RAII). All use of the connection, including every
// Statement prepared on it, is serialized by a reentrant mutex; Transaction
// and WithLock hold it for the whole body, so the calling thread may nest
// them and call any other method inside while other threads wait. Statements
// must not outlive their SqliteDb.
class SqliteDb {
 public:
  // A prepared statement (RAII, move-only). Each call locks the owning
  // connection; a multi-step read is consistent only inside Transaction or
  // WithLock. Bind indexes are 1-based, column indexes 0-based. A Statement
  // object itself must not be used by two threads at once.
  class Statement {
   public:
    // Marks a value to bind as a BLOB rather than TEXT in BindAll.
    struct Blob {
      absl::string_view bytes;
    };

    Statement(Statement&& other) noexcept;
    Statement& operator=(Statement&& other) noexcept;
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;
    ~Statement();

    // Bind one parameter. OutOfRange for a bad index, InvalidArgument for a
    // value SQLite cannot hold. Text and blob bytes are copied. A NaN double
    // is stored as NULL (SQLite has no NaN).
    absl::Status BindInt64(int index, int64_t value);
    absl::Status BindDouble(int index, double value);
    absl::Status BindText(int index, absl::string_view value);
    absl::Status BindBlob(int index, absl::string_view value);
    absl::Status BindNull(int index);

    // Binds args to parameters 1..N by type: integers (uint64 reinterpreted
    // as int64, exact round trip via ColumnUint64), floating point, strings
    // as TEXT, Blob, nullptr and std::optional (nullopt -> NULL). Stops at
    // the first failure.
    template <typename... Args>
    absl::Status BindAll(const Args&... args) {
      [[maybe_unused]] int index = 0;
      absl::Status status;
      ((status.ok() ? (status = BindOne(++index, args), 0) : 0), ...);
      return status;
    }

    // Advances: true when a row is available, false when done. Errors map
    // per SqliteCodeToStatusCode (constraint violations surface here).
    absl::StatusOr<bool> Step();

    // Read column `col` of the current row; NULL reads as 0 / "".
    int64_t ColumnInt64(int col) const;
    uint64_t ColumnUint64(int col) const;
    double ColumnDouble(int col) const;
    std::string ColumnText(int col) const;
    std::string ColumnBlob(int col) const;
    bool ColumnIsNull(int col) const;

    // Rewinds for another execution and clears all bindings. Thread-safe
    // with respect to the connection.
    absl::Status Reset();

   private:
    friend class SqliteDb;
    template <typename T>
    struct IsOptional : std::false_type {};
    template <typename T>
    struct IsOptional<std::optional<T>> : std::true_type {};

    Statement(SqliteDb* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
    void Finalize();

    template <typename T>
    absl::Status BindOne(int index, const T& value) {
      if constexpr (std::is_same_v<T, std::nullptr_t>) {
        return BindNull(index);
      } else if constexpr (std::is_same_v<T, bool>) {
        return BindInt64(index, value ? 1 : 0);
      } else if constexpr (std::is_integral_v<T>) {
        return BindInt64(index, static_cast<int64_t>(value));
      } else if constexpr (std::is_floating_point_v<T>) {
        return BindDouble(index, static_cast<double>(value));
      } else if constexpr (std::is_same_v<T, Blob>) {
        return BindBlob(index, value.bytes);
      } else if constexpr (IsOptional<T>::value) {
        return value.has_value() ? BindOne(index, *value) : BindNull(index);
      } else {
        return BindText(index, absl::string_view(value));
      }
    }
    SqliteDb* db_ = nullptr;
    sqlite3_stmt* stmt_ = nullptr;
  };

  // Opens (creating if absent) the database at `path`; ":memory:" gives a
  // private in-memory database. Sets busy_timeout, foreign_keys=ON,
  // journal_mode=WAL and synchronous=NORMAL (FULL when durable), after a
  // PRAGMA quick_check, and starts the background checkpointer for a file
  // (SqliteOptions). Fails with DataLoss naming the path if the file is
  // not a database or is corrupt, NotFound if its directory does not exist,
  // Unavailable if it cannot be opened or is locked. Thread-safe.
  static absl::StatusOr<std::unique_ptr<SqliteDb>> Open(
      const std::string& path, const SqliteOptions& options = {});

  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  // Runs one or more ';'-separated statements, discarding any rows. Errors
  // map per SqliteCodeToStatusCode. Thread-safe.
  absl::Status Exec(absl::string_view sql);

  // Compiles exactly one statement. Internal for SQL errors (a bug in the
  // caller's SQL), InvalidArgument for empty or multi-statement text.
  // Thread-safe; the Statement must be destroyed before this SqliteDb.
  absl::StatusOr<Statement> Prepare(absl::string_view sql);

  // Runs `body` atomically: BEGIN IMMEDIATE ... COMMIT at the outermost
  // level, SAVEPOINT ... RELEASE when nested (same thread). A non-OK body,
  // a thrown exception or a failed COMMIT rolls back (to the savepoint when
  // nested) and is returned/rethrown. Unavailable when the write lock stays
  // busy past busy_timeout. Holds the connection lock throughout: body must
  // not wait on other threads that use this SqliteDb. Thread-safe.
  absl::Status Transaction(const std::function<absl::Status()>& body);

  // Runs `body` holding the connection lock, without a transaction, so a
  // sequence of reads (or an insert and LastInsertRowId) is not interleaved
  // with other threads. Returns body's status. Thread-safe.
  absl::Status WithLock(const std::function<absl::Status()>& body);

  // The connection lock, for callers that hold it across several calls
  // (ReentrantMutexLock lock(db.mutex());). Same rules as WithLock.
  ReentrantMutex* mutex() const { return &mu_; }

  // Rowid of the last successful INSERT and rows changed by the last
  // statement on this connection. Meaningful only while the caller holds
  // the lock (inside Transaction or WithLock). Thread-safe.
  int64_t LastInsertRowId();
  int64_t Changes();

  // True when the calling thread is inside Transaction. Thread-safe.
  bool InTransaction();

  // The path given to Open. Thread-safe.
  const std::string& path() const { return path_; }

 private:
  SqliteDb(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  absl::Status Configure(const SqliteOptions& options);
  // Starts checkpointer_ (see SqliteOptions::checkpoint_interval_ms).
  absl::Status StartCheckpointer(int64_t interval_ms);
  absl::Status QuickCheck();
  absl::Status ExecLocked(absl::string_view sql);
  void RollbackLocked(int depth, const std::string& savepoint);

  mutable ReentrantMutex mu_;
  sqlite3* const db_;
  const std::string path_;
  int tx_depth_ = 0;  // Guarded by mu_.
  // The background checkpointer's own connection and thread (none for
  // ":memory:" or with checkpoint_interval_ms = 0).
  sqlite3* checkpoint_db_ = nullptr;
  std::unique_ptr<absl::Notification> stop_checkpoints_;
  std::thread checkpointer_;
};

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_STORE_SQLITE_DB_H_
