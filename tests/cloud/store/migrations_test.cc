#include "cloud/store/migrations.h"

#include <memory>
#include <string>
#include <vector>

#include "cloud/store/coordinator_store.h"
#include "cloud/store/sqlite_db.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store_test_util.h"

namespace qfleet::cloud {
namespace {

using ::qfleet::cloud::testing::IsOkAndHolds;
using ::qfleet::cloud::testing::TempDir;
using ::testing::HasSubstr;

constexpr int64_t kNow = 1700000000000;

// Two test migrations; neither is idempotent, so running one twice fails.
const Migration kFirst{1, "create a", "CREATE TABLE a (x INTEGER)"};
const Migration kSecond{2, "create b",
                        "CREATE TABLE b (y); CREATE INDEX b_y ON b (y)"};

absl::StatusOr<int64_t> Count(SqliteDb& db, const std::string& sql) {
  ASSIGN_OR_RETURN(SqliteDb::Statement stmt, db.Prepare(sql));
  ASSIGN_OR_RETURN(const bool row, stmt.Step());
  return row ? stmt.ColumnInt64(0) : -1;
}

bool HasTable(SqliteDb& db, const std::string& name) {
  absl::StatusOr<int64_t> n = Count(
      db, "SELECT count(*) FROM sqlite_master WHERE name = '" + name + "'");
  return n.ok() && *n == 1;
}

std::unique_ptr<SqliteDb> OpenMemory() {
  absl::StatusOr<std::unique_ptr<SqliteDb>> db = SqliteDb::Open(":memory:");
  EXPECT_THAT(db, IsOk());
  return db.ok() ? std::move(db).value() : nullptr;
}

TEST(MigrationsTest, FreshDatabaseIsVersionZero) {
  auto db = OpenMemory();
  ASSERT_NE(db, nullptr);
  EXPECT_THAT(ReadSchemaVersion(*db), IsOkAndHolds(0));
}

TEST(MigrationsTest, CoordinatorSchemaCreatesEveryTableAndIndex) {
  auto db = OpenMemory();
  ASSERT_NE(db, nullptr);
  const int latest = static_cast<int>(CoordinatorMigrations().size());
  ASSERT_THAT(ApplyMigrations(*db, CoordinatorMigrations(), kNow),
              IsOkAndHolds(latest));
  EXPECT_THAT(ReadSchemaVersion(*db), IsOkAndHolds(latest));
  for (const char* table :
       {"schema_migrations", "kv", "devices", "campaigns", "rounds", "participants",
        "tasks", "plans", "updates", "reports", "model_versions", "join_tokens",
        "tasks_by_device", "campaigns_by_state"}) {
    EXPECT_TRUE(HasTable(*db, table)) << table;
  }
  EXPECT_THAT(Count(*db,
                    "SELECT applied_ms FROM schema_migrations "
                    "WHERE version = 1"),
              IsOkAndHolds(kNow));
}

TEST(MigrationsTest, ApplyingTwiceChangesNothing) {
  auto db = OpenMemory();
  ASSERT_NE(db, nullptr);
  ASSERT_THAT(ApplyMigrations(*db, {kFirst, kSecond}, kNow), IsOkAndHolds(2));
  ASSERT_THAT(ApplyMigrations(*db, {kFirst, kSecond}, kNow + 1),
              IsOkAndHolds(2));
  EXPECT_THAT(Count(*db, "SELECT count(*) FROM schema_migrations"),
              IsOkAndHolds(2));
  EXPECT_THAT(Count(*db, "SELECT max(applied_ms) FROM schema_migrations"),
              IsOkAndHolds(kNow));
}

TEST(MigrationsTest, AppliesOnlyTheMissingOnes) {
  auto db = OpenMemory();
  ASSERT_NE(db, nullptr);
  ASSERT_THAT(ApplyMigrations(*db, {kFirst}, kNow), IsOkAndHolds(1));
  EXPECT_FALSE(HasTable(*db, "b"));
  // Re-running kFirst would fail ("table a already exists").
  ASSERT_THAT(ApplyMigrations(*db, {kFirst, kSecond}, kNow + 5),
              IsOkAndHolds(2));
  EXPECT_TRUE(HasTable(*db, "b"));
  EXPECT_TRUE(HasTable(*db, "b_y"));
  EXPECT_THAT(Count(*db,
                    "SELECT applied_ms FROM schema_migrations "
                    "WHERE version = 2"),
              IsOkAndHolds(kNow + 5));
}

TEST(MigrationsTest, FailingMigrationLeavesNoTrace) {
  auto db = OpenMemory();
  ASSERT_NE(db, nullptr);
  const Migration broken{2, "half broken",
                         "CREATE TABLE b (y); CREATE TABLE oops ("};
  EXPECT_THAT(ApplyMigrations(*db, {kFirst, broken}, kNow),
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("migration 2 (half broken)")));
  EXPECT_THAT(ReadSchemaVersion(*db), IsOkAndHolds(1));
  EXPECT_TRUE(HasTable(*db, "a"));
  EXPECT_FALSE(HasTable(*db, "b"));  // Rolled back with the failure.
}

TEST(MigrationsTest, NewerDatabaseIsFailedPrecondition) {
  auto db = OpenMemory();
  ASSERT_NE(db, nullptr);
  ASSERT_THAT(ApplyMigrations(*db, {kFirst, kSecond}, kNow), IsOkAndHolds(2));
  EXPECT_THAT(ApplyMigrations(*db, {kFirst}, kNow),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("schema version 2")));
}

TEST(MigrationsTest, MisnumberedListIsInvalidArgument) {
  auto db = OpenMemory();
  ASSERT_NE(db, nullptr);
  EXPECT_THAT(ApplyMigrations(*db, {kSecond}, kNow),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ApplyMigrations(*db, {kFirst, kFirst}, kNow),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_FALSE(HasTable(*db, "a"));
}

TEST(MigrationsTest, StoreRefusesDatabaseFromTheFuture) {
  TempDir dir;
  const std::string path = dir.File("future.db");
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteDb> db, SqliteDb::Open(path));
    std::vector<Migration> future = CoordinatorMigrations();
    future.push_back({static_cast<int>(future.size()) + 1, "from the future",
                      "CREATE TABLE future (z)"});
    ASSERT_OK(ApplyMigrations(*db, future, kNow));
  }
  EXPECT_THAT(CoordinatorStore::Open(path),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       ::testing::AllOf(HasSubstr(path), HasSubstr("newer"))));
}

}  // namespace
}  // namespace qfleet::cloud
