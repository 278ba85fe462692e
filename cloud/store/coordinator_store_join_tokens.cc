// CoordinatorStore: admin-minted join (enrollment) tokens.

#include "absl/strings/str_cat.h"
#include "cloud/store/coordinator_store.h"
#include "common/status_macros.h"

namespace qfleet::cloud {
namespace {

constexpr char kJoinTokenColumns[] =
    "id, token_hash, label, created_ms, expires_ms, max_uses, uses, revoked_ms";

JoinTokenRecord JoinTokenFromRow(const SqliteDb::Statement& stmt) {
  JoinTokenRecord r;
  r.id = stmt.ColumnUint64(0);
  r.token_hash = stmt.ColumnText(1);
  r.label = stmt.ColumnText(2);
  r.created_ms = stmt.ColumnInt64(3);
  r.expires_ms = stmt.ColumnInt64(4);
  r.max_uses = stmt.ColumnUint64(5);
  r.uses = stmt.ColumnUint64(6);
  r.revoked_ms = stmt.ColumnInt64(7);
  return r;
}

}  // namespace

absl::StatusOr<uint64_t> CoordinatorStore::InsertJoinToken(const JoinTokenRecord& record) {
  if (record.token_hash.empty()) return absl::InvalidArgumentError("join token hash is empty");
  uint64_t id = 0;
  RETURN_IF_ERROR(db_->Transaction([&]() -> absl::Status {
    ASSIGN_OR_RETURN(
        SqliteDb::Statement stmt,
        db_->Prepare("INSERT INTO join_tokens (token_hash, label, created_ms, expires_ms, "
                     "max_uses, uses, revoked_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
    RETURN_IF_ERROR(stmt.BindAll(record.token_hash, record.label, record.created_ms,
                                 record.expires_ms, record.max_uses, record.uses,
                                 record.revoked_ms));
    RETURN_IF_ERROR(stmt.Step().status());
    id = static_cast<uint64_t>(db_->LastInsertRowId());
    return absl::OkStatus();
  }));
  return id;
}

absl::StatusOr<std::optional<JoinTokenRecord>> CoordinatorStore::FindJoinToken(
    absl::string_view token_hash) {
  ReentrantMutexLock lock(db_->mutex());
  ASSIGN_OR_RETURN(SqliteDb::Statement stmt,
                   db_->Prepare(absl::StrCat("SELECT ", kJoinTokenColumns,
                                             " FROM join_tokens WHERE token_hash = ?1")));
  RETURN_IF_ERROR(stmt.BindAll(std::string(token_hash)));
  ASSIGN_OR_RETURN(const bool row, stmt.Step());
  if (!row) return std::optional<JoinTokenRecord>();
  return std::optional<JoinTokenRecord>(JoinTokenFromRow(stmt));
}

absl::StatusOr<JoinTokenRecord> CoordinatorStore::GetJoinToken(uint64_t id) {
  ReentrantMutexLock lock(db_->mutex());
  ASSIGN_OR_RETURN(
      SqliteDb::Statement stmt,
      db_->Prepare(absl::StrCat("SELECT ", kJoinTokenColumns, " FROM join_tokens WHERE id = ?1")));
  RETURN_IF_ERROR(stmt.BindAll(id));
  ASSIGN_OR_RETURN(const bool row, stmt.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("join token ", id, " not found"));
  return JoinTokenFromRow(stmt);
}

absl::StatusOr<std::vector<JoinTokenRecord>> CoordinatorStore::ListJoinTokens() {
  ReentrantMutexLock lock(db_->mutex());
  ASSIGN_OR_RETURN(
      SqliteDb::Statement stmt,
      db_->Prepare(absl::StrCat("SELECT ", kJoinTokenColumns, " FROM join_tokens ORDER BY id")));
  std::vector<JoinTokenRecord> out;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, stmt.Step());
    if (!row) break;
    out.push_back(JoinTokenFromRow(stmt));
  }
  return out;
}

absl::Status CoordinatorStore::UpdateJoinToken(const JoinTokenRecord& record) {
  return db_->Transaction([&]() -> absl::Status {
    ASSIGN_OR_RETURN(
        SqliteDb::Statement stmt,
        db_->Prepare("UPDATE join_tokens SET uses = ?2, revoked_ms = ?3 WHERE id = ?1"));
    RETURN_IF_ERROR(stmt.BindAll(record.id, record.uses, record.revoked_ms));
    RETURN_IF_ERROR(stmt.Step().status());
    if (db_->Changes() == 0) {
      return absl::NotFoundError(absl::StrCat("join token ", record.id, " not found"));
    }
    return absl::OkStatus();
  });
}

}  // namespace qfleet::cloud
