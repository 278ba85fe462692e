#include "kernels/device_kind.h"

namespace qfleet::kernels {

#ifndef QFLEET_WITH_CUDA
bool CudaAvailable() { return false; }
#endif

}  // namespace qfleet::kernels
