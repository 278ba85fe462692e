#include "cloud/service/admin_auth.h"

#include "absl/strings/strip.h"
#include "common/security/constant_time.h"

namespace qfleet::cloud {

AdminAuthorizer::AdminAuthorizer(std::string token, bool allow_without_token)
    : token_(std::move(token)), allow_without_token_(allow_without_token) {}

absl::Status AdminAuthorizer::Check(const absl::string_view* authorization) const {
  if (token_.empty()) {
    if (allow_without_token_) return absl::OkStatus();
    return absl::PermissionDeniedError(
        "the admin API is disabled: start the coordinator with --admin-token-file FILE "
        "(or --insecure for local development)");
  }
  if (authorization == nullptr) {
    return absl::UnauthenticatedError(
        "admin call without an admin token (qfleetctl --admin-token-file FILE)");
  }
  absl::string_view value = *authorization;
  if (!absl::ConsumePrefix(&value, "Bearer ")) {
    return absl::UnauthenticatedError("authorization must be 'Bearer <admin token>'");
  }
  if (!ConstantTimeEquals(value, token_)) {
    return absl::UnauthenticatedError("wrong admin token");
  }
  return absl::OkStatus();
}

}  // namespace qfleet::cloud
