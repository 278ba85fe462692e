#include "cloud/service/admin_auth.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/security/constant_time.h"

namespace qfleet::cloud {

absl::Status CheckAdminTokenStrength(absl::string_view token) {
  if (token.size() < kMinAdminTokenChars) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "the admin token has %d characters; at least %d are required (make one with "
        "`openssl rand -hex 32`)",
        token.size(), kMinAdminTokenChars));
  }
  if (absl::StrContains(absl::AsciiStrToUpper(token), "CHANGE-ME")) {
    return absl::InvalidArgumentError(
        "the admin token is a placeholder (it contains CHANGE-ME); make a real one with "
        "`openssl rand -hex 32`");
  }
  return absl::OkStatus();
}

bool IsLoopbackHost(absl::string_view host) {
  if (absl::ConsumePrefix(&host, "[")) absl::ConsumeSuffix(&host, "]");
  if (host == "localhost" || host == "::1") return true;
  in_addr v4{};
  const std::string h(host);
  return ::inet_pton(AF_INET, h.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

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
