#ifndef QFLEET_TESTS_ML_TEST_DATA_H_
#define QFLEET_TESTS_ML_TEST_DATA_H_

#include <cstdint>
#include <random>

#include <torch/torch.h>

#include "common/idx_dataset.h"

namespace qfleet::ml::test_data {

// A learnable synthetic task: the label (0..3) is which quadrant of a 28x28
// image holds a bright 8x8 square.
inline ImageDataset QuadrantData(int n, uint64_t seed) {
  ImageDataset d;
  d.count = n;
  d.rows = d.cols = 28;
  d.num_classes = 10;
  d.pixels.assign(static_cast<size_t>(n) * 28 * 28, 0);
  d.labels.resize(n);
  std::mt19937 rng(static_cast<uint32_t>(seed));
  for (int i = 0; i < n; ++i) {
    const int label = static_cast<int>(rng() % 4);
    d.labels[i] = static_cast<uint8_t>(label);
    const int r0 = (label / 2) * 14 + 3, c0 = (label % 2) * 14 + 3;
    for (int r = r0; r < r0 + 8; ++r)
      for (int c = c0; c < c0 + 8; ++c) d.pixels[i * 784 + r * 28 + c] = 200 + rng() % 50;
  }
  return d;
}

// n normalized-looking random images [n, 1, 28, 28] from a seeded generator.
inline torch::Tensor RandomImages(int64_t n, uint64_t seed) {
  torch::Generator gen = at::detail::createCPUGenerator(seed);
  return torch::randn({n, 1, 28, 28}, gen, torch::kFloat32);
}

}  // namespace qfleet::ml::test_data

#endif  // QFLEET_TESTS_ML_TEST_DATA_H_
