#include <cuda_runtime.h>

#include "kernels/device_kind.h"

namespace qfleet::kernels {

// The CUDA build's definition (kernels/device_kind.cc has the one for builds
// without CUDA): true when the runtime finds at least one device. A missing
// driver counts as no device. Queried once.
bool CudaAvailable() {
  static const bool available = [] {
    int count = 0;
    const bool ok = cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
    cudaGetLastError();  // do not leave the query's error for the next call
    return ok;
  }();
  return available;
}

}  // namespace qfleet::kernels
