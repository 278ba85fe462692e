#ifndef QFLEET_COMMON_SEEDED_RANDOM_H_
#define QFLEET_COMMON_SEEDED_RANDOM_H_

#include <cstdint>
#include <random>
#include <vector>

namespace qfleet {

// Deterministic random source for partitions and simulations: std::mt19937_64
// plus samplers written here (not std:: distributions, whose algorithms vary
// between standard libraries), so a seed gives the same stream on every
// build of one platform. Not thread-safe; use one instance per thread.
class SeededRandom {
 public:
  explicit SeededRandom(uint64_t seed) : engine_(seed) {}

  // Next raw 64-bit output of the engine.
  uint64_t NextU64() { return engine_(); }
  // Uniform double in the open interval (0, 1), 53 random bits.
  double Uniform01();
  // Uniform integer in [0, n), unbiased (rejection sampling); n must be > 0.
  uint64_t UniformBelow(uint64_t n);
  // Standard normal sample (Marsaglia polar method).
  double Normal();
  // Natural log of a Gamma(shape, 1) sample (Marsaglia-Tsang; for shape < 1
  // the boost log G(shape+1) + log(U)/shape), finite even when the sample
  // itself would underflow. shape must be > 0.
  double LogGamma(double shape);
  // In-place Fisher-Yates shuffle driven by UniformBelow.
  template <typename T>
  void Shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) {
      const size_t j = static_cast<size_t>(UniformBelow(i));
      std::swap(v[i - 1], v[j]);
    }
  }

 private:
  std::mt19937_64 engine_;
  bool has_spare_normal_ = false;
  double spare_normal_ = 0.0;
};

}  // namespace qfleet

#endif  // QFLEET_COMMON_SEEDED_RANDOM_H_
