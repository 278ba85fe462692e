// Benchmarks of qfleet's own kernels and of memcpy, the bandwidth yardstick.
// Every benchmark reports bytes_per_second over the bytes it reads plus the
// bytes it writes, so a kernel's rate compares directly with BM_Memcpy's.

#include <benchmark/benchmark.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <cstring>
#include <random>
#include <vector>

#include "bench/bench_data.h"
#include "common/bit_packing.h"
#include "common/quantizer.h"
#include "common/tensor.h"
#include "kernels/channel_minmax.h"
#include "kernels/cpu/cpu_variants.h"
#include "kernels/fake_quant.h"
#include "kernels/fedavg.h"
#include "kernels/quant_pack.h"

namespace qfleet::bench {
namespace {

using kernels::DeviceKind;
using kernels::PerChannelParams;

// Reads 64 MiB and writes 64 MiB.
void BM_Memcpy(benchmark::State& state) {
  const AlignedFloats& in = InputMatrix();
  AlignedFloats out(kElements);
  for (auto _ : state) {
    std::memcpy(out.data(), in.data(), kMatrixBytes);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 2 * kMatrixBytes);
}
BENCHMARK(BM_Memcpy)->Unit(benchmark::kMillisecond);

#if defined(__x86_64__)
// A copy with AVX2 loads and non-temporal (cache-bypassing) stores: what a
// streaming kernel can reach at best. glibc's memcpy may use ordinary stores
// at this size, which also read each output line before writing it.
__attribute__((target("avx2"))) void StreamCopy(const float* in, float* out, size_t n) {
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256 a = _mm256_load_ps(in + i);
    const __m256 b = _mm256_load_ps(in + i + 8);
    const __m256 c = _mm256_load_ps(in + i + 16);
    const __m256 d = _mm256_load_ps(in + i + 24);
    _mm256_stream_ps(out + i, a);
    _mm256_stream_ps(out + i + 8, b);
    _mm256_stream_ps(out + i + 16, c);
    _mm256_stream_ps(out + i + 24, d);
  }
  _mm_sfence();
  std::memcpy(out + i, in + i, (n - i) * sizeof(float));
}

// Same bytes as BM_Memcpy, copied by StreamCopy (the buffers are 64-byte
// aligned). Skipped without AVX2.
void BM_MemcpyStream(benchmark::State& state) {
  if (!kernels::CpuHasAvx2Fma()) {
    state.SkipWithError("no AVX2");
    return;
  }
  const AlignedFloats& in = InputMatrix();
  AlignedFloats out(kElements);
  for (auto _ : state) {
    StreamCopy(in.data(), out.data(), kElements);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 2 * kMatrixBytes);
}
BENCHMARK(BM_MemcpyStream)->Unit(benchmark::kMillisecond);
#endif

// Mixed-precision fake-quant with every channel at state.range(0) bits,
// params computed outside the timed loop.
void FakeQuantBench(benchmark::State& state, DeviceKind device) {
  const AlignedFloats& in = InputMatrix();
  AlignedFloats out(kElements);
  const BenchParams p = MinMaxParams(static_cast<int>(state.range(0)));
  const PerChannelParams params{p.bits.data(), p.scales.data(), p.zero_points.data()};
  for (auto _ : state) {
    const absl::Status s =
        kernels::FakeQuantPerChannel(device, in.data(), kChannels, kRowLen, params, out.data());
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 2 * kMatrixBytes);
}
void BM_FakeQuant(benchmark::State& state) { FakeQuantBench(state, DeviceKind::kCpu); }
void BM_FakeQuantRef(benchmark::State& state) { FakeQuantBench(state, DeviceKind::kRef); }
BENCHMARK(BM_FakeQuant)->Arg(2)->Arg(4)->Arg(8)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FakeQuantRef)->Arg(4)->Unit(benchmark::kMillisecond);

#if defined(QFLEET_KERNELS_HAVE_AVX2_VARIANTS)
// The AVX2 variant with ordinary stores (what FakeQuantPerChannelCpu uses
// below kStreamingStoreBytes), to show what the streaming stores are worth.
void BM_FakeQuantNoStream(benchmark::State& state) {
  if (!kernels::CpuHasAvx2Fma()) {
    state.SkipWithError("no AVX2");
    return;
  }
  const AlignedFloats& in = InputMatrix();
  AlignedFloats out(kElements);
  const BenchParams p = MinMaxParams(static_cast<int>(state.range(0)));
  const PerChannelParams params{p.bits.data(), p.scales.data(), p.zero_points.data()};
  for (auto _ : state) {
    kernels::FakeQuantPerChannelAvx2(in.data(), kChannels, kRowLen, params, out.data(),
                                     /*streaming_stores=*/false);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 2 * kMatrixBytes);
}
BENCHMARK(BM_FakeQuantNoStream)->Arg(4)->Unit(benchmark::kMillisecond);
#endif

