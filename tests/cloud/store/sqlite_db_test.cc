#include "cloud/store/sqlite_db.h"

#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cloud/store/sqlite_status.h"
#include "common/status_macros.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store_test_util.h"

namespace qfleet::cloud {
namespace {

using ::qfleet::cloud::testing::IsOkAndHolds;
using ::qfleet::cloud::testing::TempDir;
using ::testing::HasSubstr;

std::unique_ptr<SqliteDb> OpenMemory() {
  absl::StatusOr<std::unique_ptr<SqliteDb>> db = SqliteDb::Open(":memory:");
  EXPECT_THAT(db, IsOk());
  return db.ok() ? std::move(db).value() : nullptr;
}

absl::StatusOr<int64_t> QueryInt(SqliteDb& db, const std::string& sql) {
  ASSIGN_OR_RETURN(SqliteDb::Statement stmt, db.Prepare(sql));
  ASSIGN_OR_RETURN(const bool row, stmt.Step());
  if (!row) return absl::NotFoundError("no row");
  return stmt.ColumnInt64(0);
}

absl::StatusOr<std::string> QueryText(SqliteDb& db, const std::string& sql) {
  ASSIGN_OR_RETURN(SqliteDb::Statement stmt, db.Prepare(sql));
  ASSIGN_OR_RETURN(const bool row, stmt.Step());
  if (!row) return absl::NotFoundError("no row");
  return stmt.ColumnText(0);
}

// Writes a valid database of ~50 pages at `path` and closes it.
void WriteSampleDatabase(const std::string& path) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteDb> db, SqliteDb::Open(path));
  ASSERT_OK(db->Exec("CREATE TABLE t (x); CREATE TABLE u (y INTEGER)"));
  ASSERT_OK(db->Transaction([&]() -> absl::Status {
    for (int i = 0; i < 200; ++i) {
      ASSIGN_OR_RETURN(SqliteDb::Statement insert,
                       db->Prepare("INSERT INTO t VALUES (?1)"));
      RETURN_IF_ERROR(insert.BindAll(
          SqliteDb::Statement::Blob{std::string(1000, static_cast<char>(i))}));
      RETURN_IF_ERROR(insert.Step().status());
      RETURN_IF_ERROR(db->Exec("INSERT INTO u VALUES (1)"));
    }
    return absl::OkStatus();
  }));
}

// --- values -----------------------------------------------------------------

