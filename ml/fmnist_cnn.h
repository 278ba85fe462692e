#ifndef QFLEET_ML_FMNIST_CNN_H_
#define QFLEET_ML_FMNIST_CNN_H_

#include <cstdint>

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

namespace qfleet::ml {

// The small CNN qfleet trains on 28x28 gray images (Fashion-MNIST):
// conv(1->16, 5x5, pad 2) -> ReLU -> maxpool 2 -> conv(16->32, 5x5, pad 2)
// -> ReLU -> maxpool 2 -> fc(1568->128) -> ReLU -> fc(128->10).
// 218,058 parameters. Input: [N, 1, 28, 28] normalized floats; output logits.
class FmnistCnnImpl : public torch::nn::Module {
 public:
  FmnistCnnImpl();
  torch::Tensor forward(torch::Tensor x);

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(FmnistCnn);

// Builds the CNN with weights drawn from a generator seeded with `seed`
// (PyTorch's default init). Deterministic for a seed; thread-safe (holds a
// process-wide lock while it touches the global generator).
FmnistCnn MakeFmnistCnn(uint64_t seed);

}  // namespace qfleet::ml

#endif  // QFLEET_ML_FMNIST_CNN_H_
