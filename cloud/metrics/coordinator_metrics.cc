#include "cloud/metrics/coordinator_metrics.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace qfleet::cloud {
namespace {

// Escapes a label value: backslash, double quote and newline.
std::string Label(absl::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Number(double v) { return absl::StrFormat("%.9g", v); }

}  // namespace

absl::string_view GrpcCodeName(int code) {
  static constexpr absl::string_view kNames[] = {"OK",
                                                 "CANCELLED",
                                                 "UNKNOWN",
                                                 "INVALID_ARGUMENT",
                                                 "DEADLINE_EXCEEDED",
                                                 "NOT_FOUND",
                                                 "ALREADY_EXISTS",
                                                 "PERMISSION_DENIED",
                                                 "RESOURCE_EXHAUSTED",
                                                 "FAILED_PRECONDITION",
                                                 "ABORTED",
                                                 "OUT_OF_RANGE",
                                                 "UNIMPLEMENTED",
                                                 "INTERNAL",
                                                 "UNAVAILABLE",
                                                 "DATA_LOSS",
                                                 "UNAUTHENTICATED"};
  if (code < 0 || code >= static_cast<int>(std::size(kNames))) return "UNKNOWN";
  return kNames[code];
}

void CoordinatorMetrics::RecordRpc(absl::string_view method, absl::string_view code,
                                   double seconds) {
  absl::MutexLock lock(&mu_);
  ++calls_[{std::string(method), std::string(code)}];
  Histogram& h = latency_[std::string(method)];
  size_t bucket = 0;
  while (bucket < kLatencyBuckets.size() && seconds > kLatencyBuckets[bucket]) ++bucket;
  ++h.counts[bucket];
  h.sum += seconds;
  ++h.count;
}

std::string CoordinatorMetrics::Render(const FleetGauges& gauges) const {
  std::string out;
  // One unlabelled sample with its HELP and TYPE lines.
  const auto scalar = [&out](const char* name, const char* type, const char* help,
                             uint64_t value) {
    absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n", name,
                    " ", value, "\n");
  };
  scalar("qfleet_bytes_received_total", "counter",
         "Protobuf payload bytes received by the coordinator's gRPC services.",
         bytes_received_.load(std::memory_order_relaxed));
  scalar("qfleet_bytes_sent_total", "counter",
         "Protobuf payload bytes sent by the coordinator's gRPC services.",
         bytes_sent_.load(std::memory_order_relaxed));
  scalar("qfleet_devices_online", "gauge", "Devices that are active and within their lease.",
         gauges.devices_online);
  scalar("qfleet_devices_registered", "gauge", "Devices known to the coordinator.",
         gauges.devices_registered);
  scalar("qfleet_rounds_completed_total", "counter", "Federated rounds that finished aggregation.",
         gauges.rounds_completed);
  scalar("qfleet_rounds_cancelled_total", "counter", "Rounds an operator cancelled.",
         gauges.rounds_cancelled);
  scalar("qfleet_rounds_failed_total", "counter",
         "Rounds that closed without an aggregate (too few updates or a failed aggregation).",
         gauges.rounds_failed);
  scalar("qfleet_join_token_enrollments_total", "counter",
         "New devices enrolled with admin-minted join tokens.", gauges.join_token_enrollments);
  absl::StrAppend(&out,
                  "# HELP qfleet_join_tokens Admin-minted join tokens by state.\n"
                  "# TYPE qfleet_join_tokens gauge\n");
  std::map<std::string, uint64_t> tokens = {
      {"active", 0}, {"expired", 0}, {"revoked", 0}, {"used_up", 0}};
  for (const auto& [state, n] : gauges.join_tokens) tokens[state] += n;
  for (const auto& [state, n] : tokens) {
    absl::StrAppend(&out, "qfleet_join_tokens{state=\"", Label(state), "\"} ", n, "\n");
  }

  absl::MutexLock lock(&mu_);
  absl::StrAppend(&out,
                  "# HELP qfleet_rpc_latency_seconds Time from a call's arrival to its status.\n"
                  "# TYPE qfleet_rpc_latency_seconds histogram\n");
  for (const auto& [method, h] : latency_) {
    const std::string m = Label(method);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
      cumulative += h.counts[i];
      absl::StrAppend(&out, "qfleet_rpc_latency_seconds_bucket{method=\"", m, "\",le=\"",
                      Number(kLatencyBuckets[i]), "\"} ", cumulative, "\n");
    }
    cumulative += h.counts.back();
    absl::StrAppend(&out, "qfleet_rpc_latency_seconds_bucket{method=\"", m, "\",le=\"+Inf\"} ",
                    cumulative, "\n");
    absl::StrAppend(&out, "qfleet_rpc_latency_seconds_sum{method=\"", m, "\"} ", Number(h.sum),
                    "\n");
    absl::StrAppend(&out, "qfleet_rpc_latency_seconds_count{method=\"", m, "\"} ", h.count, "\n");
  }
  absl::StrAppend(&out,
                  "# HELP qfleet_rpc_total Finished gRPC calls by method and status code.\n"
                  "# TYPE qfleet_rpc_total counter\n");
  for (const auto& [key, n] : calls_) {
    absl::StrAppend(&out, "qfleet_rpc_total{method=\"", Label(key.first), "\",code=\"",
                    Label(key.second), "\"} ", n, "\n");
  }
  return out;
}

}  // namespace qfleet::cloud
