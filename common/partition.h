#ifndef QFLEET_COMMON_PARTITION_H_
#define QFLEET_COMMON_PARTITION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace qfleet {

// How a labelled data set is split across federated clients.
//   kIid:       seed-shuffle, then contiguous near-equal shares (sizes differ
//               by at most one, the first n % clients clients get the extra).
//   kDirichlet: per class, client proportions p ~ Dir(alpha); the class's
//               seed-shuffled indices are cut at floor(cumsum(p) * n_class).
//               Smaller alpha gives more skewed label mixes. Afterwards every
//               client is topped up to min(10, n / clients) samples with
//               random samples taken from the currently largest client.
enum class PartitionKind { kIid, kDirichlet };

struct ShardSpec {
  PartitionKind kind = PartitionKind::kIid;
  double alpha = 0.5;  // kDirichlet only, > 0
  int num_clients = 1;
  int client_index = 0;  // 0-based
  uint64_t seed = 1;
};

// Parses "iid:CLIENTS:INDEX:SEED" or "dirichlet:ALPHA:CLIENTS:INDEX:SEED"
// (e.g. "dirichlet:0.1:100:7:42"). Returns InvalidArgument for another
// shape, unparsable numbers, alpha <= 0 or not finite, clients < 1, or an
// index outside [0, clients). Thread-safe.
absl::StatusOr<ShardSpec> ParseShardSpec(absl::string_view text);

// Formats `spec` in the syntax ParseShardSpec reads (alpha printed with
// enough digits to round-trip). Thread-safe.
std::string FormatShardSpec(const ShardSpec& spec);

// Splits indices 0..labels.size()-1 among spec.num_clients clients as
// described on PartitionKind; spec.client_index is ignored. Every index lands
// in exactly one client; each client's list is sorted ascending. The result
// depends only on (labels, num_classes, spec), the same on every run of one
// platform (std::mt19937_64 with qfleet's own samplers). Returns
// InvalidArgument for num_classes outside 1..256, a label >= num_classes,
// alpha <= 0, clients < 1 or more clients than samples. Thread-safe.
absl::StatusOr<std::vector<std::vector<int64_t>>> PartitionIndices(
    const std::vector<uint8_t>& labels, int num_classes, const ShardSpec& spec);

// The share of client spec.client_index from PartitionIndices. Returns
// InvalidArgument as PartitionIndices does, or for an index outside
// [0, num_clients). Thread-safe.
absl::StatusOr<std::vector<int64_t>> ShardIndices(const std::vector<uint8_t>& labels,
                                                  int num_classes, const ShardSpec& spec);

// Counts labels[i] for each i in `indices`; returns num_classes counters
// (empty if num_classes <= 0). Indices outside `labels` and labels >=
// num_classes are skipped. Thread-safe.
std::vector<uint64_t> LabelHistogram(const std::vector<uint8_t>& labels,
                                     const std::vector<int64_t>& indices, int num_classes);

}  // namespace qfleet

#endif  // QFLEET_COMMON_PARTITION_H_