TEST(SqliteDbTest, BindAndColumnRoundTripEveryType) {
  auto db = OpenMemory();
  ASSERT_NE(db, nullptr);
  ASSERT_OK(
      db->Exec("CREATE TABLE v (i INTEGER, u INTEGER, d, t TEXT, "
               "b BLOB, e BLOB, n)"));
  const std::string blob("a\0b\xff", 4);
  const std::string text = "h\xc3\xa9llo";  // UTF-8 "héllo"
  {
    ASSERT_OK_AND_ASSIGN(SqliteDb::Statement insert,
                         db->Prepare("INSERT INTO v VALUES (?,?,?,?,?,?,?)"));
    ASSERT_OK(insert.BindAll(std::numeric_limits<int64_t>::min(),
                             std::numeric_limits<uint64_t>::max(), 0.1, text,
                             SqliteDb::Statement::Blob{blob},
                             SqliteDb::Statement::Blob{""}, nullptr));
    ASSERT_OK_AND_ASSIGN(const bool row, insert.Step());
    EXPECT_FALSE(row);
  }
  ASSERT_OK_AND_ASSIGN(SqliteDb::Statement select,
                       db->Prepare("SELECT i, u, d, t, b, e, n, typeof(e) "
                                   "FROM v"));
  ASSERT_OK_AND_ASSIGN(const bool row, select.Step());
  ASSERT_TRUE(row);
  EXPECT_EQ(select.ColumnInt64(0), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(select.ColumnUint64(1), std::numeric_limits<uint64_t>::max());
  EXPECT_SAME_DOUBLE(select.ColumnDouble(2), 0.1);
  EXPECT_EQ(select.ColumnText(3), text);
  EXPECT_EQ(select.ColumnBlob(4), blob);
  EXPECT_EQ(select.ColumnBlob(5), "");
  EXPECT_TRUE(select.ColumnIsNull(6));
  EXPECT_FALSE(select.ColumnIsNull(5));
  EXPECT_EQ(select.ColumnText(7), "blob");  // Empty blob is not NULL.
  ASSERT_OK_AND_ASSIGN(const bool more, select.Step());
  EXPECT_FALSE(more);
}

TEST(SqliteDbTest, UntypedColumnKeepsDoublesBitExact) {
  auto db = OpenMemory();
  ASSERT_NE(db, nullptr);
  ASSERT_OK(db->Exec("CREATE TABLE f (k INTEGER, d)"));
  const std::vector<double> values = {-0.0,
                                      0.0,
                                      3.0,
                                      0.1,
                                      1e-310 /* subnormal */,
                                      std::numeric_limits<double>::max(),
                                      std::numeric_limits<double>::infinity(),
                                      -std::numeric_limits<double>::infinity()};
  for (size_t i = 0; i < values.size(); ++i) {
    ASSERT_OK_AND_ASSIGN(SqliteDb::Statement insert,
                         db->Prepare("INSERT INTO f VALUES (?1, ?2)"));
    ASSERT_OK(insert.BindAll(i, values[i]));
    ASSERT_OK(insert.Step().status());
  }
  ASSERT_OK_AND_ASSIGN(SqliteDb::Statement select,
                       db->Prepare("SELECT d FROM f ORDER BY k"));
  for (double expected : values) {
    ASSERT_OK_AND_ASSIGN(const bool row, select.Step());
    ASSERT_TRUE(row);
    EXPECT_SAME_DOUBLE(select.ColumnDouble(0), expected);
  }
}

TEST(SqliteDbTest, NanIsStoredAsNull) {
  auto db = OpenMemory();
  ASSERT_NE(db, nullptr);
  ASSERT_OK(db->Exec("CREATE TABLE f (d)"));
  ASSERT_OK_AND_ASSIGN(SqliteDb::Statement insert,
                       db->Prepare("INSERT INTO f VALUES (?1)"));
  ASSERT_OK(insert.BindAll(std::nan("")));
  ASSERT_OK(insert.Step().status());
  EXPECT_THAT(QueryInt(*db, "SELECT d IS NULL FROM f"), IsOkAndHolds(1));
}

TEST(SqliteDbTest, ResetClearsBindingsAndRewinds) {
  auto db = OpenMemory();
  ASSERT_NE(db, nullptr);
  ASSERT_OK_AND_ASSIGN(SqliteDb::Statement stmt, db->Prepare("SELECT ?1"));
  ASSERT_OK(stmt.BindInt64(1, 7));
  ASSERT_OK_AND_ASSIGN(bool row, stmt.Step());
  ASSERT_TRUE(row);
  EXPECT_EQ(stmt.ColumnInt64(0), 7);
  ASSERT_OK(stmt.Reset());
  ASSERT_OK_AND_ASSIGN(row, stmt.Step());
  ASSERT_TRUE(row);
  EXPECT_TRUE(stmt.ColumnIsNull(0));
}

// --- open and pragmas
// ---------------------------------------------------------

TEST(SqliteDbTest, OpenConfiguresConnection) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteDb> db,
                       SqliteDb::Open(dir.File("a.db")));
  EXPECT_THAT(QueryText(*db, "PRAGMA journal_mode"),
              IsOkAndHolds(std::string("wal")));
  EXPECT_THAT(QueryInt(*db, "PRAGMA foreign_keys"), IsOkAndHolds(1));
  EXPECT_THAT(QueryInt(*db, "PRAGMA synchronous"), IsOkAndHolds(1));  // NORMAL
  EXPECT_THAT(QueryInt(*db, "PRAGMA busy_timeout"), IsOkAndHolds(5000));

  SqliteOptions durable;
  durable.durable = true;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteDb> full,
                       SqliteDb::Open(dir.File("b.db"), durable));
  EXPECT_THAT(QueryInt(*full, "PRAGMA synchronous"), IsOkAndHolds(2));  // FULL
}

