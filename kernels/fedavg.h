#ifndef QFLEET_KERNELS_FEDAVG_H_
#define QFLEET_KERNELS_FEDAVG_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "kernels/device_kind.h"

namespace qfleet::kernels {

// out[i] = sum_k weights[k] * inputs[k][i] / sum_k weights[k], for i < n.
//
// The sum runs over clients in the order given, in double precision, so the
// result does not depend on thread count or arrival order: callers pass
// clients in a fixed order (by device id). Returns InvalidArgument when the
// spans differ in size, a weight is negative/non-finite, all weights are
// zero, or a pointer is null; Unimplemented for kCuda unless CudaAvailable()
// (for kCuda the buffers may be host or device memory, the pointer array and
// weights are host memory). `out` may not alias an input. Thread-safe.
absl::Status WeightedAverage(DeviceKind device,
                             absl::Span<const float* const> inputs,
                             absl::Span<const double> weights, size_t n,
                             float* out);

// Scalar reference: defines the result.
void WeightedAverageRef(const float* const* inputs, const double* weights,
                        size_t clients, size_t n, float* out);
// Blocked CPU version; bit-identical to the reference.
void WeightedAverageCpu(const float* const* inputs, const double* weights,
                        size_t clients, size_t n, float* out);

#if defined(QFLEET_WITH_CUDA)
// CUDA version (kernels/cuda/fedavg.cu): the same per-element operations with
// explicitly rounded double arithmetic, so bit-identical to the reference.
// Returns Internal / ResourceExhausted for CUDA errors. Arguments are not
// checked. Thread-safe; blocks until done.
absl::Status WeightedAverageCuda(const float* const* inputs, const double* weights,
                                 size_t clients, size_t n, float* out);
#endif

}  // namespace qfleet::kernels

#endif  // QFLEET_KERNELS_FEDAVG_H_
