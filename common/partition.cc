#include "common/partition.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/seeded_random.h"
#include "common/status_macros.h"

namespace qfleet {
namespace {

constexpr int64_t kMinClientSamples = 10;

absl::Status ValidateSpec(const ShardSpec& spec) {
  if (spec.kind != PartitionKind::kIid && spec.kind != PartitionKind::kDirichlet) {
    return absl::InvalidArgumentError("unknown PartitionKind");
  }
  if (spec.kind == PartitionKind::kDirichlet && !(spec.alpha > 0.0 && std::isfinite(spec.alpha))) {
    return absl::InvalidArgumentError(
        absl::StrFormat("dirichlet alpha %g must be finite and > 0", spec.alpha));
  }
  if (spec.num_clients < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("num_clients %d must be >= 1", spec.num_clients));
  }
  return absl::OkStatus();
}

absl::Status ValidateIndex(const ShardSpec& spec) {
  if (spec.client_index < 0 || spec.client_index >= spec.num_clients) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "client_index %d not in [0, %d)", spec.client_index, spec.num_clients));
  }
  return absl::OkStatus();
}

std::vector<std::vector<int64_t>> SplitIid(int64_t n, int clients, SeededRandom& rng) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  rng.Shuffle(order);
  std::vector<std::vector<int64_t>> out(static_cast<size_t>(clients));
  const int64_t base = n / clients, extra = n % clients;
  int64_t pos = 0;
  for (int k = 0; k < clients; ++k) {
    const int64_t size = base + (k < extra ? 1 : 0);
    out[k].assign(order.begin() + pos, order.begin() + pos + size);
    pos += size;
  }
  return out;
}

// Client weights ~ Dir(alpha), scaled so the largest is 1 (log-space draws).
std::vector<double> DirichletWeights(int clients, double alpha, SeededRandom& rng) {
  std::vector<double> w(static_cast<size_t>(clients));
  for (double& x : w) x = rng.LogGamma(alpha);
  const double top = *std::max_element(w.begin(), w.end());
  for (double& x : w) x = std::exp(x - top);
  return w;
}

// Moves random samples from the largest clients (ties: lowest index) to every
// client holding fewer than `minimum`. Needs clients * minimum <= total.
void TopUp(std::vector<std::vector<int64_t>>& parts, int64_t minimum, SeededRandom& rng) {
  std::set<std::pair<int64_t, int>> by_size;  // (-size, client): begin() is the largest
  for (int k = 0; k < static_cast<int>(parts.size()); ++k) {
    by_size.insert({-static_cast<int64_t>(parts[k].size()), k});
  }
  for (int k = 0; k < static_cast<int>(parts.size()); ++k) {
    while (static_cast<int64_t>(parts[k].size()) < minimum) {
      const int donor = by_size.begin()->second;  // has > minimum samples
      std::vector<int64_t>& from = parts[donor];
      by_size.erase(by_size.begin());
      by_size.erase({-static_cast<int64_t>(parts[k].size()), k});
      const size_t j = static_cast<size_t>(rng.UniformBelow(from.size()));
      std::swap(from[j], from.back());
      parts[k].push_back(from.back());
      from.pop_back();
      by_size.insert({-static_cast<int64_t>(from.size()), donor});
      by_size.insert({-static_cast<int64_t>(parts[k].size()), k});
    }
  }
}

std::vector<std::vector<int64_t>> SplitDirichlet(const std::vector<uint8_t>& labels,
                                                 int num_classes, const ShardSpec& spec,
                                                 SeededRandom& rng) {
  const int clients = spec.num_clients;
  std::vector<std::vector<int64_t>> by_class(static_cast<size_t>(num_classes));
  for (size_t i = 0; i < labels.size(); ++i) by_class[labels[i]].push_back(static_cast<int64_t>(i));

  std::vector<std::vector<int64_t>> parts(static_cast<size_t>(clients));
  for (std::vector<int64_t>& idx : by_class) {
    if (idx.empty()) continue;
    rng.Shuffle(idx);
    const std::vector<double> w = DirichletWeights(clients, spec.alpha, rng);
    double sum = 0.0;
    for (double x : w) sum += x;
    const int64_t len = static_cast<int64_t>(idx.size());
    double acc = 0.0;
    int64_t prev = 0;
    for (int k = 0; k < clients; ++k) {
      acc += w[k];
      int64_t cut = k + 1 == clients ? len : static_cast<int64_t>(std::floor(acc / sum * len));
      cut = std::clamp(cut, prev, len);
      parts[k].insert(parts[k].end(), idx.begin() + prev, idx.begin() + cut);
      prev = cut;
    }
  }
  const int64_t n = static_cast<int64_t>(labels.size());
  TopUp(parts, std::min<int64_t>(kMinClientSamples, n / clients), rng);
  return parts;
}

}  // namespace

