#include "ml/fmnist_cnn.h"

#include <mutex>

#include <torch/torch.h>

namespace qfleet::ml {

FmnistCnnImpl::FmnistCnnImpl() {
  conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 16, 5).padding(2)));
  conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(16, 32, 5).padding(2)));
  fc1 = register_module("fc1", torch::nn::Linear(32 * 7 * 7, 128));
  fc2 = register_module("fc2", torch::nn::Linear(128, 10));
}

torch::Tensor FmnistCnnImpl::forward(torch::Tensor x) {
  x = torch::max_pool2d(torch::relu(conv1->forward(x)), 2);
  x = torch::max_pool2d(torch::relu(conv2->forward(x)), 2);
  x = x.flatten(1);
  x = torch::relu(fc1->forward(x));
  return fc2->forward(x);
}

FmnistCnn MakeFmnistCnn(uint64_t seed) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  torch::manual_seed(seed);
  return FmnistCnn();
}

}  // namespace qfleet::ml
