#ifndef QFLEET_PROTOS_STATUS_CONVERSION_H_
#define QFLEET_PROTOS_STATUS_CONVERSION_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace qfleet {

// The one mapping between absl::Status and grpc::Status (codes are numbered
// alike); the message travels unchanged.
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace qfleet

#endif  // QFLEET_PROTOS_STATUS_CONVERSION_H_
