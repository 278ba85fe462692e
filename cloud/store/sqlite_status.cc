#include "cloud/store/sqlite_status.h"

#include "absl/strings/str_cat.h"

namespace qfleet::cloud {

absl::StatusCode SqliteCodeToStatusCode(int sqlite_code) {
  switch (sqlite_code) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_ROWID:
      return absl::StatusCode::kAlreadyExists;
    case SQLITE_IOERR_NOMEM:
      return absl::StatusCode::kResourceExhausted;
    default:
      break;
  }
  switch (sqlite_code & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
      return absl::StatusCode::kOk;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
      return absl::StatusCode::kUnavailable;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::StatusCode::kDataLoss;
    case SQLITE_FULL:
    case SQLITE_NOMEM:
      return absl::StatusCode::kResourceExhausted;
    case SQLITE_CONSTRAINT:
      return absl::StatusCode::kFailedPrecondition;
    case SQLITE_PERM:
    case SQLITE_AUTH:
    case SQLITE_READONLY:
      return absl::StatusCode::kPermissionDenied;
    case SQLITE_TOOBIG:
    case SQLITE_MISMATCH:
      return absl::StatusCode::kInvalidArgument;
    case SQLITE_RANGE:
      return absl::StatusCode::kOutOfRange;
    case SQLITE_INTERRUPT:
      return absl::StatusCode::kCancelled;
    case SQLITE_ABORT:
    case SQLITE_SCHEMA:
      return absl::StatusCode::kAborted;
    case SQLITE_NOTFOUND:
      return absl::StatusCode::kNotFound;
    default:  // SQLITE_ERROR, SQLITE_MISUSE, SQLITE_INTERNAL, ...
      return absl::StatusCode::kInternal;
  }
}

absl::Status SqliteStatus(int sqlite_code, sqlite3* db,
                          absl::string_view context) {
  const absl::StatusCode code = SqliteCodeToStatusCode(sqlite_code);
  if (code == absl::StatusCode::kOk) return absl::OkStatus();
  // sqlite3_errmsg describes the most recent failure on `db`; when the
  // connection has since succeeded it says "not an error", so fall back to
  // the generic text for the code.
  const char* message = db != nullptr && sqlite3_errcode(db) != SQLITE_OK
                            ? sqlite3_errmsg(db)
                            : sqlite3_errstr(sqlite_code);
  return absl::Status(code, absl::StrCat(context, ": ", message, " (sqlite ",
                                         sqlite_code, ")"));
}

}  // namespace qfleet::cloud
