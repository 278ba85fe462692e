#ifndef QFLEET_COMMON_STATUS_MACROS_H_
#define QFLEET_COMMON_STATUS_MACROS_H_

// Abseil 20220623 has no status macros; these are qfleet's own.
//
//   RETURN_IF_ERROR(DoThing());
//   ASSIGN_OR_RETURN(auto value, ComputeValue());

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define QFLEET_CONCAT_INNER_(a, b) a##b
#define QFLEET_CONCAT_(a, b) QFLEET_CONCAT_INNER_(a, b)

#define RETURN_IF_ERROR(expr)                          \
  do {                                                 \
    ::absl::Status qfleet_status_ = (expr);            \
    if (!qfleet_status_.ok()) return qfleet_status_;   \
  } while (false)

#define QFLEET_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                  \
  if (!tmp.ok()) return std::move(tmp).status();       \
  lhs = std::move(tmp).value()

#define ASSIGN_OR_RETURN(lhs, rexpr) \
  QFLEET_ASSIGN_OR_RETURN_IMPL_(QFLEET_CONCAT_(qfleet_sor_, __LINE__), lhs, rexpr)

#endif  // QFLEET_COMMON_STATUS_MACROS_H_
