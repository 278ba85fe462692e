#ifndef QFLEET_CLOUD_MODEL_BACKEND_H_
#define QFLEET_CLOUD_MODEL_BACKEND_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/tensor_container.h"

namespace qfleet::cloud {

// Global test accuracy of a model in FP32 and served quantized (weights of
// every tensor with >= 2 dims at 8 bits per output channel, RTN).
struct Evaluation {
  double acc_fp32 = -1;
  double acc_q8 = -1;
  // The served model: weights at ServeSpec::weight_bits per output channel,
  // activations at ServeSpec::activation_bits; -1 when not asked for.
  double acc_served = -1;
};

// How the model is served on devices. weight_bits 0 or 32 = FP32 weights;
// activation_bits 0 = FP32 activations.
struct ServeSpec {
  int weight_bits = 8;
  int activation_bits = 0;
};

// What the coordinator needs to know about the model family it trains:
// how to build the first version and how to score a version on held-out
// data. Implementations own their test data. Evaluate may be called from the
// round thread while other threads serve RPCs; it must be thread-safe.
class ModelBackend {
 public:
  virtual ~ModelBackend() = default;
  virtual std::string Name() const = 0;
  // Loads what Evaluate needs (test data) now instead of on first use. The
  // coordinator calls it on a background thread once it serves, so a start
  // is not held up by it. Idempotent; errors are those of loading.
  virtual absl::Status Prepare() { return absl::OkStatus(); }
  // Deterministic for a seed.
  virtual absl::StatusOr<TensorContainer> InitialModel(uint64_t seed) = 0;
  // InvalidArgument if the container does not fit the model.
  virtual absl::StatusOr<Evaluation> Evaluate(const TensorContainer& model,
                                              const ServeSpec& serve) = 0;
  // The per-point activation steps the served form of `model` uses
  // (ServeSpec::activation_bits in 1..8), calibrated as Evaluate calibrates
  // them. A QAT client starts from them, so it trains on the grid it will
  // be served on without calibrating on the device. Empty when the backend
  // has none to give (the client then calibrates itself) or activations
  // are served in float.
  virtual absl::StatusOr<std::vector<double>> ServedActivationSteps(const TensorContainer& model,
                                                                     const ServeSpec& serve) {
    return std::vector<double>{};
  }
};

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_MODEL_BACKEND_H_
