#ifndef QFLEET_CLOUD_FMNIST_BACKEND_H_
#define QFLEET_CLOUD_FMNIST_BACKEND_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cloud/model_backend.h"
#include "common/idx_dataset.h"

namespace qfleet::cloud {

// The Fashion-MNIST CNN (ml/fmnist_cnn.h) scored on the 10,000
// image test set. Served activations (ServeSpec::activation_bits > 0) use
// static steps calibrated for each evaluated model on a fixed sample of
// kCalibrationImages training images (the server's proxy set, disjoint from
// the test set). Evaluate is thread-safe (serialized).
class FmnistBackend : public ModelBackend {
 public:
  static constexpr int64_t kCalibrationImages = 512;

  // Checks that `data_dir` holds the Fashion-MNIST files (NotFound naming
  // the missing one) and the arguments (InvalidArgument); the test split and
  // the calibration sample (every (train count / kCalibrationImages)-th
  // training image) are loaded by Prepare() or on first use, so creating a
  // backend costs no decompression. Load errors (InvalidArgument for corrupt
  // files) surface there. `max_test` > 0 keeps only the first max_test
  // images and `calibration_images` (1..kCalibrationImages) shrinks the
  // calibration sample (tests).
  static absl::StatusOr<std::unique_ptr<FmnistBackend>> Create(
      const std::string& data_dir, int64_t max_test = 0,
      int64_t calibration_images = kCalibrationImages);

  std::string Name() const override { return "fmnist-cnn"; }
  absl::Status Prepare() override;
  absl::StatusOr<TensorContainer> InitialModel(uint64_t seed) override;
  absl::StatusOr<Evaluation> Evaluate(const TensorContainer& model,
                                      const ServeSpec& serve) override;
  // Reuses the steps of the last Evaluate (or call) when `model` and the
  // spec are the same, so the round after an evaluation costs no extra pass.
  absl::StatusOr<std::vector<double>> ServedActivationSteps(const TensorContainer& model,
                                                             const ServeSpec& serve) override;
  // Calibration passes run so far (Evaluate's and ServedActivationSteps').
  int64_t calibrations() {
    absl::MutexLock lock(&mu_);
    return calibrations_;
  }

 private:
  FmnistBackend(std::string data_dir, int64_t max_test, int64_t calibration_images)
      : data_dir_(std::move(data_dir)),
        max_test_(max_test),
        calibration_images_(calibration_images) {}
  // Loads test_ and calib_ unless loaded. Requires mu_.
  absl::Status LoadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<double> Accuracy(const TensorContainer& model);
  // The served activation steps of `model` under `serve`: the cached ones
  // when `model` and the spec are those last calibrated, else what
  // `calibrate` returns (then cached). Requires mu_.
  absl::StatusOr<std::vector<double>> StepsFor(
      const TensorContainer& model, const ServeSpec& serve,
      absl::FunctionRef<absl::StatusOr<std::vector<double>>()> calibrate);

  const std::string data_dir_;
  const int64_t max_test_;
  const int64_t calibration_images_;
  absl::Mutex mu_;
  bool loaded_ ABSL_GUARDED_BY(mu_) = false;
  ImageDataset test_;
  ImageDataset calib_;
  // The last calibration: the encoded model, its spec and its steps. The
  // coordinator evaluates each round's aggregate and then starts the next
  // round from that same model, so the steps it sends QAT clients come
  // from here instead of a second calibration pass.
  std::string cached_model_;
  int cached_weight_bits_ = 0;
  int cached_activation_bits_ = 0;
  std::vector<double> cached_steps_;
  int64_t calibrations_ = 0;
};

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_FMNIST_BACKEND_H_
