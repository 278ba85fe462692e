// Coordinator: enrollment (join) tokens minted by admins, and the check of
// the secret a registering device presents. Register itself is in
// coordinator.cc.

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "cloud/coordinator.h"
#include "common/security/random_token.h"
#include "common/security/constant_time.h"
#include "common/sha256.h"
#include "common/status_macros.h"

namespace qfleet::cloud {
namespace {

constexpr size_t kMaxLabelBytes = 256;

std::string FormatMs(int64_t ms) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixMillis(ms),
                          absl::UTCTimeZone());
}

// OK when `token` may enroll a device at `now_ms`; a new device also needs
// a use left. PermissionDenied saying what is wrong otherwise.
absl::Status Usable(const JoinTokenRecord& token, int64_t now_ms, bool new_device) {
  const std::string state = JoinTokenState(token, now_ms);
  if (state == "revoked") {
    return absl::PermissionDeniedError(absl::StrFormat(
        "join token %d was revoked at %s", token.id, FormatMs(token.revoked_ms)));
  }
  if (state == "expired") {
    return absl::PermissionDeniedError(absl::StrFormat(
        "join token %d expired at %s", token.id, FormatMs(token.expires_ms)));
  }
  if (state == "used_up" && new_device) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "join token %d is used up: it has enrolled %d of %d devices", token.id, token.uses,
        token.max_uses));
  }
  return absl::OkStatus();
}

}  // namespace

std::string JoinTokenState(const JoinTokenRecord& token, int64_t now_ms) {
  if (token.revoked_ms != 0) return "revoked";
  if (token.expires_ms != 0 && now_ms >= token.expires_ms) return "expired";
  if (token.max_uses != 0 && token.uses >= token.max_uses) return "used_up";
  return "active";
}

absl::StatusOr<uint64_t> Coordinator::CheckJoinSecret(absl::string_view secret, int64_t now_ms) {
  if (secret.empty()) {
    if (options_.open_enrollment) return 0;
    return absl::PermissionDeniedError(
        "enrollment needs a credential: give the device the fleet's join secret "
        "(qfleet-coordinator --join-secret-file FILE) or a join token (qfleetctl tokens "
        "create), or start the coordinator with --open-enrollment");
  }
  ASSIGN_OR_RETURN(std::optional<JoinTokenRecord> token, store_->FindJoinToken(Sha256Hex(secret)));
  if (token.has_value()) {
    // A used-up token still re-enrolls a device it enrolled: Register decides.
    RETURN_IF_ERROR(Usable(*token, now_ms, /*new_device=*/false));
    return token->id;
  }
  if (!options_.join_secret.empty() && ConstantTimeEquals(secret, options_.join_secret)) return 0;
  // Open enrollment asks for nothing, so any other secret passes too.
  if (options_.open_enrollment) return 0;
  return absl::PermissionDeniedError("wrong join secret");
}

absl::Status Coordinator::ConsumeJoinToken(uint64_t token_id, int64_t now_ms) {
  return store_->RunInTransaction([&]() -> absl::Status {
    ASSIGN_OR_RETURN(JoinTokenRecord token, store_->GetJoinToken(token_id));
    RETURN_IF_ERROR(Usable(token, now_ms, /*new_device=*/true));
    ++token.uses;
    return store_->UpdateJoinToken(token);
  });
}

absl::StatusOr<NewJoinToken> Coordinator::CreateJoinToken(absl::string_view label, int64_t ttl_ms,
                                                          uint64_t max_uses) {
  if (ttl_ms < 0) return absl::InvalidArgumentError("join token ttl must not be negative");
  if (label.size() > kMaxLabelBytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("join token label is %d bytes; at most %d", label.size(), kMaxLabelBytes));
  }
  NewJoinToken out;
  ASSIGN_OR_RETURN(out.secret, RandomHexToken());
  JoinTokenRecord& rec = out.record;
  rec.token_hash = Sha256Hex(out.secret);
  rec.label = std::string(label);
  rec.created_ms = clock_->NowMs();
  rec.expires_ms = ttl_ms == 0 ? 0 : rec.created_ms + ttl_ms;
  rec.max_uses = max_uses;
  ASSIGN_OR_RETURN(rec.id, store_->InsertJoinToken(rec));
  return out;
}

absl::StatusOr<std::vector<JoinTokenRecord>> Coordinator::ListJoinTokens() {
  return store_->ListJoinTokens();
}

absl::StatusOr<JoinTokenRecord> Coordinator::RevokeJoinToken(uint64_t token_id) {
  JoinTokenRecord token;
  RETURN_IF_ERROR(store_->RunInTransaction([&]() -> absl::Status {
    ASSIGN_OR_RETURN(token, store_->GetJoinToken(token_id));
    if (token.revoked_ms != 0) return absl::OkStatus();
    token.revoked_ms = clock_->NowMs();
    return store_->UpdateJoinToken(token);
  }));
  return token;
}

}  // namespace qfleet::cloud
