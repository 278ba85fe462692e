#ifndef QFLEET_KERNELS_CPU_CPU_VARIANTS_H_
#define QFLEET_KERNELS_CPU_CPU_VARIANTS_H_

// The instruction-set variants behind each `...Cpu` kernel. `...Cpu` picks
// one at run time (CpuHasAvx2Fma); tests call each variant directly so the
// path a machine does not pick is still checked against the reference.
// Arguments are never checked here: the front ends do that. Every variant is
// single-threaded and thread-safe (no shared state).

#include <cstddef>
#include <cstdint>

#include "kernels/per_channel_params.h"

namespace qfleet::kernels {

// True when the running CPU supports AVX2 and FMA (queried once, cached).
// Always false on non-x86 builds. Thread-safe.
bool CpuHasAvx2Fma();

// Portable C++ variants: any CPU, bit-identical to the references.
bool ChannelMinMaxPortable(const float* in, size_t channels, size_t row_len, float* min,
                           float* max, float* absmax);
void FakeQuantPerChannelPortable(const float* in, size_t channels, size_t row_len,
                                 const PerChannelParams& params, float* out);
void QuantizePackPerChannelPortable(const float* in, size_t channels, size_t row_len,
                                    const PerChannelParams& params, uint8_t* packed);
void UnpackDequantizePerChannelPortable(const uint8_t* packed, size_t channels,
                                        size_t row_len, const PerChannelParams& params,
                                        float* out);

#if defined(__x86_64__)
#define QFLEET_KERNELS_HAVE_AVX2_VARIANTS 1
// AVX2 + FMA variants (compiled with a target attribute, so the build needs
// no -mavx2): call only when CpuHasAvx2Fma(). Bit-identical to the
// references. `streaming_stores` writes the output with non-temporal stores
// (the row-aligned body of each row; the caller's data may be unaligned).
bool ChannelMinMaxAvx2(const float* in, size_t channels, size_t row_len, float* min,
                       float* max, float* absmax);
void FakeQuantPerChannelAvx2(const float* in, size_t channels, size_t row_len,
                             const PerChannelParams& params, float* out,
                             bool streaming_stores);
void QuantizePackPerChannelAvx2(const float* in, size_t channels, size_t row_len,
                                const PerChannelParams& params, uint8_t* packed);
void UnpackDequantizePerChannelAvx2(const uint8_t* packed, size_t channels, size_t row_len,
                                    const PerChannelParams& params, float* out);
#endif

}  // namespace qfleet::kernels

#endif  // QFLEET_KERNELS_CPU_CPU_VARIANTS_H_
