#include "cloud/store/migrations.h"

#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace qfleet::cloud {
namespace {

// Doubles live in columns declared without a type (BLOB affinity): a REAL
// column would store -0.0 and integral values as integers and lose the
// sign of zero. SQLite has no NaN, so NaN is stored as NULL.
// Unsigned 64-bit values are stored as their int64 bit pattern.
constexpr absl::string_view kSchemaV1 = R"sql(
CREATE TABLE devices (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  name            TEXT NOT NULL UNIQUE,
  token_hash      TEXT NOT NULL,
  compute_gflops,                      -- f64, GFLOP/s
  memory_mib      INTEGER NOT NULL,
  lowbit_support  TEXT NOT NULL,       -- JSON array of uint32, e.g. [8,4]
  uplink_kbps     INTEGER NOT NULL,
  downlink_kbps   INTEGER NOT NULL,
  availability,                        -- f64 in [0, 1]
  sample_count    INTEGER NOT NULL,
  label_histogram TEXT NOT NULL,       -- JSON array of uint64
  agent_version   TEXT NOT NULL,
  state           TEXT NOT NULL,       -- active|offline|drained
  registered_ms   INTEGER NOT NULL,
  last_seen_ms    INTEGER NOT NULL
);

CREATE TABLE model_versions (
  version    INTEGER PRIMARY KEY,
  blob_hash  TEXT NOT NULL,            -- sha256 hex of the container
  bytes      INTEGER NOT NULL,
  round      INTEGER NOT NULL,         -- round that produced it, 0 = initial
  acc_fp32,                            -- f64, -1 = not evaluated
  acc_q8,                              -- f64, -1 = not evaluated
  created_ms INTEGER NOT NULL
);

CREATE TABLE campaigns (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  config_json TEXT NOT NULL,
  first_round INTEGER NOT NULL,
  last_round  INTEGER NOT NULL,
  state       TEXT NOT NULL,           -- running|done|cancelled
  created_ms  INTEGER NOT NULL
);
CREATE INDEX campaigns_by_state ON campaigns (state, id);

CREATE TABLE rounds (
  round             INTEGER PRIMARY KEY,
  campaign_id       INTEGER REFERENCES campaigns (id),  -- NULL = none
  state             TEXT NOT NULL,     -- open|aggregating|done|failed|cancelled
  model_version_in  INTEGER NOT NULL,
  model_version_out INTEGER NOT NULL,
  started_ms        INTEGER NOT NULL,
  deadline_ms       INTEGER NOT NULL,
  finished_ms       INTEGER NOT NULL,
  acc_fp32,                            -- f64, -1 = not evaluated
  acc_q8,                              -- f64, -1 = not evaluated
  bytes_down        INTEGER NOT NULL,
  bytes_up          INTEGER NOT NULL,
  detail            TEXT NOT NULL
);

CREATE TABLE plans (
  plan_id    INTEGER PRIMARY KEY AUTOINCREMENT,
  device_id  INTEGER NOT NULL REFERENCES devices (id),
  version    INTEGER NOT NULL,         -- 1, 2, ... per device
  bytes      BLOB NOT NULL,            -- packed plan (common/plan_codec.h)
  created_ms INTEGER NOT NULL,
  UNIQUE (device_id, version)
);

CREATE TABLE tasks (
  task_id           INTEGER PRIMARY KEY AUTOINCREMENT,
  round             INTEGER NOT NULL REFERENCES rounds (round),
  device_id         INTEGER NOT NULL REFERENCES devices (id),
  strategy          TEXT NOT NULL,     -- fp32|ptq|qat
  weight_bits       INTEGER NOT NULL,
  activation_bits   INTEGER NOT NULL,
  model_version     INTEGER NOT NULL,
  train_config_json TEXT NOT NULL,
  plan_id           INTEGER REFERENCES plans (plan_id),  -- NULL = none
  deadline_ms       INTEGER NOT NULL,
  created_ms        INTEGER NOT NULL,
  UNIQUE (round, device_id)
);
CREATE INDEX tasks_by_device ON tasks (device_id, round);

CREATE TABLE participants (
  round     INTEGER NOT NULL REFERENCES rounds (round),
  device_id INTEGER NOT NULL REFERENCES devices (id),
  -- assigned|pulled|uploaded|reported|rejected|dropped
  status    TEXT NOT NULL,
  task_id   INTEGER NOT NULL UNIQUE REFERENCES tasks (task_id),
  detail    TEXT NOT NULL,
  PRIMARY KEY (round, device_id)
);

CREATE TABLE updates (
  update_id    INTEGER PRIMARY KEY AUTOINCREMENT,
  round        INTEGER NOT NULL REFERENCES rounds (round),
  device_id    INTEGER NOT NULL REFERENCES devices (id),
  task_id      INTEGER NOT NULL REFERENCES tasks (task_id),
  request_id   TEXT NOT NULL,
  blob_hash    TEXT NOT NULL,          -- sha256 hex in the blob store
  sample_count INTEGER NOT NULL,
  bytes        INTEGER NOT NULL,
  received_ms  INTEGER NOT NULL,
  UNIQUE (device_id, request_id),
  UNIQUE (round, device_id)
);

CREATE TABLE reports (
  report_id        INTEGER PRIMARY KEY AUTOINCREMENT,
  round            INTEGER NOT NULL REFERENCES rounds (round),
  device_id        INTEGER NOT NULL REFERENCES devices (id),
  task_id          INTEGER NOT NULL REFERENCES tasks (task_id),
  request_id       TEXT NOT NULL,
  train_loss,                          -- f64
  train_accuracy,                      -- f64
  compute_seconds,                     -- f64
  quantize_seconds,                    -- f64
  bytes_down       INTEGER NOT NULL,
  bytes_up         INTEGER NOT NULL,
  steps            INTEGER NOT NULL,
  -- {"name": number | "nan" | "inf" | "-inf", ...}
  metrics_json     TEXT NOT NULL,
  error            TEXT NOT NULL,
  created_ms       INTEGER NOT NULL,
  UNIQUE (device_id, request_id),
  UNIQUE (round, device_id)
);
)sql";

