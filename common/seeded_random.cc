#include "common/seeded_random.h"

#include <cmath>

namespace qfleet {

double SeededRandom::Uniform01() {
  // 53 bits, centred in their bucket so neither 0 nor 1 can occur.
  return (static_cast<double>(engine_() >> 11) + 0.5) * 0x1.0p-53;
}

uint64_t SeededRandom::UniformBelow(uint64_t n) {
  if (n <= 1) return 0;
  // Largest multiple of n that fits, so every residue is equally likely.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do {
    x = engine_();
  } while (x >= limit);
  return x % n;
}

double SeededRandom::Normal() {
  if (has_spare_normal_) {
    has_spare_normal_ = false;
    return spare_normal_;
  }
  double u, v, s;
  do {
    u = 2.0 * Uniform01() - 1.0;
    v = 2.0 * Uniform01() - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  const double m = std::sqrt(-2.0 * std::log(s) / s);
  spare_normal_ = v * m;
  has_spare_normal_ = true;
  return u * m;
}

double SeededRandom::LogGamma(double shape) {
  if (shape < 1.0) {
    // G(a) = G(a + 1) * U^(1/a); stay in logs so tiny a cannot underflow.
    const double boosted = LogGamma(shape + 1.0);
    return boosted + std::log(Uniform01()) / shape;
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  while (true) {
    const double x = Normal();
    double v = 1.0 + c * x;
    if (v <= 0.0) continue;
    v = v * v * v;
    const double u = Uniform01();
    if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return std::log(d * v);
  }
}

}  // namespace qfleet
