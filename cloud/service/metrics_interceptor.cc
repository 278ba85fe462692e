#include "cloud/service/metrics_interceptor.h"

#include <google/protobuf/message_lite.h>
#include <grpcpp/support/byte_buffer.h>

#include "absl/strings/match.h"
#include "absl/strings/strip.h"

namespace qfleet::cloud {

namespace gx = grpc::experimental;

MetricsInterceptor::MetricsInterceptor(gx::ServerRpcInfo* info, CoordinatorMetrics* metrics)
    : method_(info->method() != nullptr ? info->method() : "unknown"),
      metrics_(metrics),
      start_(std::chrono::steady_clock::now()) {
  absl::ConsumePrefix(&method_, "/");
  // Only qfleet's own methods carry protobuf messages the casts below
  // rely on (the unknown-method handler, for one, does not).
  count_bytes_ = absl::StartsWith(method_, "qfleet.");
}

void MetricsInterceptor::Intercept(gx::InterceptorBatchMethods* methods) {
  if (count_bytes_ &&
      methods->QueryInterceptionHookPoint(gx::InterceptionHookPoints::POST_RECV_MESSAGE)) {
    // The generated service hands gRPC its protobuf request objects, whose
    // MessageLite base sits at the start of the object.
    if (void* message = methods->GetRecvMessage(); message != nullptr) {
      metrics_->AddBytesReceived(
          static_cast<const google::protobuf::MessageLite*>(message)->ByteSizeLong());
    }
  }
  if (count_bytes_ &&
      methods->QueryInterceptionHookPoint(gx::InterceptionHookPoints::PRE_SEND_MESSAGE)) {
    if (const void* message = methods->GetSendMessage(); message != nullptr) {
      metrics_->AddBytesSent(
          static_cast<const google::protobuf::MessageLite*>(message)->ByteSizeLong());
    } else if (grpc::ByteBuffer* buffer = methods->GetSerializedSendMessage(); buffer != nullptr) {
      metrics_->AddBytesSent(buffer->Length());
    }
  }
  if (methods->QueryInterceptionHookPoint(gx::InterceptionHookPoints::PRE_SEND_STATUS)) {
    const grpc::Status status = methods->GetSendStatus();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    metrics_->RecordRpc(method_, GrpcCodeName(status.error_code()), seconds);
  }
  methods->Proceed();
}

gx::Interceptor* MetricsInterceptorFactory::CreateServerInterceptor(gx::ServerRpcInfo* info) {
  return new MetricsInterceptor(info, metrics_);
}

}  // namespace qfleet::cloud
