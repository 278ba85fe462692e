#include <algorithm>
#include <cstdint>
#include <vector>

#include <cub/device/device_segmented_sort.cuh>

#include "common/status_macros.h"
#include "kernels/cuda/cuda_buffer.h"
#include "kernels/relevance_tiers.h"

namespace qfleet::kernels {
namespace {

constexpr int kTile = 16;
// Items x users per chunk: bounds the device memory (about 24 bytes each).
constexpr int64_t kChunkElements = int64_t{1} << 25;

// A device allocation owned for the duration of a call.
class DeviceAlloc {
 public:
  DeviceAlloc() = default;
  DeviceAlloc(const DeviceAlloc&) = delete;
  DeviceAlloc& operator=(const DeviceAlloc&) = delete;
  ~DeviceAlloc() {
    if (ptr_ != nullptr) cudaFree(ptr_);
  }
  // Replaces any earlier allocation.
  absl::Status Alloc(size_t bytes) {
    if (ptr_ != nullptr) cudaFree(ptr_);
    ptr_ = nullptr;
    return cuda::CudaStatus(cudaMalloc(&ptr_, bytes == 0 ? 1 : bytes), "cudaMalloc");
  }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
};

// rel[u, r] = sum_k q[u, k] * rows[r, k] over k ascending, each product and
// sum explicitly rounded (as RelevanceTierCodesRef computes it), -0.0 made
// +0.0; idx[u, r] = r. Tiles of kTile users x kTile items share their
// query and row slices through shared memory.
__global__ void RelevanceKernel(const float* q, const float* rows, int64_t users, int64_t items,
                                int64_t width, double* rel, int32_t* idx) {
  __shared__ double qs[kTile][kTile + 1];
  __shared__ double rs[kTile][kTile + 1];
  const int64_t u = static_cast<int64_t>(blockIdx.y) * kTile + threadIdx.y;
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kTile + threadIdx.x;
  const int64_t r_load = static_cast<int64_t>(blockIdx.x) * kTile + threadIdx.y;
  double acc = 0.0;
  for (int64_t k0 = 0; k0 < width; k0 += kTile) {
    const int64_t k = k0 + threadIdx.x;
    qs[threadIdx.y][threadIdx.x] =
        (u < users && k < width) ? static_cast<double>(q[u * width + k]) : 0.0;
    rs[threadIdx.y][threadIdx.x] =
        (r_load < items && k < width) ? static_cast<double>(rows[r_load * width + k]) : 0.0;
    __syncthreads();
    const int64_t kmax = width - k0 < kTile ? width - k0 : kTile;
    for (int64_t kk = 0; kk < kmax; ++kk) {
      acc = __dadd_rn(acc, __dmul_rn(qs[threadIdx.y][kk], rs[threadIdx.x][kk]));
    }
    __syncthreads();
  }
  if (u < users && r < items) {
    rel[u * items + r] = __dadd_rn(acc, 0.0);
    idx[u * items + r] = static_cast<int32_t>(r);
  }
}

// Every user's row of codes starts as the fixed codes (head and last
// channels; item channels are overwritten by WalkKernel).
__global__ void FillFixedKernel(const uint8_t* fixed, int64_t users, int64_t channels,
                                uint8_t* codes) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (int64_t u = blockIdx.y; u < users; u += gridDim.y) {
    for (size_t c = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
         c < static_cast<size_t>(channels); c += stride) {
      codes[u * channels + c] = fixed[c];
    }
  }
}

// One thread per user walks its items in sorted order (runs of equal
// relevance block by block), as WalkSorted in relevance_tiers.cc does.
__global__ void WalkKernel(const double* rel_sorted, const int32_t* order, int64_t users,
                           int64_t items, const int64_t* blocks, const double* block_elements,
                           int num_blocks, double head, double cut0, double cut1, double cut2,
                           int64_t channels, uint8_t* codes) {
  const int64_t u = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (u >= users) return;
  const double* rv = rel_sorted + u * items;
  const int32_t* ov = order + u * items;
  uint8_t* out = codes + u * channels;
  double cum = head;
  for (int64_t j = 0; j < items;) {
    int64_t end = j + 1;
    while (end < items && rv[end] == rv[j]) ++end;
    for (int b = 0; b < num_blocks; ++b) {
      for (int64_t i = j; i < end; ++i) {
        cum = __dadd_rn(cum, block_elements[b]);
        out[blocks[b] + ov[i]] = static_cast<uint8_t>((cum > cut0) + (cum > cut1) + (cum > cut2));
      }
    }
    j = end;
  }
}

}  // namespace