absl::Status CheckNumbering(const std::vector<Migration>& migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i) + 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("migration list must be numbered 1..N in order; entry ",
                       i, " has version ", migrations[i].version));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::set<int>> AppliedVersions(SqliteDb& db) {
  std::set<int> applied;
  ASSIGN_OR_RETURN(SqliteDb::Statement select,
                   db.Prepare("SELECT version FROM schema_migrations"));
  while (true) {
    ASSIGN_OR_RETURN(const bool row, select.Step());
    if (!row) break;
    applied.insert(static_cast<int>(select.ColumnInt64(0)));
  }
  return applied;
}

absl::Status ApplyOne(SqliteDb& db, const Migration& migration,
                      int64_t now_ms) {
  return db.Transaction([&]() -> absl::Status {
    // Another process may have applied it since we looked.
    ASSIGN_OR_RETURN(const std::set<int> applied, AppliedVersions(db));
    if (applied.count(migration.version) > 0) return absl::OkStatus();
    RETURN_IF_ERROR(db.Exec(migration.sql));
    ASSIGN_OR_RETURN(
        SqliteDb::Statement insert,
        db.Prepare("INSERT INTO schema_migrations (version, applied_ms) "
                   "VALUES (?, ?)"));
    RETURN_IF_ERROR(insert.BindAll(migration.version, now_ms));
    return insert.Step().status();
  });
}

// v2: simulated round time and selector overhead per round (FedHQ), and a
// small key-value table for state that outlives a restart (selector model).
constexpr absl::string_view kSchemaV2 = R"sql(
ALTER TABLE rounds ADD COLUMN sim_seconds DEFAULT 0;       -- f64, simulated
ALTER TABLE rounds ADD COLUMN selector_seconds DEFAULT 0;  -- f64, wall
ALTER TABLE rounds ADD COLUMN acc_served DEFAULT -1;       -- f64, served model
CREATE TABLE kv (
  key        TEXT PRIMARY KEY,
  value      BLOB NOT NULL,
  updated_ms INTEGER NOT NULL
);
)sql";

// v3: enrollment tokens minted by admins (qfleetctl tokens create), next to
// the coordinator's --join-secret. Only the secret's SHA-256 is stored.
constexpr absl::string_view kSchemaV3 = R"sql(
CREATE TABLE join_tokens (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  token_hash TEXT NOT NULL UNIQUE,     -- sha256 hex of the secret
  label      TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL,         -- 0 = never
  max_uses   INTEGER NOT NULL,         -- new devices it may enroll, 0 = unlimited
  uses       INTEGER NOT NULL,         -- new devices it has enrolled
  revoked_ms INTEGER NOT NULL          -- 0 = not revoked
);
)sql";

// v4: kept prefixes of broken uploads, for resuming them. Chunks go with
// their upload (ON DELETE CASCADE).
constexpr absl::string_view kSchemaV4 = R"sql(
CREATE TABLE partial_uploads (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  device_id       INTEGER NOT NULL REFERENCES devices (id),
  task_id         INTEGER NOT NULL REFERENCES tasks (task_id),
  request_id      TEXT NOT NULL,
  total_bytes     INTEGER NOT NULL,
  sha256          TEXT NOT NULL,       -- hex, of the whole update
  sample_count    INTEGER NOT NULL,
  committed_bytes INTEGER NOT NULL,
  updated_ms      INTEGER NOT NULL,
  UNIQUE (device_id, task_id, request_id)
);
CREATE INDEX partial_uploads_by_age ON partial_uploads (updated_ms);
CREATE TABLE upload_chunks (
  upload_id INTEGER NOT NULL REFERENCES partial_uploads (id) ON DELETE CASCADE,
  offset    INTEGER NOT NULL,          -- bytes from the start of the update
  data      BLOB NOT NULL,
  PRIMARY KEY (upload_id, offset)
);
)sql";

