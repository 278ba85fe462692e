#ifndef QFLEET_CLOUD_PLAN_GENERATOR_H_
#define QFLEET_CLOUD_PLAN_GENERATOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace qfleet::cloud {

// A plan every device of the fleet gets alike (CHORD's "chord-mean"
// ablation, the "static" Hessian-trace allocation).
struct FleetPlan {
  std::string bytes;           // packed plan (common/plan_codec.h), version 0
  std::vector<int> tier_bits;  // apply as is; empty = decode for the budget
};

// What the coordinator asks of CHORD's cloud side (the hypernetworks) —
// the interface keeps LibTorch out of the coordinator; the implementation
// is ChordPlanner in cloud/chord/chord_service.h.
class PlanGenerator {
 public:
  virtual ~PlanGenerator() = default;
  // Identity of the weights that make the plans (a hash): a stored plan
  // made by another generator is made again.
  virtual std::string Id() const = 0;
  // Width of the user embeddings Generate reads.
  virtual int64_t EmbedDim() const = 0;
  // Packed plans for `n` embeddings (row-major, n * EmbedDim() finite
  // floats), plan i carrying version versions[i]. One call per batch;
  // the coordinator never calls it from two threads at once.
  virtual absl::StatusOr<std::vector<std::string>> Generate(const std::vector<float>& embeddings,
                                                            const std::vector<uint64_t>& versions) = 0;
  // The fleet-wide plan of `method` ("chord-mean", "static"); NotFound when
  // this generator has none. Thread-safe.
  virtual absl::StatusOr<FleetPlan> FleetPlanFor(const std::string& method) = 0;
  // What a weight in each of tiers 0..3 of this generator's plans is worth
  // to the device's budget decoder (BudgetDecodeOptions::tier_importance):
  // how the tiers were cut, which only the cloud knows. Empty: the device
  // keeps its own. Thread-safe.
  virtual std::vector<double> TierImportance() const { return {}; }
};

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_PLAN_GENERATOR_H_
