#include "cloud/fmnist_backend.h"

#include <torch/torch.h>

#include "common/container_quant.h"
#include "common/status_macros.h"
#include "kernels/torch/fmnist_cnn.h"
#include "kernels/torch/model_io.h"
#include "kernels/torch/served_eval.h"
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

absl::StatusOr<Evaluation> FmnistBackend::Evaluate(const TensorContainer& model,
                                                   const ServeSpec& serve) {
  absl::MutexLock lock(&mu_);
  Evaluation e;
  ASSIGN_OR_RETURN(e.acc_fp32, Accuracy(model));
  ASSIGN_OR_RETURN(TensorContainer q8, FakeQuantizeContainer(model, 8));
  ASSIGN_OR_RETURN(e.acc_q8, Accuracy(q8));
  if (serve.weight_bits >= 1 && serve.weight_bits <= 8) {
    if (serve.weight_bits == 8 && serve.activation_bits == 0) {
      e.acc_served = e.acc_q8;
    } else {
      // Served weights: per-channel RTN with the MSE-optimal clipping
      // observer, the same quantizer whatever strategy trained the model.
      QuantOptions opts;
      opts.observer = Observer::kMse;
      ASSIGN_OR_RETURN(TensorContainer served, FakeQuantizeContainer(model, serve.weight_bits, opts));
      torchq::FmnistCnn net = torchq::MakeFmnistCnn(0);
      RETURN_IF_ERROR(torchq::LoadContainer(served, *net));
      ASSIGN_OR_RETURN(e.acc_served, torchq::EvaluateServedAccuracy(net, test_, serve.activation_bits));
    }
  } else {
    e.acc_served = e.acc_fp32;
  }
  return e;
}

}  // namespace qfleet::cloud