// The main connection never checkpoints; the background thread copies the
// log into the database file within its period.
TEST(SqliteDbTest, BackgroundThreadCheckpointsTheLog) {
  TempDir dir;
  const std::string path = dir.File("ckpt.db");
  SqliteOptions o;
  o.checkpoint_interval_ms = 20;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteDb> db, SqliteDb::Open(path, o));
  EXPECT_THAT(QueryInt(*db, "PRAGMA wal_autocheckpoint"), IsOkAndHolds(0));
  const auto before = std::filesystem::file_size(path);
  // About 1 MB in the log: below SQLite's own threshold (1,000 pages).
  ASSERT_OK(db->Exec("CREATE TABLE t (x BLOB)"));
  ASSERT_OK(db->Transaction([&]() -> absl::Status {
    for (int i = 0; i < 250; ++i) {
      RETURN_IF_ERROR(db->Exec("INSERT INTO t VALUES (zeroblob(4000))"));
    }
    return absl::OkStatus();
  }));
  bool copied = false;
  for (int i = 0; i < 200 && !copied; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    copied = std::filesystem::file_size(path) > before + 900'000;
  }
  EXPECT_TRUE(copied) << "database file still " << std::filesystem::file_size(path) << " bytes";
  EXPECT_THAT(QueryInt(*db, "SELECT count(*) FROM t"), IsOkAndHolds(250));
}

TEST(SqliteDbTest, ZeroIntervalLeavesCheckpointsToSqlite) {
  TempDir dir;
  SqliteOptions o;
  o.checkpoint_interval_ms = 0;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteDb> db, SqliteDb::Open(dir.File("auto.db"), o));
  EXPECT_THAT(QueryInt(*db, "PRAGMA wal_autocheckpoint"), IsOkAndHolds(1000));
}

TEST(SqliteDbTest, FileDatabaseSurvivesReopen) {
  TempDir dir;
  const std::string path = dir.File("persist.db");
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteDb> db, SqliteDb::Open(path));
    ASSERT_OK(db->Exec("CREATE TABLE t (x); INSERT INTO t VALUES (42)"));
  }
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteDb> db, SqliteDb::Open(path));
  EXPECT_THAT(QueryInt(*db, "SELECT x FROM t"), IsOkAndHolds(42));
}

// --- transactions
// -------------------------------------------------------------

TEST(SqliteDbTest, TransactionCommitsOrRollsBack) {
  auto db = OpenMemory();
  ASSERT_NE(db, nullptr);
  ASSERT_OK(db->Exec("CREATE TABLE t (x)"));
  EXPECT_FALSE(db->InTransaction());
  ASSERT_OK(db->Transaction([&]() -> absl::Status {
    EXPECT_TRUE(db->InTransaction());
    return db->Exec("INSERT INTO t VALUES (1)");
  }));
  EXPECT_FALSE(db->InTransaction());
  const absl::Status failed = db->Transaction([&]() -> absl::Status {
    RETURN_IF_ERROR(db->Exec("INSERT INTO t VALUES (2)"));
    return absl::AbortedError("body failed");
  });
  EXPECT_THAT(failed, StatusIs(absl::StatusCode::kAborted, "body failed"));
  EXPECT_THAT(QueryInt(*db, "SELECT group_concat(x) = '1' FROM t"),
              IsOkAndHolds(1));
}

TEST(SqliteDbTest, NestedTransactionFailureRollsBackOnlyItsSavepoint) {
  auto db = OpenMemory();
  ASSERT_NE(db, nullptr);
  ASSERT_OK(db->Exec("CREATE TABLE t (x)"));
  ASSERT_OK(db->Transaction([&]() -> absl::Status {
    RETURN_IF_ERROR(db->Exec("INSERT INTO t VALUES (1)"));
    const absl::Status inner = db->Transaction([&]() -> absl::Status {
      RETURN_IF_ERROR(db->Exec("INSERT INTO t VALUES (2)"));
      return absl::InternalError("inner failed");
    });
    EXPECT_THAT(inner, StatusIs(absl::StatusCode::kInternal));
    RETURN_IF_ERROR(db->Transaction(
        [&]() { return db->Exec("INSERT INTO t VALUES (3)"); }));
    return absl::OkStatus();
  }));
  EXPECT_THAT(QueryText(*db, "SELECT group_concat(x) FROM t"),
              IsOkAndHolds(std::string("1,3")));
}

