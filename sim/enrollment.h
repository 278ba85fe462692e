#ifndef QFLEET_SIM_ENROLLMENT_H_
#define QFLEET_SIM_ENROLLMENT_H_

#include <string>

#include "absl/status/statusor.h"
#include "apps/admin_client.h"

namespace qfleet::apps {

// The enrollment credential a simulation's virtual devices present: `given`
// (a --join-secret) when non-empty; otherwise a join token minted through
// the admin API for `devices` new devices, valid for a day, labelled with
// `label`. Errors of CreateJoinToken (e.g. PermissionDenied without an
// admin token). Coordinators refuse Register without a credential unless
// they run --open-enrollment, so a simulator asks for one as an admin would.
absl::StatusOr<std::string> EnrollmentSecret(AdminClient& admin, const std::string& given,
                                             int devices, const std::string& label);

}  // namespace qfleet::apps

#endif  // QFLEET_SIM_ENROLLMENT_H_
