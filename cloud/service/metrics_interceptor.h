#ifndef QFLEET_CLOUD_SERVICE_METRICS_INTERCEPTOR_H_
#define QFLEET_CLOUD_SERVICE_METRICS_INTERCEPTOR_H_

#include <chrono>

#include <grpcpp/support/server_interceptor.h>

#include "cloud/metrics/coordinator_metrics.h"

namespace qfleet::cloud {

// Server interceptor that feeds CoordinatorMetrics: one RecordRpc per call
// (method, status code, seconds from creation to the status being sent) and
// the protobuf payload bytes of every message received and sent by
// qfleet's own (protobuf) services. Method labels come from the server's
// registered methods, never from the client, so their number is bounded.
class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(grpc::experimental::ServerRpcInfo* info, CoordinatorMetrics* metrics);
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override;

 private:
  absl::string_view method_;
  CoordinatorMetrics* metrics_;
  std::chrono::steady_clock::time_point start_;
  bool count_bytes_ = false;
};

// Creates a MetricsInterceptor per call. `metrics` is not owned and must
// outlive the server. Thread-safe.
class MetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(CoordinatorMetrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  CoordinatorMetrics* metrics_;
};

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_SERVICE_METRICS_INTERCEPTOR_H_
