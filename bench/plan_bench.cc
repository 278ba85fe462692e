// CHORD plan generation in relevance mode at Amazon Games scale: one item
// table of 23,716 rows x 50 (SASRec's item_emb) below a dense layer of 200
// channels x 64, 512 users a batch, tiers in quarters. The kernel
// (kernels/relevance_tiers.h: Ref, CPU and, where present, CUDA) against
// the LibTorch path it replaced (relevance matmul, RelevanceLayout::RankKey,
// AssignTiers), both built from the same ChannelCatalog and
// RelevanceLayout, single thread. Bytes processed = the codes produced
// (one per channel and user), so the bytes_per_second ratios are speed
// ratios.

#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cmath>
#include <memory>
#include <vector>

#include "kernels/relevance_tiers.h"
#include "ml/chord/channel_catalog.h"
#include "cloud/chord/hypernetwork.h"
#include "cloud/chord/tiering.h"

namespace qfleet::bench {
namespace {

constexpr int64_t kItems = 23716, kWidth = 50, kDense = 200, kUsers = 512;
constexpr std::array<double, 4> kShares = {0.25, 0.25, 0.25, 0.25};

// The backbone's shape: a dense layer, then the item table.
struct TinyBackbone : torch::nn::Module {
  TinyBackbone() {
    register_module("dense", torch::nn::Linear(64, kDense));
    register_module("item_emb", torch::nn::Embedding(kItems, kWidth));
  }
};

struct PlanData {
  std::unique_ptr<ml::chord::ChannelCatalog> catalog;
  std::unique_ptr<ml::chord::RelevanceLayout> layout;
  torch::Tensor queries;  // [kUsers, kWidth]
};

const PlanData& Data() {
  static const PlanData* data = [] {
    torch::manual_seed(17);
    auto* d = new PlanData;
    TinyBackbone backbone;
    {
      torch::NoGradGuard no_grad;
      for (auto& p : backbone.parameters()) p.normal_(0, 0.1);
    }
    d->catalog = std::make_unique<ml::chord::ChannelCatalog>(
        ml::chord::ChannelCatalog::Create(backbone).value());
    ml::chord::HypernetOptions options;
    options.relevance_layer = "item_emb";
    d->layout = std::make_unique<ml::chord::RelevanceLayout>(
        ml::chord::RelevanceLayout::Create(*d->catalog, options).value());
    d->queries = torch::randn({kUsers, kWidth});
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
  absl::StatusOr<kernels::RelevanceTierPlan> plan =
      kernels::RelevanceTierPlan::Create(d.layout->TierSpec(*d.catalog, kShares));
  if (!plan.ok()) {
    state.SkipWithError(plan.status().ToString().c_str());
    return;
  }
  const int64_t channels = d.catalog->total_channels();
  std::vector<uint8_t> codes(kUsers * channels);
  for (auto _ : state) {
    absl::Status s = kernels::RelevanceTierCodes(kind, *plan, d.queries.data_ptr<float>(), kUsers,
                                                 codes.data());
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      return;
    }
    benchmark::DoNotOptimize(codes.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * kUsers * channels);
}

void BM_PlanTiersRef(benchmark::State& state) { RunKernel(state, kernels::DeviceKind::kRef); }
void BM_PlanTiersCpu(benchmark::State& state) { RunKernel(state, kernels::DeviceKind::kCpu); }
void BM_PlanTiersCuda(benchmark::State& state) { RunKernel(state, kernels::DeviceKind::kCuda); }

// What GenerateCodes ran before the kernel: the relevance, RankKey's key
// (dense channels first, items z-scored per user) and AssignTiers.
void BM_PlanTiersTorch(benchmark::State& state) {
  at::set_num_threads(1);
  const PlanData& d = Data();
  const torch::Tensor rows = d.layout->ItemRows(*d.catalog);
  const double norm = 1.0 / std::sqrt(static_cast<double>(rows.size(1)));
  try {
    torch::NoGradGuard no_grad;
    for (auto _ : state) {
      torch::Tensor key = d.layout->RankKey(torch::matmul(d.queries, rows.t()) * norm);
      torch::Tensor codes = ml::chord::AssignTiers(key, d.catalog->elements(), kShares);
      benchmark::DoNotOptimize(codes.data_ptr());
    }
  } catch (const c10::Error& e) {
    state.SkipWithError(e.what_without_backtrace());
    return;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * kUsers *
                          d.catalog->total_channels());
}

BENCHMARK(BM_PlanTiersTorch)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PlanTiersRef)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PlanTiersCpu)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PlanTiersCuda)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace qfleet::bench
