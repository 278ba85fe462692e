// LibTorch's per-channel fake quantization on the same matrix and params as
// BM_FakeQuant/4, single thread: the baseline users would otherwise call.
// With plan_bench.cc, the only translation units of qfleet-bench that
// include LibTorch.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include <string>

#include "bench/bench_data.h"

namespace qfleet::bench {
namespace {

// torch::fake_quantize_per_channel_affine(x, scale, zero_point, 0, 0, 15)
// with the 4-bit min-max params of BM_FakeQuant/4. LibTorch 1.13 accepts an
// int32 or a float zero point; the label says which one this build took.
void BM_TorchFakeQuant(benchmark::State& state) {
  at::set_num_threads(1);
  const AlignedFloats& in = InputMatrix();
  const BenchParams p = MinMaxParams(4);
  const at::Tensor x = at::from_blob(const_cast<float*>(in.data()),
                                     {static_cast<int64_t>(kChannels),
                                      static_cast<int64_t>(kRowLen)},
                                     at::TensorOptions().dtype(at::kFloat));
  const at::Tensor scale =
      at::from_blob(const_cast<float*>(p.scales.data()), {static_cast<int64_t>(kChannels)},
                    at::TensorOptions().dtype(at::kFloat))
          .clone();
  const at::Tensor zero_int =
      at::from_blob(const_cast<int32_t*>(p.zero_points.data()),
                    {static_cast<int64_t>(kChannels)}, at::TensorOptions().dtype(at::kInt))
          .clone();
  // Find the zero-point dtype this LibTorch accepts (c10::Error stops here).
  at::Tensor zero = zero_int;
  std::string zero_dtype = "int32";
  try {
    (void)at::fake_quantize_per_channel_affine(x.narrow(0, 0, 1), scale.narrow(0, 0, 1),
                                               zero.narrow(0, 0, 1), 0, 0, 15);
  } catch (const c10::Error&) {
    zero = zero_int.to(at::kFloat);
    zero_dtype = "float";
  }
  try {
    for (auto _ : state) {
      at::Tensor y = at::fake_quantize_per_channel_affine(x, scale, zero, /*axis=*/0, 0, 15);
      benchmark::DoNotOptimize(y.data_ptr());
      benchmark::ClobberMemory();
    }
  } catch (const c10::Error& e) {
    state.SkipWithError(e.what_without_backtrace());
    return;
  }
  state.SetLabel("zero_point " + zero_dtype + ", torch threads " +
                 std::to_string(at::get_num_threads()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 2 * kMatrixBytes);
}
BENCHMARK(BM_TorchFakeQuant)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace qfleet::bench
