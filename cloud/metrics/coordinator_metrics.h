#ifndef QFLEET_CLOUD_METRICS_COORDINATOR_METRICS_H_
#define QFLEET_CLOUD_METRICS_COORDINATOR_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace qfleet::cloud {

// Fleet-level values read from the coordinator's state when scraped.
struct FleetGauges {
  uint64_t devices_registered = 0;
  uint64_t devices_online = 0;    // active and within their lease
  uint64_t rounds_completed = 0;  // rounds in state "done" (survives restarts)
  uint64_t rounds_cancelled = 0;  // rounds an operator cancelled
  uint64_t rounds_failed = 0;     // rounds that closed without an aggregate
  // Join tokens by JoinTokenState ("active", "expired", "revoked",
  // "used_up"), and the devices they have enrolled in all.
  std::map<std::string, uint64_t> join_tokens;
  uint64_t join_token_enrollments = 0;
};

// The coordinator's operational metrics, rendered in the Prometheus text
// exposition format 0.0.4:
//   qfleet_rpc_total{method,code}          counter
//   qfleet_rpc_latency_seconds{method}     histogram (kLatencyBuckets)
//   qfleet_bytes_received_total / _sent_total  counters, protobuf payload bytes
//   qfleet_devices_online, qfleet_devices_registered  gauges
//   qfleet_rounds_completed_total          counter
//   qfleet_rounds_cancelled_total, qfleet_rounds_failed_total  counters
//   qfleet_join_tokens{state}              gauge (every state, 0 included)
//   qfleet_join_token_enrollments_total    counter
// Recording is cheap (atomics, or one small mutex-guarded map update per
// RPC). All methods are thread-safe.
class CoordinatorMetrics {
 public:
  // Upper bounds of the latency histogram buckets, seconds (+Inf implied).
  static constexpr std::array<double, 14> kLatencyBuckets = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

  // Counts one finished RPC: `method` as gRPC names it without the leading
  // slash ("qfleet.fleet.v1.FleetService/PullTask"), `code` the status name
  // ("OK", "UNAUTHENTICATED"), `seconds` from first metadata to status.
  void RecordRpc(absl::string_view method, absl::string_view code, double seconds);
  void AddBytesReceived(uint64_t n) { bytes_received_.fetch_add(n, std::memory_order_relaxed); }
  void AddBytesSent(uint64_t n) { bytes_sent_.fetch_add(n, std::memory_order_relaxed); }

  // The whole exposition, series sorted by name and labels.
  std::string Render(const FleetGauges& gauges) const;

 private:
  struct Histogram {
    std::array<uint64_t, kLatencyBuckets.size() + 1> counts{};  // last = +Inf
    double sum = 0;
    uint64_t count = 0;
  };

  std::atomic<uint64_t> bytes_received_{0};
  std::atomic<uint64_t> bytes_sent_{0};
  mutable absl::Mutex mu_;
  std::map<std::pair<std::string, std::string>, uint64_t> calls_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Histogram> latency_ ABSL_GUARDED_BY(mu_);
};

// Name of a gRPC status code as Prometheus labels and grpcurl show it
// ("OK", "INVALID_ARGUMENT", ...); "UNKNOWN" for values outside 0..16.
absl::string_view GrpcCodeName(int code);

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_METRICS_COORDINATOR_METRICS_H_
