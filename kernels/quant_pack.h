#ifndef QFLEET_KERNELS_QUANT_PACK_H_
#define QFLEET_KERNELS_QUANT_PACK_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "kernels/device_kind.h"
#include "kernels/per_channel_params.h"

namespace qfleet::kernels {

// Packed layout (the kPackedPerChannel layout of common/tensor.h): the rows of
// a [channels x row_len] matrix one after another; row c starts on a byte
// boundary and holds row_len codes of bits[c] bits in
// PackedBytes(row_len, bits[c]) bytes, as one LSB-first bit stream (the
// PackBits layout of common/bit_packing.h: code i of a row occupies stream
// bits [i*b, (i+1)*b), code 0 in the low bits of the row's first byte).
// Unused high bits of a row's last byte are zero. Every group of 8 codes
// fills exactly bits[c] whole bytes, which the fast kernels exploit.
// PackedRowsBytes (kernels/per_channel_params.h) gives the total size.

// Quantizes each element with QuantizeCode(x, scales[c], zero_points[c],
// bits[c]) (kernels/quant_math.h) and packs the codes into `packed` in the
// layout above; the bytes equal common's QuantizePerChannel `packed` for the
// same params. `packed_size` must equal PackedRowsBytes(row_len, bits,
// channels). Returns InvalidArgument for null pointers, an overflowing
// element count, a wrong packed_size or bad params; Unimplemented for kCuda
// unless CudaAvailable(). For kCuda `in` and `packed` may be host or device
// memory; params are host memory. Thread-safe; blocks until done.
absl::Status QuantizePackPerChannel(DeviceKind device, const float* in, size_t channels,
                                    size_t row_len, const PerChannelParams& params,
                                    uint8_t* packed, size_t packed_size);

// Inverse: unpacks each row's codes and writes DequantizeCode(q, scales[c],
// zero_points[c]) to `out` (the values DequantizeTensor returns). Codes are
// taken as stored (padding bits ignored). Fails like QuantizePackPerChannel.
// Thread-safe; blocks until done.
absl::Status UnpackDequantizePerChannel(DeviceKind device, const uint8_t* packed,
                                        size_t packed_size, size_t channels, size_t row_len,
                                        const PerChannelParams& params, float* out);

// Scalar references: define the results. Arguments are not checked.
// Thread-safe.
void QuantizePackPerChannelRef(const float* in, size_t channels, size_t row_len,
                               const PerChannelParams& params, uint8_t* packed);
void UnpackDequantizePerChannelRef(const uint8_t* packed, size_t channels, size_t row_len,
                                   const PerChannelParams& params, float* out);

// Fast CPU versions (AVX2 when the CPU has it, else portable; 8 codes per
// step), bit-identical to the references. Single-threaded; arguments are not
// checked. Thread-safe.
void QuantizePackPerChannelCpu(const float* in, size_t channels, size_t row_len,
                               const PerChannelParams& params, uint8_t* packed);
void UnpackDequantizePerChannelCpu(const uint8_t* packed, size_t channels, size_t row_len,
                                   const PerChannelParams& params, float* out);

#if defined(QFLEET_WITH_CUDA)
// CUDA versions (kernels/cuda/quant_pack.cu), bit-identical to the
// references. Return Internal / ResourceExhausted for CUDA errors. Arguments
// are not checked; packed_size is PackedRowsBytes(row_len, bits, channels).
// Thread-safe; blocks until done.
absl::Status QuantizePackPerChannelCuda(const float* in, size_t channels, size_t row_len,
                                        const PerChannelParams& params, uint8_t* packed,
                                        size_t packed_size);
absl::Status UnpackDequantizePerChannelCuda(const uint8_t* packed, size_t packed_size,
                                            size_t channels, size_t row_len,
                                            const PerChannelParams& params, float* out);
#endif

}  // namespace qfleet::kernels

#endif  // QFLEET_KERNELS_QUANT_PACK_H_
