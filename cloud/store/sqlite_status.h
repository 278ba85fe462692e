#ifndef QFLEET_CLOUD_STORE_SQLITE_STATUS_H_
#define QFLEET_CLOUD_STORE_SQLITE_STATUS_H_

#include <sqlite3.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace qfleet::cloud {

// Maps a SQLite primary or extended result code to the absl code that tells
// the caller what to do next: BUSY/LOCKED/IOERR/CANTOPEN -> Unavailable,
// CORRUPT/NOTADB -> DataLoss, FULL/NOMEM -> ResourceExhausted,
// UNIQUE/PRIMARYKEY constraint -> AlreadyExists, other constraints ->
// FailedPrecondition, PERM/AUTH/READONLY -> PermissionDenied, SQL errors and
// misuse -> Internal. SQLITE_OK/ROW/DONE map to kOk. Thread-safe.
absl::StatusCode SqliteCodeToStatusCode(int sqlite_code);

// Builds the Status for a failed call: "<context>: <sqlite message>
// (<code name>)". `db` may be null; otherwise its current error message is
// used, so call this before touching the connection again. Thread-safe for
// distinct connections.
absl::Status SqliteStatus(int sqlite_code, sqlite3* db,
                          absl::string_view context);

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_STORE_SQLITE_STATUS_H_