absl::StatusOr<ShardSpec> ParseShardSpec(absl::string_view text) {
  const std::vector<absl::string_view> f = absl::StrSplit(text, ':');
  ShardSpec spec;
  size_t next = 1;
  if (f[0] == "iid" && f.size() == 4) {
    spec.kind = PartitionKind::kIid;
  } else if (f[0] == "dirichlet" && f.size() == 5) {
    spec.kind = PartitionKind::kDirichlet;
    if (!absl::SimpleAtod(f[next++], &spec.alpha)) {
      return absl::InvalidArgumentError(absl::StrCat("bad dirichlet alpha in '", text, "'"));
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "shard spec '", text, "' is not iid:CLIENTS:INDEX:SEED or dirichlet:ALPHA:CLIENTS:INDEX:SEED"));
  }
  if (!absl::SimpleAtoi(f[next], &spec.num_clients) ||
      !absl::SimpleAtoi(f[next + 1], &spec.client_index) ||
      !absl::SimpleAtoi(f[next + 2], &spec.seed)) {
    return absl::InvalidArgumentError(absl::StrCat("bad number in shard spec '", text, "'"));
  }
  RETURN_IF_ERROR(ValidateSpec(spec));
  RETURN_IF_ERROR(ValidateIndex(spec));
  return spec;
}

std::string FormatShardSpec(const ShardSpec& spec) {
  if (spec.kind == PartitionKind::kDirichlet) {
    return absl::StrFormat("dirichlet:%.17g:%d:%d:%d", spec.alpha, spec.num_clients,
                           spec.client_index, spec.seed);
  }
  return absl::StrFormat("iid:%d:%d:%d", spec.num_clients, spec.client_index, spec.seed);
}

absl::StatusOr<std::vector<std::vector<int64_t>>> PartitionIndices(
    const std::vector<uint8_t>& labels, int num_classes, const ShardSpec& spec) {
  RETURN_IF_ERROR(ValidateSpec(spec));
  if (num_classes < 1 || num_classes > 256) {
    return absl::InvalidArgumentError(absl::StrFormat("num_classes %d not in 1..256", num_classes));
  }
  const int64_t n = static_cast<int64_t>(labels.size());
  if (spec.num_clients > n) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%d clients but only %d samples", spec.num_clients, n));
  }
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] >= num_classes) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "label %d at index %d is not below num_classes %d", labels[i], i, num_classes));
    }
  }
  SeededRandom rng(spec.seed);
  std::vector<std::vector<int64_t>> parts =
      spec.kind == PartitionKind::kIid ? SplitIid(n, spec.num_clients, rng)
                                       : SplitDirichlet(labels, num_classes, spec, rng);
  for (std::vector<int64_t>& p : parts) std::sort(p.begin(), p.end());
  return parts;
}

absl::StatusOr<std::vector<int64_t>> ShardIndices(const std::vector<uint8_t>& labels,
                                                  int num_classes, const ShardSpec& spec) {
  RETURN_IF_ERROR(ValidateSpec(spec));
  RETURN_IF_ERROR(ValidateIndex(spec));
  ASSIGN_OR_RETURN(std::vector<std::vector<int64_t>> parts,
                   PartitionIndices(labels, num_classes, spec));
  return std::move(parts[static_cast<size_t>(spec.client_index)]);
}

std::vector<uint64_t> LabelHistogram(const std::vector<uint8_t>& labels,
                                     const std::vector<int64_t>& indices, int num_classes) {
  if (num_classes <= 0) return {};
  std::vector<uint64_t> hist(static_cast<size_t>(num_classes), 0);
  for (int64_t i : indices) {
    if (i < 0 || i >= static_cast<int64_t>(labels.size())) continue;
    const uint8_t label = labels[static_cast<size_t>(i)];
    if (label < num_classes) ++hist[label];
  }
  return hist;
}

}  // namespace qfleet
