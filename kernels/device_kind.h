#ifndef QFLEET_KERNELS_DEVICE_KIND_H_
#define QFLEET_KERNELS_DEVICE_KIND_H_

namespace qfleet::kernels {

// Where a kernel runs. Front ends dispatch on this; a build without CUDA has
// no kCuda entries and returns Unimplemented when asked for one.
enum class DeviceKind { kRef, kCpu, kCuda };

// True when this build registered CUDA kernels and a CUDA device is present.
bool CudaAvailable();

}  // namespace qfleet::kernels

#endif  // QFLEET_KERNELS_DEVICE_KIND_H_
