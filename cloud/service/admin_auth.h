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
// Shortest admin token accepted (32 characters: 128 bits as hex).
inline constexpr size_t kMinAdminTokenChars = 32;

// OK for an admin token an operator may configure; InvalidArgument (saying
// how to make one) when it is shorter than kMinAdminTokenChars or contains
// "CHANGE-ME" in any case (the placeholder of deploy/k8s's example Secret).
absl::Status CheckAdminTokenStrength(absl::string_view token);

// True when `host` (of a HOST:PORT listen address, brackets allowed) can
// only be reached from this machine: "localhost", 127.0.0.0/8 or ::1.
bool IsLoopbackHost(absl::string_view host);

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
