#include "cloud/fmnist_backend.h"

#include <torch/torch.h>

#include <future>

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
  // The FP32 and 8-bit evaluations run on a second thread beside the served
  // one (the agents are idle while the round closes); each builds its own
  // network, and evaluation only reads test_.
  auto reference = std::async(std::launch::async, [&]() -> absl::Status {
    ASSIGN_OR_RETURN(e.acc_fp32, Accuracy(model));
    ASSIGN_OR_RETURN(TensorContainer q8, FakeQuantizeContainer(model, 8));
    ASSIGN_OR_RETURN(e.acc_q8, Accuracy(q8));
    return absl::OkStatus();
  });
  absl::Status served_status = absl::OkStatus();
  bool served_is_q8 = false, served_is_fp32 = false;
  if (serve.weight_bits >= 1 && serve.weight_bits <= 8) {
    if (serve.weight_bits == 8 && serve.activation_bits == 0) {
      served_is_q8 = true;
    } else {
      served_status = [&]() -> absl::Status {
        // Served weights: DeployedWeightQuant, the same quantizer whatever
        // strategy trained the model.
        ASSIGN_OR_RETURN(TensorContainer served,
                         FakeQuantizeContainer(model, serve.weight_bits, DeployedWeightQuant()));
        torchq::FmnistCnn net = torchq::MakeFmnistCnn(0);
        RETURN_IF_ERROR(torchq::LoadContainer(served, *net));
        ASSIGN_OR_RETURN(e.acc_served,
                         torchq::EvaluateServedAccuracy(net, test_, serve.activation_bits));
        return absl::OkStatus();
      }();
    }
  } else {
    served_is_fp32 = true;
  }
  RETURN_IF_ERROR(reference.get());
  RETURN_IF_ERROR(served_status);
  if (served_is_q8) e.acc_served = e.acc_q8;
  if (served_is_fp32) e.acc_served = e.acc_fp32;
  return e;
}

}  // namespace qfleet::cloud
