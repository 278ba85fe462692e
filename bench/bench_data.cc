#include "bench/bench_data.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <random>

#include "kernels/channel_minmax.h"
#include "kernels/quant_math.h"

namespace qfleet::bench {

void AlignedFloats::Free::operator()(float* p) const { std::free(p); }

AlignedFloats::AlignedFloats(size_t count) : count_(count) {
  const size_t bytes = (count * sizeof(float) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, bytes == 0 ? 64 : bytes);
  if (p == nullptr) throw std::bad_alloc();
  std::memset(p, 0, bytes);
  data_.reset(static_cast<float*>(p));
}

const AlignedFloats& InputMatrix() {
  static const AlignedFloats* const m = [] {
    auto* a = new AlignedFloats(kElements);
    std::mt19937 rng(2024);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (size_t c = 0; c < kChannels; ++c) {
      const float sigma = 0.5f + static_cast<float>(c % 7);
      const float offset = 0.1f * static_cast<float>(static_cast<int>(c % 5) - 2);
      float* row = a->data() + c * kRowLen;
      for (size_t i = 0; i < kRowLen; ++i) row[i] = offset + sigma * normal(rng);
    }
    return a;
  }();
  return *m;
}

BenchParams MinMaxParams(int bits) {
  const AlignedFloats& m = InputMatrix();
  std::vector<float> mn(kChannels), mx(kChannels);
  // The input is finite by construction, so this cannot fail.
  (void)kernels::ChannelMinMax(kernels::DeviceKind::kCpu, m.data(), kChannels, kRowLen,
                               mn.data(), mx.data(), nullptr);
  BenchParams p;
  for (size_t c = 0; c < kChannels; ++c) {
    const kernels::QuantParams q = kernels::MinMaxQuantParams(mn[c], mx[c], bits, false);
    p.bits.push_back(static_cast<uint8_t>(bits));
    p.scales.push_back(q.scale);
    p.zero_points.push_back(q.zero_point);
  }
  return p;
}

}  // namespace qfleet::bench
