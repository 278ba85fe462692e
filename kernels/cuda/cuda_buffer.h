#ifndef QFLEET_KERNELS_CUDA_CUDA_BUFFER_H_
#define QFLEET_KERNELS_CUDA_CUDA_BUFFER_H_

// Host-side helpers shared by the .cu kernels: CUDA error -> absl::Status and
// a caller's buffer as seen by a kernel. Included only by kernels/cuda/*.cu.

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace qfleet::kernels::cuda {

// OK for cudaSuccess; ResourceExhausted for allocation failures; Internal
// otherwise, naming `what` and the CUDA error. Thread-safe.
absl::Status CudaStatus(cudaError_t err, const char* what);

// Status of the last kernel launch plus the completion of all work queued on
// the default stream. Thread-safe.
absl::Status SyncAfterLaunch(const char* what);

// A caller's buffer as a kernel sees it: the caller's pointer when CUDA
// reports device or managed memory, otherwise a temporary device copy that
// is freed on destruction. Not copyable. Thread-compatible.
class DeviceView {
 public:
  DeviceView() = default;
  DeviceView(const DeviceView&) = delete;
  DeviceView& operator=(const DeviceView&) = delete;
  DeviceView(DeviceView&& other) noexcept;
  DeviceView& operator=(DeviceView&&) = delete;
  ~DeviceView();

  // Maps `bytes` bytes at `ptr` (may be null when bytes == 0). copy_in: a
  // temporary copy is filled from the host buffer. Call at most once.
  absl::Status Map(const void* ptr, size_t bytes, bool copy_in);
  // Copies a temporary copy back to the caller's host buffer; no-op when the
  // caller's pointer was used directly.
  absl::Status CopyBack() const;

  void* get() const { return device_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(device_);
  }

 private:
  void* host_ = nullptr;
  void* device_ = nullptr;
  size_t bytes_ = 0;
  bool owned_ = false;
};

// Threads per block of every qfleet kernel.
constexpr unsigned kBlockThreads = 256;

// Grid for kernels that stride over rows with blockIdx.y and over the items
// of a row with blockIdx.x * blockDim.x + threadIdx.x: enough blocks to give
// each item a thread, capped (grid-stride loops cover the rest).
inline dim3 RowGrid(size_t rows, size_t items_per_row) {
  const size_t y = rows < 65535 ? (rows == 0 ? 1 : rows) : 65535;
  size_t x = (items_per_row + kBlockThreads - 1) / kBlockThreads;
  const size_t max_x = (size_t{1} << 16) / y + 1;
  if (x > max_x) x = max_x;
  if (x == 0) x = 1;
  return dim3(static_cast<unsigned>(x), static_cast<unsigned>(y), 1);
}

}  // namespace qfleet::kernels::cuda

#endif  // QFLEET_KERNELS_CUDA_CUDA_BUFFER_H_
