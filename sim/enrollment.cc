#include "sim/enrollment.h"

namespace qfleet::apps {

absl::StatusOr<std::string> EnrollmentSecret(AdminClient& admin, const std::string& given,
                                             int devices, const std::string& label) {
  if (!given.empty()) return given;
  admin::v1::CreateJoinTokenRequest req;
  req.set_label(label);
  req.set_ttl_s(24 * 3600);
  req.set_max_uses(static_cast<uint64_t>(devices < 1 ? 1 : devices));
  absl::StatusOr<admin::v1::CreateJoinTokenResponse> token = admin.CreateJoinToken(req);
  if (!token.ok()) return token.status();
  return token->secret();
}

}  // namespace qfleet::apps