TEST(SqliteDbTest, OuterFailureRollsBackCommittedSavepoints) {
  auto db = OpenMemory();
  ASSERT_NE(db, nullptr);
  ASSERT_OK(db->Exec("CREATE TABLE t (x)"));
  const absl::Status status = db->Transaction([&]() -> absl::Status {
    RETURN_IF_ERROR(db->Transaction(
        [&]() { return db->Exec("INSERT INTO t VALUES (1)"); }));
    return absl::UnavailableError("later step failed");
  });
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(QueryInt(*db, "SELECT count(*) FROM t"), IsOkAndHolds(0));
}

TEST(SqliteDbTest, ExceptionInBodyRollsBackAndPropagates) {
  auto db = OpenMemory();
  ASSERT_NE(db, nullptr);
  ASSERT_OK(db->Exec("CREATE TABLE t (x)"));
  EXPECT_THROW(db->Transaction([&]() -> absl::Status {
                   db->Exec("INSERT INTO t VALUES (1)").IgnoreError();
                   throw std::runtime_error("boom");
                 }).IgnoreError(),
               std::runtime_error);
  EXPECT_FALSE(db->InTransaction());
  EXPECT_THAT(QueryInt(*db, "SELECT count(*) FROM t"), IsOkAndHolds(0));
  // The connection is usable afterwards.
  EXPECT_OK(
      db->Transaction([&]() { return db->Exec("INSERT INTO t VALUES (2)"); }));
}

TEST(SqliteDbTest, ConcurrentTransactionsAreSerialized) {
  auto db = OpenMemory();
  ASSERT_NE(db, nullptr);
  ASSERT_OK(db->Exec("CREATE TABLE c (n INTEGER); INSERT INTO c VALUES (0)"));
  constexpr int kThreads = 4, kIncrements = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        // Read-modify-write: lost updates would show if bodies interleaved.
        EXPECT_OK(db->Transaction([&]() -> absl::Status {
          ASSIGN_OR_RETURN(const int64_t n, QueryInt(*db, "SELECT n FROM c"));
          ASSIGN_OR_RETURN(SqliteDb::Statement update,
                           db->Prepare("UPDATE c SET n = ?1"));
          RETURN_IF_ERROR(update.BindAll(n + 1));
          return update.Step().status();
        }));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_THAT(QueryInt(*db, "SELECT n FROM c"),
              IsOkAndHolds(kThreads * kIncrements));
}

TEST(SqliteDbTest, WriteLockHeldByAnotherConnectionIsUnavailable) {
  TempDir dir;
  const std::string path = dir.File("locked.db");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteDb> holder, SqliteDb::Open(path));
  ASSERT_OK(holder->Exec("CREATE TABLE t (x)"));
  SqliteOptions impatient;
  impatient.busy_timeout_ms = 1;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteDb> other,
                       SqliteDb::Open(path, impatient));
  ASSERT_OK(holder->Transaction([&]() -> absl::Status {
    RETURN_IF_ERROR(holder->Exec("INSERT INTO t VALUES (1)"));
    EXPECT_THAT(other->Transaction([] { return absl::OkStatus(); }),
                StatusIs(absl::StatusCode::kUnavailable));
    return absl::OkStatus();
  }));
  EXPECT_OK(other->Transaction(
      [&] { return other->Exec("INSERT INTO t VALUES (2)"); }));
}

// --- error mapping
// --------------------------------------------------------------

