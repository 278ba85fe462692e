#ifndef QFLEET_KERNELS_FAKE_QUANT_H_
#define QFLEET_KERNELS_FAKE_QUANT_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "common/quantizer.h"
#include "kernels/device_kind.h"
#include "kernels/per_channel_params.h"

namespace qfleet::kernels {

// Mixed-precision fake quantization of a row-major [channels x row_len] FP32
// matrix: out[c*row_len + i] = FakeQuantValue(in[...], scales[c],
// zero_points[c], bits[c]) (kernels/quant_math.h), i.e. quantize to a code
// and dequantize, exactly as common's QuantizeValue / DequantizeValue do.
// NaN inputs give the value of code 0. `out` may equal `in` (in place) but
// must not otherwise overlap it.
//
// Returns InvalidArgument for null pointers, an element count that
// overflows, partial overlap, or bad params (bits outside 1..8, scale <= 0,
// NaN or Inf, zero point outside 0..2^bits-1); Unimplemented for kCuda unless
// CudaAvailable(). For kCuda, `in` and `out` may be host or device memory;
// the params are host memory. Thread-safe; blocks until done.
absl::Status FakeQuantPerChannel(DeviceKind device, const float* in, size_t channels,
                                 size_t row_len, const PerChannelParams& params, float* out);

// Min-max fake quantization: for each channel, computes min and max
// (ChannelMinMax), then scale and zero point with MinMaxQuantParams
// (identical to ChooseChannelParams with Observer::kMinMax and `scheme`),
// then fake-quantizes as above. The result equals common's
// FakeQuantizePerChannel(kMinMax) bit for bit. `scales` and `zero_points`
// (`channels` entries each) receive the chosen params and may be null.
// Fails like FakeQuantPerChannel, plus InvalidArgument for a NaN/Inf input,
// a null `bits` or an unknown scheme. Thread-safe; blocks until done.
absl::Status FakeQuantPerChannelMinMax(DeviceKind device, const float* in, size_t channels,
                                       size_t row_len, const uint8_t* bits,
                                       QuantScheme scheme, float* out, float* scales,
                                       int32_t* zero_points);

// Scalar reference: defines the result. Arguments are not checked.
// Thread-safe.
void FakeQuantPerChannelRef(const float* in, size_t channels, size_t row_len,
                            const PerChannelParams& params, float* out);

// Fast CPU version (AVX2 when the CPU has it, else portable; non-temporal
// stores for outputs of kStreamingStoreBytes or more), bit-identical to the
// reference. Single-threaded; arguments are not checked. Thread-safe.
void FakeQuantPerChannelCpu(const float* in, size_t channels, size_t row_len,
                            const PerChannelParams& params, float* out);

// Output size from which FakeQuantPerChannelCpu bypasses the cache with
// streaming stores: larger than a typical last-level cache share, so the
// output would be evicted before anyone reads it again.
constexpr size_t kStreamingStoreBytes = size_t{16} << 20;

#if defined(QFLEET_WITH_CUDA)
// CUDA version (kernels/cuda/fake_quant.cu), bit-identical to the reference.
// Returns Internal / ResourceExhausted for CUDA errors. Arguments are not
// checked. Thread-safe; blocks until done.
absl::Status FakeQuantPerChannelCuda(const float* in, size_t channels, size_t row_len,
                                     const PerChannelParams& params, float* out);
#endif

}  // namespace qfleet::kernels

#endif  // QFLEET_KERNELS_FAKE_QUANT_H_
