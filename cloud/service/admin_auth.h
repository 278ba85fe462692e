#ifndef QFLEET_CLOUD_SERVICE_ADMIN_AUTH_H_
#define QFLEET_CLOUD_SERVICE_ADMIN_AUTH_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace qfleet::cloud {

// Decides whether an AdminService call may proceed, from its
// "authorization" metadata ("Bearer <token>").
//   - A token is configured: the call must carry exactly it (compared in
//     constant time); missing or wrong → Unauthenticated.
//   - No token, `allow_without_token` (the coordinator runs --insecure for
//     local development): every call passes.
//   - No token otherwise: PermissionDenied, naming --admin-token-file.
// Immutable after construction; thread-safe.
class AdminAuthorizer {
 public:
  AdminAuthorizer(std::string token, bool allow_without_token);

  // `authorization`: the metadata value, nullptr when the call has none.
  absl::Status Check(const absl::string_view* authorization) const;

 private:
  std::string token_;
  bool allow_without_token_;
};

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_SERVICE_ADMIN_AUTH_H_