// Reads 64 MiB (the outputs are 3 x 4096 floats).
void BM_ChannelMinMax(benchmark::State& state) {
  const AlignedFloats& in = InputMatrix();
  std::vector<float> mn(kChannels), mx(kChannels), absmax(kChannels);
  for (auto _ : state) {
    const absl::Status s = kernels::ChannelMinMax(DeviceKind::kCpu, in.data(), kChannels,
                                                  kRowLen, mn.data(), mx.data(), absmax.data());
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(mn.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * kMatrixBytes);
}
BENCHMARK(BM_ChannelMinMax)->Unit(benchmark::kMillisecond);

// Per-channel quantization of a 256 x 1152 weight matrix (the size of a
// conv layer's weights) at 4 bits with the min/max (arg 0) or MSE (arg 1)
// observer: the cost of a PTQ client's quantization, the MSE observer's
// ratio to min/max read side by side.
void BM_QuantizeObserver(benchmark::State& state) {
  static const Tensor* const weights = [] {
    auto* t = new Tensor;
    t->name = "w";
    t->shape = {256, 1152};
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 0.05f);
    for (int i = 0; i < 256 * 1152; ++i) t->values.push_back(normal(rng));
    return t;
  }();
  QuantOptions opt;
  opt.observer = state.range(0) == 0 ? Observer::kMinMax : Observer::kMse;
  for (auto _ : state) {
    absl::StatusOr<Tensor> q = QuantizePerChannel(*weights, {4}, opt);
    if (!q.ok()) {
      state.SkipWithError(q.status().ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(q->packed.data());
  }
  state.SetLabel(state.range(0) == 0 ? "minmax" : "mse");
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 256 * 1152 * 4);
}
BENCHMARK(BM_QuantizeObserver)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// Quantize-and-pack at state.range(0) bits: reads 64 MiB, writes the packed
// rows (8 MiB at 4 bits).
void BM_QuantPack(benchmark::State& state) {
  const AlignedFloats& in = InputMatrix();
  const BenchParams p = MinMaxParams(static_cast<int>(state.range(0)));
  const PerChannelParams params{p.bits.data(), p.scales.data(), p.zero_points.data()};
  const size_t packed_bytes = kernels::PackedRowsBytes(kRowLen, p.bits.data(), kChannels);
  std::vector<uint8_t> packed(packed_bytes, 1);
  for (auto _ : state) {
    const absl::Status s = kernels::QuantizePackPerChannel(
        DeviceKind::kCpu, in.data(), kChannels, kRowLen, params, packed.data(), packed_bytes);
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(packed.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(kMatrixBytes + packed_bytes));
}
BENCHMARK(BM_QuantPack)->Arg(4)->Unit(benchmark::kMillisecond);

// Unpack-and-dequantize at state.range(0) bits: reads the packed rows,
// writes 64 MiB.
void BM_UnpackDequant(benchmark::State& state) {
  const AlignedFloats& in = InputMatrix();
  AlignedFloats out(kElements);
  const BenchParams p = MinMaxParams(static_cast<int>(state.range(0)));
  const PerChannelParams params{p.bits.data(), p.scales.data(), p.zero_points.data()};
  const size_t packed_bytes = kernels::PackedRowsBytes(kRowLen, p.bits.data(), kChannels);
  std::vector<uint8_t> packed(packed_bytes);
  (void)kernels::QuantizePackPerChannel(DeviceKind::kCpu, in.data(), kChannels, kRowLen, params,
                                        packed.data(), packed_bytes);
  for (auto _ : state) {
    const absl::Status s = kernels::UnpackDequantizePerChannel(
        DeviceKind::kCpu, packed.data(), packed_bytes, kChannels, kRowLen, params, out.data());
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(kMatrixBytes + packed_bytes));
}
BENCHMARK(BM_UnpackDequant)->Arg(4)->Unit(benchmark::kMillisecond);

// Weighted average of state.range(0) clients, each 1/8 of the matrix
// (2 Mi parameters, 8 MiB): reads every client, writes one result.
void BM_FedAvg(benchmark::State& state) {
  const size_t clients = static_cast<size_t>(state.range(0));
  const size_t n = kElements / 8;
  const AlignedFloats& in = InputMatrix();
  std::vector<const float*> inputs;
  std::vector<double> weights;
  for (size_t k = 0; k < clients; ++k) {
    inputs.push_back(in.data() + (k % 8) * n);
    weights.push_back(1.0 + static_cast<double>(k));
  }
  AlignedFloats out(n);
  for (auto _ : state) {
    const absl::Status s =
        kernels::WeightedAverage(DeviceKind::kCpu, inputs, weights, n, out.data());
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>((clients + 1) * n * sizeof(float)));
}
BENCHMARK(BM_FedAvg)->Arg(8)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace qfleet::bench
