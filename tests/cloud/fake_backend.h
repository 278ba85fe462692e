#ifndef QFLEET_TESTS_CLOUD_FAKE_BACKEND_H_
#define QFLEET_TESTS_CLOUD_FAKE_BACKEND_H_

#include <atomic>

#include "cloud/model_backend.h"
#include "common/status_macros.h"

namespace qfleet::cloud {

// A two-tensor model ("w" [4,3], "b" [4]) whose "accuracy" is the mean of
// w: aggregation results are visible in the evaluation.
class FakeBackend : public ModelBackend {
 public:
  std::string Name() const override { return "fake"; }
  absl::StatusOr<TensorContainer> InitialModel(uint64_t seed) override {
    TensorContainer c;
    Tensor w;
    w.name = "w";
    w.shape = {4, 3};
    for (int i = 0; i < 12; ++i) w.values.push_back(static_cast<float>(seed) * 0.01f * i);
    Tensor b;
    b.name = "b";
    b.shape = {4};
    b.values = {0, 0, 0, 0};
    c.tensors = {w, b};
    return c;
  }
  absl::StatusOr<Evaluation> Evaluate(const TensorContainer& model, const ServeSpec&) override {
    ++evaluations;
    if (fail_evaluate.load()) return absl::UnavailableError("injected: no space left on device");
    const Tensor* w = model.Find("w");
    if (w == nullptr) return absl::InvalidArgumentError("no w");
    double sum = 0;
    for (float v : w->values) sum += v;
    return Evaluation{sum / 12, sum / 12, sum / 12};
  }
  // Activation steps that show what they were computed for: [1 + mean of
  // w, activation bits, weight bits]; none for float activations.
  absl::StatusOr<std::vector<double>> ServedActivationSteps(const TensorContainer& model,
                                                             const ServeSpec& serve) override {
    ++calibrations;
    if (serve.activation_bits <= 0) return std::vector<double>{};
    ASSIGN_OR_RETURN(Evaluation e, Evaluate(model, serve));
    --evaluations;
    return std::vector<double>{1 + e.acc_fp32, static_cast<double>(serve.activation_bits),
                               static_cast<double>(serve.weight_bits)};
  }
  std::atomic<int> evaluations{0};
  // Makes Evaluate fail (a stand-in for any failure during aggregation).
  std::atomic<bool> fail_evaluate{false};
  std::atomic<int> calibrations{0};
};

}  // namespace qfleet::cloud

#endif  // QFLEET_TESTS_CLOUD_FAKE_BACKEND_H_
