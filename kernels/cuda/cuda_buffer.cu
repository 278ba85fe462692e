#include "kernels/cuda/cuda_buffer.h"

#include <string>
#include <utility>

namespace qfleet::kernels::cuda {

absl::Status CudaStatus(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return absl::OkStatus();
  std::string msg = std::string(what) + ": " + cudaGetErrorName(err) + " (" +
                    cudaGetErrorString(err) + ")";
  if (err == cudaErrorMemoryAllocation) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

absl::Status SyncAfterLaunch(const char* what) {
  absl::Status s = CudaStatus(cudaGetLastError(), what);
  if (!s.ok()) return s;
  return CudaStatus(cudaStreamSynchronize(0), what);
}

DeviceView::DeviceView(DeviceView&& other) noexcept
    : host_(std::exchange(other.host_, nullptr)),
      device_(std::exchange(other.device_, nullptr)),
      bytes_(std::exchange(other.bytes_, 0)),
      owned_(std::exchange(other.owned_, false)) {}

DeviceView::~DeviceView() {
  if (owned_) cudaFree(device_);
}

absl::Status DeviceView::Map(const void* ptr, size_t bytes, bool copy_in) {
  host_ = const_cast<void*>(ptr);
  bytes_ = bytes;
  if (bytes == 0) return absl::OkStatus();
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, ptr) == cudaSuccess &&
      (attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged)) {
    device_ = host_;
    return absl::OkStatus();
  }
  cudaGetLastError();  // clear a sticky-free error from the query
  absl::Status s = CudaStatus(cudaMalloc(&device_, bytes), "cudaMalloc");
  if (!s.ok()) {
    device_ = nullptr;
    return s;
  }
  owned_ = true;
  if (!copy_in) return absl::OkStatus();
  return CudaStatus(cudaMemcpy(device_, ptr, bytes, cudaMemcpyHostToDevice), "cudaMemcpy H2D");
}

absl::Status DeviceView::CopyBack() const {
  if (!owned_ || bytes_ == 0) return absl::OkStatus();
  return CudaStatus(cudaMemcpy(host_, device_, bytes_, cudaMemcpyDeviceToHost),
                    "cudaMemcpy D2H");
}

}  // namespace qfleet::kernels::cuda
