#include "cloud/fmnist_backend.h"

#include <torch/torch.h>

#include "common/container_quant.h"
#include "common/status_macros.h"
#include "kernels/torch/fmnist_cnn.h"
#include "kernels/torch/model_io.h"
#include "kernels/torch/trainer.h"

namespace qfleet::cloud {

absl::StatusOr<std::unique_ptr<FmnistBackend>> FmnistBackend::Create(const std::string& data_dir,
                                                                     int64_t max_test) {
  ASSIGN_OR_RETURN(ImageDataset test, LoadFashionMnist(data_dir, /*train=*/false));
  if (max_test > 0 && max_test < test.count) {
    const int64_t pixels = test.rows * test.cols;
    test.count = max_test;
    test.pixels.resize(max_test * pixels);
    test.labels.resize(max_test);
  }
  return std::unique_ptr<FmnistBackend>(new FmnistBackend(std::move(test)));
}

absl::StatusOr<TensorContainer> FmnistBackend::InitialModel(uint64_t seed) {
  torchq::FmnistCnn model = torchq::MakeFmnistCnn(seed);
  return torchq::ModuleToContainer(*model);
}

absl::StatusOr<double> FmnistBackend::Accuracy(const TensorContainer& container) {
  torchq::FmnistCnn model = torchq::MakeFmnistCnn(0);
  RETURN_IF_ERROR(torchq::LoadContainer(container, *model));
  return torchq::EvaluateAccuracy(model, test_);
}

absl::StatusOr<Evaluation> FmnistBackend::Evaluate(const TensorContainer& model) {
  absl::MutexLock lock(&mu_);
  Evaluation e;
  ASSIGN_OR_RETURN(e.acc_fp32, Accuracy(model));
  ASSIGN_OR_RETURN(TensorContainer q8, FakeQuantizeContainer(model, 8));
  ASSIGN_OR_RETURN(e.acc_q8, Accuracy(q8));
  return e;
}

}  // namespace qfleet::cloud
