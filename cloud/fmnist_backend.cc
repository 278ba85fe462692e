#include "cloud/fmnist_backend.h"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <future>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/container_quant.h"
#include "common/status_macros.h"
#include "ml/fmnist_cnn.h"
#include "ml/model_io.h"
#include "ml/served_eval.h"
#include "ml/trainer.h"

namespace qfleet::cloud {
namespace {

// The network as served: weights through DeployedWeightQuant, the same
// quantizer whatever strategy trained the model.
absl::StatusOr<ml::FmnistCnn> ServedNet(const TensorContainer& model, int weight_bits) {
  ASSIGN_OR_RETURN(TensorContainer served,
                   FakeQuantizeContainer(model, weight_bits, DeployedWeightQuant()));
  ml::FmnistCnn net = ml::MakeFmnistCnn(0);
  RETURN_IF_ERROR(ml::LoadContainer(served, *net));
  return net;
}

}  // namespace

absl::StatusOr<std::unique_ptr<FmnistBackend>> FmnistBackend::Create(
    const std::string& data_dir, int64_t max_test, int64_t calibration_images) {
  if (calibration_images < 1 || calibration_images > kCalibrationImages) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "calibration_images %d outside 1..%d", calibration_images, kCalibrationImages));
  }
  const std::string root = data_dir.empty() ? std::string(kDefaultFashionMnistDir) : data_dir;
  for (const char* name : {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
                           "train-images-idx3-ubyte", "train-labels-idx1-ubyte"}) {
    const std::filesystem::path plain = std::filesystem::path(root) / name;
    std::error_code ec;
    if (!std::filesystem::exists(plain.string() + ".gz", ec) && !std::filesystem::exists(plain, ec)) {
      return absl::NotFoundError(absl::StrFormat("Fashion-MNIST: neither %s.gz nor %s exists",
                                                 plain.string(), plain.string()));
    }
  }
  return std::unique_ptr<FmnistBackend>(new FmnistBackend(root, max_test, calibration_images));
}

absl::Status FmnistBackend::Prepare() {
  absl::MutexLock lock(&mu_);
  return LoadLocked();
}

absl::Status FmnistBackend::LoadLocked() {
  if (loaded_) return absl::OkStatus();
  ASSIGN_OR_RETURN(ImageDataset test, LoadFashionMnist(data_dir_, /*train=*/false));
  if (max_test_ > 0 && max_test_ < test.count) {
    const int64_t pixels = test.rows * test.cols;
    test.count = max_test_;
    test.pixels.resize(max_test_ * pixels);
    test.labels.resize(max_test_);
  }
  ASSIGN_OR_RETURN(ImageDataset train, LoadFashionMnist(data_dir_, /*train=*/true));
  const int64_t stride = std::max<int64_t>(1, train.count / calibration_images_);
  std::vector<int64_t> sample;
  for (int64_t i = 0; i < train.count && static_cast<int64_t>(sample.size()) < calibration_images_;
       i += stride) {
    sample.push_back(i);
  }
  ASSIGN_OR_RETURN(calib_, SelectImages(train, sample));
  test_ = std::move(test);
  loaded_ = true;
  return absl::OkStatus();
}

absl::StatusOr<TensorContainer> FmnistBackend::InitialModel(uint64_t seed) {
  ml::FmnistCnn model = ml::MakeFmnistCnn(seed);
  return ml::ModuleToContainer(*model);
}

absl::StatusOr<double> FmnistBackend::Accuracy(const TensorContainer& container) {
  ml::FmnistCnn model = ml::MakeFmnistCnn(0);
  RETURN_IF_ERROR(ml::LoadContainer(container, *model));
  return ml::EvaluateAccuracy(model, test_);
}

absl::StatusOr<Evaluation> FmnistBackend::Evaluate(const TensorContainer& model,
                                                   const ServeSpec& serve) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(LoadLocked());
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
  // 8-bit weights with FP32 activations are the q8 model; out-of-range bits
  // serve the FP32 model; anything else is quantized here.
  const bool fp32_served = serve.weight_bits < 1 || serve.weight_bits > 8;
  const bool q8_served = serve.weight_bits == 8 && serve.activation_bits == 0;
  absl::Status served_status = absl::OkStatus();
  if (!fp32_served && !q8_served) {
    served_status = [&]() -> absl::Status {
      ASSIGN_OR_RETURN(ml::FmnistCnn net, ServedNet(model, serve.weight_bits));
      std::vector<double> act_steps;
      if (serve.activation_bits > 0) {
        ASSIGN_OR_RETURN(act_steps, StepsFor(model, serve, [&] {
                           return ml::CalibrateActivationSteps(net, calib_,
                                                                   serve.activation_bits);
                         }));
      }
      ASSIGN_OR_RETURN(e.acc_served, ml::EvaluateServedAccuracy(
                                         net, test_, serve.activation_bits, act_steps));
      return absl::OkStatus();
    }();
  }
  RETURN_IF_ERROR(reference.get());
  RETURN_IF_ERROR(served_status);
  if (q8_served) e.acc_served = e.acc_q8;
  if (fp32_served) e.acc_served = e.acc_fp32;
  return e;
}

absl::StatusOr<std::vector<double>> FmnistBackend::ServedActivationSteps(
    const TensorContainer& model, const ServeSpec& serve) {
  absl::MutexLock lock(&mu_);
  if (serve.activation_bits < 1 || serve.activation_bits > 8 || serve.weight_bits < 1 ||
      serve.weight_bits > 8) {
    return std::vector<double>{};
  }
  RETURN_IF_ERROR(LoadLocked());
  return StepsFor(model, serve, [&]() -> absl::StatusOr<std::vector<double>> {
    ASSIGN_OR_RETURN(ml::FmnistCnn net, ServedNet(model, serve.weight_bits));
    return ml::CalibrateActivationSteps(net, calib_, serve.activation_bits);
  });
}

absl::StatusOr<std::vector<double>> FmnistBackend::StepsFor(
    const TensorContainer& model, const ServeSpec& serve,
    absl::FunctionRef<absl::StatusOr<std::vector<double>>()> calibrate) {
  ASSIGN_OR_RETURN(std::string encoded, EncodeContainer(model));
  if (encoded == cached_model_ && serve.weight_bits == cached_weight_bits_ &&
      serve.activation_bits == cached_activation_bits_) {
    return cached_steps_;
  }
  ASSIGN_OR_RETURN(std::vector<double> steps, calibrate());
  ++calibrations_;
  cached_model_ = std::move(encoded);
  cached_weight_bits_ = serve.weight_bits;
  cached_activation_bits_ = serve.activation_bits;
  cached_steps_ = steps;
  return steps;
}

}  // namespace qfleet::cloud
