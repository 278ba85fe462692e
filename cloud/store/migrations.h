#ifndef QFLEET_CLOUD_STORE_MIGRATIONS_H_
#define QFLEET_CLOUD_STORE_MIGRATIONS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cloud/store/sqlite_db.h"

namespace qfleet::cloud {

// One step of a versioned schema. A list of migrations is numbered 1..N in
// order; applied versions are recorded in
// schema_migrations(version INTEGER PRIMARY KEY, applied_ms INTEGER).
// Migrations are never edited once released: a change is a new migration.
struct Migration {
  int version = 0;
  absl::string_view description;
  absl::string_view sql;  // One or more ';'-separated statements.
};

// The coordinator schema, oldest first (v1: devices, model_versions,
// campaigns, rounds, plans, tasks, participants, updates, reports).
// Thread-safe; the list lives for the whole program.
const std::vector<Migration>& CoordinatorMigrations();

// Highest version recorded in schema_migrations; 0 for a database without
// that table. Errors map per SqliteCodeToStatusCode. Thread-safe.
absl::StatusOr<int> ReadSchemaVersion(SqliteDb& db);

// Brings `db` up to the last of `migrations`, applying each missing one in
// its own transaction (all of its SQL and its schema_migrations row, or
// nothing) and recording `now_ms`. Returns the resulting version.
// FailedPrecondition when the database is newer than the list,
// InvalidArgument when the list is not numbered 1..N; a failing migration
// returns its error prefixed with its version. Thread-safe.
absl::StatusOr<int> ApplyMigrations(SqliteDb& db,
                                    const std::vector<Migration>& migrations,
                                    int64_t now_ms);

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_STORE_MIGRATIONS_H_