// v5: CHORD plans say what made them, so a device sending the same user
// embedding to the same hypernetworks gets its stored plan back.
constexpr absl::string_view kSchemaV5 = R"sql(
ALTER TABLE plans ADD COLUMN method TEXT NOT NULL DEFAULT '';        -- chord, ...
ALTER TABLE plans ADD COLUMN input_sha256 TEXT NOT NULL DEFAULT '';  -- of the embedding
ALTER TABLE plans ADD COLUMN generator TEXT NOT NULL DEFAULT '';     -- hypernetworks' id
ALTER TABLE plans ADD COLUMN model_version INTEGER NOT NULL DEFAULT 0;
)sql";

// v6: which join token enrolled a device, so that a token re-enrolls only
// the names it enrolled (issue 23: a name belongs to its credential).
constexpr absl::string_view kSchemaV6 = R"sql(
ALTER TABLE devices ADD COLUMN enrolled_by INTEGER NOT NULL DEFAULT 0;  -- join_tokens.id, 0 = none
)sql";

// v7: retention (issue 23). Pinned model versions are never pruned; a
// pruned version or update keeps its row, its blob is deleted.
constexpr absl::string_view kSchemaV7 = R"sql(
ALTER TABLE model_versions ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;     -- 1 = kept
ALTER TABLE model_versions ADD COLUMN pruned_ms INTEGER NOT NULL DEFAULT 0;  -- 0 = blob kept
ALTER TABLE updates ADD COLUMN pruned_ms INTEGER NOT NULL DEFAULT 0;         -- 0 = blob kept
CREATE INDEX tasks_by_plan ON tasks (plan_id);
)sql";

}  // namespace

const std::vector<Migration>& CoordinatorMigrations() {
  static const auto* const kMigrations = new std::vector<Migration>{
      {1, "coordinator schema v1", kSchemaV1},
      {2, "round simulated time, selector overhead, kv state", kSchemaV2},
      {3, "admin-minted join tokens", kSchemaV3},
      {4, "partial uploads for resuming broken streams", kSchemaV4},
      {5, "CHORD plan provenance (method, input hash, generator)", kSchemaV5},
      {6, "the join token that enrolled each device", kSchemaV6},
      {7, "retention: pinned and pruned model versions, pruned update blobs", kSchemaV7},
  };
  return *kMigrations;
}

absl::StatusOr<int> ReadSchemaVersion(SqliteDb& db) {
  int version = 0;
  RETURN_IF_ERROR(db.WithLock([&]() -> absl::Status {
    ASSIGN_OR_RETURN(
        SqliteDb::Statement exists,
        db.Prepare("SELECT 1 FROM sqlite_master WHERE "
                   "type = 'table' AND name = 'schema_migrations'"));
    ASSIGN_OR_RETURN(const bool has_table, exists.Step());
    if (!has_table) return absl::OkStatus();
    ASSIGN_OR_RETURN(
        SqliteDb::Statement max,
        db.Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
    ASSIGN_OR_RETURN(const bool row, max.Step());
    if (row) version = static_cast<int>(max.ColumnInt64(0));
    return absl::OkStatus();
  }));
  return version;
}

absl::StatusOr<int> ApplyMigrations(SqliteDb& db,
                                    const std::vector<Migration>& migrations,
                                    int64_t now_ms) {
  RETURN_IF_ERROR(CheckNumbering(migrations));
  const int known = static_cast<int>(migrations.size());
  RETURN_IF_ERROR(
      db.Exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
              "version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)"));
  ASSIGN_OR_RETURN(const int current, ReadSchemaVersion(db));
  if (current > known) {
    return absl::FailedPreconditionError(
        absl::StrCat("sqlite db '", db.path(), "' has schema version ", current,
                     ", newer than the latest this build knows (", known,
                     "); run a newer qfleet"));
  }
  for (const Migration& migration : migrations) {
    absl::Status status = ApplyOne(db, migration, now_ms);
    if (!status.ok()) {
      return absl::Status(
          status.code(),
          absl::StrCat("sqlite db '", db.path(), "': migration ",
                       migration.version, " (", migration.description,
                       "): ", status.message()));
    }
  }
  return known;
}

}  // namespace qfleet::cloud