absl::Status RelevanceTierCodesCuda(const RelevanceTierPlan& plan, const float* queries,
                                    size_t users, uint8_t* codes) {
  const RelevanceTierSpec& s = plan.spec();
  const int64_t items = s.items, width = s.width, channels = s.channels;
  // The relevance grid's y extent (users / kTile) stays within 65535.
  const int64_t chunk = std::max<int64_t>(
      1, std::min<int64_t>({static_cast<int64_t>(users), kChunkElements / items,
                            int64_t{65535} * kTile}));

  cuda::DeviceView d_rows, d_fixed, d_blocks, d_block_el;
  RETURN_IF_ERROR(d_rows.Map(s.item_rows.data(), s.item_rows.size() * sizeof(float), true));
  RETURN_IF_ERROR(
      d_fixed.Map(plan.fixed_codes().data(), plan.fixed_codes().size() * sizeof(uint8_t), true));
  RETURN_IF_ERROR(
      d_blocks.Map(plan.blocks().data(), plan.blocks().size() * sizeof(int64_t), true));
  RETURN_IF_ERROR(d_block_el.Map(plan.block_elements().data(),
                                 plan.block_elements().size() * sizeof(double), true));

  const size_t cells = static_cast<size_t>(chunk * items);
  DeviceAlloc rel, rel_sorted, idx, idx_sorted, offsets, temp;
  RETURN_IF_ERROR(rel.Alloc(cells * sizeof(double)));
  RETURN_IF_ERROR(rel_sorted.Alloc(cells * sizeof(double)));
  RETURN_IF_ERROR(idx.Alloc(cells * sizeof(int32_t)));
  RETURN_IF_ERROR(idx_sorted.Alloc(cells * sizeof(int32_t)));
  std::vector<int64_t> host_offsets(chunk + 1);
  for (int64_t i = 0; i <= chunk; ++i) host_offsets[i] = i * items;
  RETURN_IF_ERROR(offsets.Alloc(host_offsets.size() * sizeof(int64_t)));
  RETURN_IF_ERROR(cuda::CudaStatus(
      cudaMemcpy(offsets.as<void>(), host_offsets.data(), host_offsets.size() * sizeof(int64_t),
                 cudaMemcpyHostToDevice),
      "cudaMemcpy offsets"));
  size_t temp_bytes = 0;  // the sort's scratch space, grown as a chunk asks

  for (size_t u0 = 0; u0 < users; u0 += static_cast<size_t>(chunk)) {
    const int64_t n = std::min<int64_t>(chunk, static_cast<int64_t>(users - u0));
    cuda::DeviceView d_q, d_codes;
    RETURN_IF_ERROR(d_q.Map(queries + u0 * width, n * width * sizeof(float), true));
    RETURN_IF_ERROR(d_codes.Map(codes + u0 * channels, n * channels, false));
    const dim3 tile(kTile, kTile);
    const dim3 grid(static_cast<unsigned>((items + kTile - 1) / kTile),
                    static_cast<unsigned>((n + kTile - 1) / kTile));
    RelevanceKernel<<<grid, tile>>>(d_q.as<const float>(), d_rows.as<const float>(), n, items,
                                    width, rel.as<double>(), idx.as<int32_t>());
    RETURN_IF_ERROR(cuda::SyncAfterLaunch("RelevanceKernel"));
    size_t need = 0;
    RETURN_IF_ERROR(cuda::CudaStatus(
        cub::DeviceSegmentedSort::StableSortPairsDescending(
            nullptr, need, rel.as<const double>(), rel_sorted.as<double>(),
            idx.as<const int32_t>(), idx_sorted.as<int32_t>(), n * items, n,
            offsets.as<const int64_t>(), offsets.as<const int64_t>() + 1),
        "segmented sort (size)"));
    // A null scratch pointer would make the call below a size query again.
    if (temp.as<void>() == nullptr || need > temp_bytes) {
      RETURN_IF_ERROR(temp.Alloc(need));
      temp_bytes = need;
    }
    RETURN_IF_ERROR(cuda::CudaStatus(
        cub::DeviceSegmentedSort::StableSortPairsDescending(
            temp.as<void>(), temp_bytes, rel.as<const double>(), rel_sorted.as<double>(),
            idx.as<const int32_t>(), idx_sorted.as<int32_t>(), n * items, n,
            offsets.as<const int64_t>(), offsets.as<const int64_t>() + 1),
        "segmented sort"));
    FillFixedKernel<<<cuda::RowGrid(static_cast<size_t>(n), static_cast<size_t>(channels)),
                      cuda::kBlockThreads>>>(d_fixed.as<const uint8_t>(), n, channels,
                                             d_codes.as<uint8_t>());
    RETURN_IF_ERROR(cuda::SyncAfterLaunch("FillFixedKernel"));
    const unsigned walk_blocks =
        static_cast<unsigned>((n + cuda::kBlockThreads - 1) / cuda::kBlockThreads);
    WalkKernel<<<walk_blocks, cuda::kBlockThreads>>>(
        rel_sorted.as<const double>(), idx_sorted.as<const int32_t>(), n, items,
        d_blocks.as<const int64_t>(), d_block_el.as<const double>(),
        static_cast<int>(plan.blocks().size()), plan.head_elements(), plan.cuts()[0],
        plan.cuts()[1], plan.cuts()[2], channels, d_codes.as<uint8_t>());
    RETURN_IF_ERROR(cuda::SyncAfterLaunch("WalkKernel"));
    RETURN_IF_ERROR(d_codes.CopyBack());
  }
  return absl::OkStatus();
}

}  // namespace qfleet::kernels
