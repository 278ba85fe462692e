#ifndef QFLEET_TESTS_CLOUD_FAKE_BACKEND_H_
#define QFLEET_TESTS_CLOUD_FAKE_BACKEND_H_

#include <atomic>

#include "cloud/model_backend.h"

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
    const Tensor* w = model.Find("w");
    if (w == nullptr) return absl::InvalidArgumentError("no w");
    double sum = 0;
    for (float v : w->values) sum += v;
    return Evaluation{sum / 12, sum / 12, sum / 12};
  }
  std::atomic<int> evaluations{0};
};

}  // namespace qfleet::cloud

#endif  // QFLEET_TESTS_CLOUD_FAKE_BACKEND_H_
