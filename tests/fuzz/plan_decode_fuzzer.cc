// libFuzzer target: the precision-plan decoder must never crash, read out of
// bounds or accept a plan that does not re-encode to the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "common/plan_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<qfleet::PrecisionPlan> plan = qfleet::DecodePlan(bytes);
  if (!plan.ok()) return 0;
  absl::StatusOr<std::string> again = qfleet::EncodePlan(*plan);
  if (!again.ok() || *again != bytes) std::abort();  // decode accepted a non-canonical plan
  return 0;
}
