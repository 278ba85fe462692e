#include <vector>

#include "common/bit_packing.h"
#include "common/status_macros.h"
#include "kernels/cuda/cuda_buffer.h"
#include "kernels/quant_math.h"
#include "kernels/quant_pack.h"

namespace qfleet::kernels {
namespace {

// A row's codes in groups of 8: group g (codes 8g .. 8g+7) owns packed bytes
// [g*bits, g*bits + ceil(count*bits/8)) of the row, so one thread per group
// writes disjoint bytes. Rows stride over blockIdx.y, groups over x.
__global__ void QuantizePackKernel(const float* in, size_t channels, size_t row_len,
                                   const uint8_t* bits, const float* scales,
                                   const int32_t* zero_points, const size_t* row_offsets,
                                   uint8_t* packed) {
  const size_t groups = (row_len + 7) / 8;
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t c = blockIdx.y; c < channels; c += gridDim.y) {
    const float scale = scales[c];
    const int32_t zero = zero_points[c];
    const int b = bits[c];
    const float* x = in + c * row_len;
    uint8_t* row = packed + row_offsets[c];
    for (size_t g = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; g < groups;
         g += stride) {
      const size_t first = 8 * g;
      const int count = row_len - first < 8 ? static_cast<int>(row_len - first) : 8;
      uint64_t acc = 0;
      for (int k = 0; k < count; ++k) {
        acc |= static_cast<uint64_t>(QuantizeCode(x[first + k], scale, zero, b)) << (k * b);
      }
      uint8_t* o = row + g * b;
      const int bytes = (count * b + 7) / 8;
      for (int j = 0; j < bytes; ++j) o[j] = static_cast<uint8_t>(acc >> (8 * j));
    }
  }
}

__global__ void UnpackDequantizeKernel(const uint8_t* packed, size_t channels, size_t row_len,
                                       const uint8_t* bits, const float* scales,
                                       const int32_t* zero_points, const size_t* row_offsets,
                                       float* out) {
  const size_t groups = (row_len + 7) / 8;
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t c = blockIdx.y; c < channels; c += gridDim.y) {
    const float scale = scales[c];
    const int32_t zero = zero_points[c];
    const int b = bits[c];
    const uint64_t mask = (uint64_t{1} << b) - 1;
    const uint8_t* row = packed + row_offsets[c];
    float* y = out + c * row_len;
    for (size_t g = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; g < groups;
         g += stride) {
      const size_t first = 8 * g;
      const int count = row_len - first < 8 ? static_cast<int>(row_len - first) : 8;
      const uint8_t* p = row + g * b;
      const int bytes = (count * b + 7) / 8;
      uint64_t acc = 0;
      for (int j = 0; j < bytes; ++j) acc |= static_cast<uint64_t>(p[j]) << (8 * j);
      for (int k = 0; k < count; ++k) {
        y[first + k] =
            DequantizeCode(static_cast<uint8_t>((acc >> (k * b)) & mask), scale, zero);
      }
    }
  }
}

// Device copies of the per-channel params and the row offsets (prefix sums
// of the packed row sizes).
struct DeviceParams {
  cuda::DeviceView bits, scales, zeros, offsets;
  std::vector<size_t> host_offsets;

  absl::Status Upload(const PerChannelParams& p, size_t channels, size_t row_len) {
    host_offsets.resize(channels);
    size_t offset = 0;
    for (size_t c = 0; c < channels; ++c) {
      host_offsets[c] = offset;
      offset += PackedBytes(row_len, p.bits[c]);
    }
    RETURN_IF_ERROR(bits.Map(p.bits, channels, /*copy_in=*/true));
    RETURN_IF_ERROR(scales.Map(p.scales, channels * sizeof(float), true));
    RETURN_IF_ERROR(zeros.Map(p.zero_points, channels * sizeof(int32_t), true));
    return offsets.Map(host_offsets.data(), channels * sizeof(size_t), true);
  }
};

}  // namespace

absl::Status QuantizePackPerChannelCuda(const float* in, size_t channels, size_t row_len,
                                        const PerChannelParams& params, uint8_t* packed,
                                        size_t packed_size) {
  if (channels * row_len == 0) return absl::OkStatus();
  cuda::DeviceView x, o;
  DeviceParams p;
  RETURN_IF_ERROR(x.Map(in, channels * row_len * sizeof(float), /*copy_in=*/true));
  RETURN_IF_ERROR(o.Map(packed, packed_size, /*copy_in=*/false));
  RETURN_IF_ERROR(p.Upload(params, channels, row_len));
  QuantizePackKernel<<<cuda::RowGrid(channels, (row_len + 7) / 8), cuda::kBlockThreads>>>(
      x.as<const float>(), channels, row_len, p.bits.as<const uint8_t>(),
      p.scales.as<const float>(), p.zeros.as<const int32_t>(), p.offsets.as<const size_t>(),
      o.as<uint8_t>());
  RETURN_IF_ERROR(cuda::SyncAfterLaunch("QuantizePackPerChannelCuda"));
  return o.CopyBack();
}

absl::Status UnpackDequantizePerChannelCuda(const uint8_t* packed, size_t packed_size,
                                            size_t channels, size_t row_len,
                                            const PerChannelParams& params, float* out) {
  if (channels * row_len == 0) return absl::OkStatus();
  cuda::DeviceView in, y;
  DeviceParams p;
  RETURN_IF_ERROR(in.Map(packed, packed_size, /*copy_in=*/true));
  RETURN_IF_ERROR(y.Map(out, channels * row_len * sizeof(float), /*copy_in=*/false));
  RETURN_IF_ERROR(p.Upload(params, channels, row_len));
  UnpackDequantizeKernel<<<cuda::RowGrid(channels, (row_len + 7) / 8), cuda::kBlockThreads>>>(
      in.as<const uint8_t>(), channels, row_len, p.bits.as<const uint8_t>(),
      p.scales.as<const float>(), p.zeros.as<const int32_t>(), p.offsets.as<const size_t>(),
      y.as<float>());
  RETURN_IF_ERROR(cuda::SyncAfterLaunch("UnpackDequantizePerChannelCuda"));
  return y.CopyBack();
}

}  // namespace qfleet::kernels
