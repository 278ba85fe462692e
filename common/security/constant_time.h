#ifndef QFLEET_COMMON_SECURITY_CONSTANT_TIME_H_
#define QFLEET_COMMON_SECURITY_CONSTANT_TIME_H_

#include "absl/strings/string_view.h"

namespace qfleet {

// True iff `a` and `b` hold the same bytes. The time taken depends only on
// the lengths, never on where the strings differ, so secrets (tokens, their
// hashes) can be compared without leaking a prefix through timing.
// Thread-safe.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

}  // namespace qfleet

#endif  // QFLEET_COMMON_SECURITY_CONSTANT_TIME_H_