TEST(SqliteDbTest, ConstraintViolationsMapToSpecificCodes) {
  auto db = OpenMemory();
  ASSERT_NE(db, nullptr);
  ASSERT_OK(db->Exec(
      "CREATE TABLE p (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
      "CREATE TABLE c (p INTEGER REFERENCES p (id));"
      "INSERT INTO p VALUES (1, 'a')"));
  EXPECT_THAT(db->Exec("INSERT INTO p VALUES (2, 'a')"),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("UNIQUE")));
  EXPECT_THAT(db->Exec("INSERT INTO p VALUES (1, 'b')"),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(db->Exec("INSERT INTO p VALUES (3, NULL)"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(db->Exec("INSERT INTO c VALUES (99)"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("FOREIGN KEY")));
  ASSERT_OK_AND_ASSIGN(SqliteDb::Statement insert,
                       db->Prepare("INSERT INTO p VALUES (?1, ?2)"));
  ASSERT_OK(insert.BindAll(5, "a"));
  EXPECT_THAT(insert.Step(), StatusIs(absl::StatusCode::kAlreadyExists));
}

TEST(SqliteDbTest, PrepareRejectsBadSql) {
  auto db = OpenMemory();
  ASSERT_NE(db, nullptr);
  EXPECT_THAT(db->Prepare("SELEKT 1"),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("SELEKT")));
  EXPECT_THAT(db->Prepare("SELECT 1; SELECT 2"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(db->Prepare("  "), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_OK(db->Prepare("SELECT 1;  "));
  EXPECT_THAT(db->Exec("CREATE TABLE"), StatusIs(absl::StatusCode::kInternal));
}

TEST(SqliteDbTest, BindOutOfRangeIsOutOfRange) {
  auto db = OpenMemory();
  ASSERT_NE(db, nullptr);
  ASSERT_OK_AND_ASSIGN(SqliteDb::Statement stmt, db->Prepare("SELECT ?1"));
  EXPECT_THAT(stmt.BindInt64(2, 1), StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(stmt.BindAll(1, 2), StatusIs(absl::StatusCode::kOutOfRange));
}

TEST(SqliteStatusTest, MapsResultCodes) {
  EXPECT_EQ(SqliteCodeToStatusCode(SQLITE_OK), absl::StatusCode::kOk);
  EXPECT_EQ(SqliteCodeToStatusCode(SQLITE_BUSY),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(SqliteCodeToStatusCode(SQLITE_BUSY_SNAPSHOT),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(SqliteCodeToStatusCode(SQLITE_LOCKED),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(SqliteCodeToStatusCode(SQLITE_CORRUPT),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(SqliteCodeToStatusCode(SQLITE_NOTADB), absl::StatusCode::kDataLoss);
  EXPECT_EQ(SqliteCodeToStatusCode(SQLITE_FULL),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(SqliteCodeToStatusCode(SQLITE_CONSTRAINT_UNIQUE),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(SqliteCodeToStatusCode(SQLITE_CONSTRAINT_PRIMARYKEY),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(SqliteCodeToStatusCode(SQLITE_CONSTRAINT_FOREIGNKEY),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(SqliteCodeToStatusCode(SQLITE_CANTOPEN),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(SqliteCodeToStatusCode(SQLITE_READONLY),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(SqliteCodeToStatusCode(SQLITE_ERROR), absl::StatusCode::kInternal);
}

// --- corrupt and missing files
// ------------------------------------------------

TEST(SqliteDbOpenTest, RandomBytesAreDataLossNamingThePath) {
  TempDir dir;
  const std::string path = dir.File("random.db");
  std::string noise(8192, '\0');
  uint32_t x = 12345;
  for (char& c : noise) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>(x >> 24);
  }
  testing::WriteFileBytes(path, noise);
  EXPECT_THAT(SqliteDb::Open(path),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr(path)));
  // Open never writes to a file it rejects.
  EXPECT_EQ(testing::ReadFileBytes(path), noise);
}

TEST(SqliteDbOpenTest, TruncatedDatabaseIsDataLoss) {
  TempDir dir;
  const std::string path = dir.File("truncated.db");
  WriteSampleDatabase(path);
  const std::string bytes = testing::ReadFileBytes(path);
  ASSERT_GT(bytes.size(), 40000u);
  testing::WriteFileBytes(path, bytes.substr(0, bytes.size() / 2));
  EXPECT_THAT(
      SqliteDb::Open(path),
      StatusIs(absl::StatusCode::kDataLoss,
               ::testing::AllOf(HasSubstr(path), HasSubstr("malformed"))));
}

TEST(SqliteDbOpenTest, DamagedHeaderIsDataLoss) {
  TempDir dir;
  const std::string path = dir.File("header.db");
  WriteSampleDatabase(path);
  std::string bytes = testing::ReadFileBytes(path);
  bytes.replace(0, 16, "NOT A DATABASE!!");
  testing::WriteFileBytes(path, bytes.substr(0, bytes.size() / 3));
  EXPECT_THAT(SqliteDb::Open(path),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr(path)));
}

TEST(SqliteDbOpenTest, MissingDirectoryIsNotFound) {
  TempDir dir;
  const std::string path = dir.File("no/such/dir/x.db");
  EXPECT_THAT(SqliteDb::Open(path),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(path)));
}

TEST(SqliteDbOpenTest, EmptyPathIsInvalid) {
  EXPECT_THAT(SqliteDb::Open(""), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace qfleet::cloud
