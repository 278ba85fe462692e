// CHORD plan generation in relevance mode at Amazon Games scale: one item
// table of 23,716 rows x 50 (SASRec's item_emb) below 200 dense channels,
// 512 users a batch, tiers cut for 3 bits. The kernel (kernels/
// relevance_tiers.h: Ref, CPU and, where present, CUDA) against the
// LibTorch path it replaces (relevance matmul, z-scored ranking key,
// AssignTiers), single thread. Bytes processed = the codes produced (one
// per channel and user), so the bytes_per_second ratios are speed ratios.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/relevance_tiers.h"
#include "kernels/torch/chord/tiering.h"

namespace qfleet::bench {
namespace {

constexpr int64_t kItems = 23716, kWidth = 50, kDense = 200, kUsers = 512;
constexpr std::array<double, 4> kShares = {0.25, 0.25, 0.25, 0.25};

struct PlanData {
  kernels::RelevanceTierSpec spec;
  std::vector<float> queries;  // [kUsers, kWidth]
};

const PlanData& Data() {
  static const PlanData* data = [] {
    auto* d = new PlanData;
    std::mt19937 rng(17);
    std::normal_distribution<float> normal(0, 1);
    d->spec.channels = kDense + kItems;
    for (int64_t c = 0; c < kDense; ++c) d->spec.elements.push_back(64);
    for (int64_t r = 0; r < kItems; ++r) d->spec.elements.push_back(kWidth);
    d->spec.items = kItems;
    d->spec.width = kWidth;
    d->spec.item_rows.resize(kItems * kWidth);
    for (float& v : d->spec.item_rows) v = 0.1f * normal(rng);
    d->spec.item_blocks = {kDense};
    d->spec.fractions = kShares;
    d->queries.resize(kUsers * kWidth);
    for (float& v : d->queries) v = normal(rng);
    return d;
  }();
  return *data;
}

void RunKernel(benchmark::State& state, kernels::DeviceKind kind) {
  const PlanData& d = Data();
  if (kind == kernels::DeviceKind::kCuda && !kernels::CudaAvailable()) {
    state.SkipWithError("no CUDA device");
    return;
  }
  absl::StatusOr<kernels::RelevanceTierPlan> plan = kernels::RelevanceTierPlan::Create(d.spec);
  if (!plan.ok()) {
    state.SkipWithError(plan.status().ToString().c_str());
    return;
  }
  std::vector<uint8_t> codes(kUsers * d.spec.channels);
  for (auto _ : state) {
    absl::Status s =
        kernels::RelevanceTierCodes(kind, *plan, d.queries.data(), kUsers, codes.data());
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      return;
    }
    benchmark::DoNotOptimize(codes.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * kUsers * d.spec.channels);
}

void BM_PlanTiersRef(benchmark::State& state) { RunKernel(state, kernels::DeviceKind::kRef); }
void BM_PlanTiersCpu(benchmark::State& state) { RunKernel(state, kernels::DeviceKind::kCpu); }
void BM_PlanTiersCuda(benchmark::State& state) { RunKernel(state, kernels::DeviceKind::kCuda); }

// What GenerateCodes ran before the kernel: RelevanceLayout::RankKey's key
// (dense channels 1e3, items z-scored per user) and AssignTiers.
void BM_PlanTiersTorch(benchmark::State& state) {
  at::set_num_threads(1);
  const PlanData& d = Data();
  const at::Tensor rows = at::from_blob(const_cast<float*>(d.spec.item_rows.data()),
                                        {kItems, kWidth}, at::kFloat);
  const at::Tensor q = at::from_blob(const_cast<float*>(d.queries.data()), {kUsers, kWidth},
                                     at::kFloat);
  const at::Tensor elements = at::from_blob(const_cast<double*>(d.spec.elements.data()),
                                            {d.spec.channels}, at::kDouble);
  const double norm = 1.0 / std::sqrt(static_cast<double>(kWidth));
  try {
    for (auto _ : state) {
      at::Tensor rel = at::matmul(q, rows.t()) * norm;
      at::Tensor z = ((rel - rel.mean(1, true)) / rel.std(1, true, true).clamp_min(1e-6))
                         .clamp(-1e2, 1e2);
      at::Tensor key = at::full({kUsers, d.spec.channels}, 1e3, at::kFloat);
      key.narrow(1, kDense, kItems).copy_(z);
      at::Tensor codes = torchq::chord::AssignTiers(key, elements, kShares);
      benchmark::DoNotOptimize(codes.data_ptr());
    }
  } catch (const c10::Error& e) {
    state.SkipWithError(e.what_without_backtrace());
    return;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * kUsers * d.spec.channels);
}

BENCHMARK(BM_PlanTiersTorch)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PlanTiersRef)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PlanTiersCpu)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PlanTiersCuda)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace qfleet::bench
