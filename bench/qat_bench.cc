// What a QAT client of the FedHQ study spends per round at w2 a3, side by
// side: its activation calibration (the downloaded model fake-quantized to
// the deployed 2-bit grid, then CalibrateActivationSteps on 512 of its
// images: what device/agent.cc runs before training) against its 20 QAT
// steps of batch 32 (the documented --max-steps 20). One thread. Needs
// Fashion-MNIST from dataset-fashion-mnist. Bytes processed = images
// touched (512 calibration images x 3 passes; 20 x 32 training images).

#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include <numeric>
#include <vector>

#include "common/container_quant.h"
#include "common/idx_dataset.h"
#include "ml/fmnist_cnn.h"
#include "ml/model_io.h"
#include "ml/qat_trainer.h"
#include "ml/served_eval.h"

namespace qfleet::bench {
namespace {

constexpr char kFashionMnist[] = "/usr/share/datasets/fashion-mnist";

const ImageDataset* TrainImages() {
  static const ImageDataset* data = [] {
    absl::StatusOr<ImageDataset> d = LoadFashionMnist(kFashionMnist, /*train=*/true);
    return d.ok() ? new ImageDataset(*std::move(d)) : nullptr;
  }();
  return data;
}

// One thread, the training images and a seeded initial model; null (and
// the benchmark skipped) without the data.
const ImageDataset* Setup(benchmark::State& state, TensorContainer* global) {
  at::set_num_threads(1);
  const ImageDataset* data = TrainImages();
  if (data == nullptr) {
    state.SkipWithError("Fashion-MNIST not found");
    return nullptr;
  }
  ml::FmnistCnn init = ml::MakeFmnistCnn(1);
  *global = ml::ModuleToContainer(*init);
  return data;
}

void BM_QatActCalibration(benchmark::State& state) {
  TensorContainer global;
  const ImageDataset* data = Setup(state, &global);
  if (data == nullptr) return;
  std::vector<int64_t> sample(512);
  std::iota(sample.begin(), sample.end(), 0);
  const ImageDataset calib = SelectImages(*data, sample).value();
  for (auto _ : state) {
    TensorContainer served = FakeQuantizeContainer(global, 2, DeployedWeightQuant()).value();
    ml::FmnistCnn net = ml::MakeFmnistCnn(0);
    if (!ml::LoadContainer(served, *net).ok()) {
      state.SkipWithError("load failed");
      return;
    }
    absl::StatusOr<std::vector<double>> steps = ml::CalibrateActivationSteps(net, calib, 3);
    if (!steps.ok()) {
      state.SkipWithError(steps.status().ToString().c_str());
      return;
    }
    benchmark::DoNotOptimize(steps->data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 512 * 3);
}

void BM_QatTrain20Steps(benchmark::State& state) {
  TensorContainer global;
  const ImageDataset* data = Setup(state, &global);
  if (data == nullptr) return;
  std::vector<int64_t> indices(3000);
  std::iota(indices.begin(), indices.end(), 0);
  ml::TrainOptions options;
  options.max_steps = 20;
  for (auto _ : state) {
    ml::FmnistCnn net = ml::MakeFmnistCnn(0);
    if (!ml::LoadContainer(global, *net).ok()) {
      state.SkipWithError("load failed");
      return;
    }
    absl::StatusOr<ml::TrainStats> stats =
        ml::TrainClassifierQat(net, *data, indices, options, 2, 3);
    if (!stats.ok()) {
      state.SkipWithError(stats.status().ToString().c_str());
      return;
    }
    benchmark::DoNotOptimize(stats->loss);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 20 * 32);
}

BENCHMARK(BM_QatActCalibration)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_QatTrain20Steps)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace qfleet::bench
