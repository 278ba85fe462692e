#ifndef QFLEET_BENCH_BENCH_DATA_H_
#define QFLEET_BENCH_BENCH_DATA_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace qfleet::bench {

// Every benchmark works on one [kChannels x kRowLen] FP32 matrix (64 MiB,
// larger than the last-level cache, so the timings are memory-bound).
constexpr size_t kChannels = 4096;
constexpr size_t kRowLen = 4096;
constexpr size_t kElements = kChannels * kRowLen;
constexpr size_t kMatrixBytes = kElements * sizeof(float);

// A 64-byte aligned, zero-filled float buffer whose pages are all touched on
// construction, so page faults stay out of the timed loops. Thread-compatible.
class AlignedFloats {
 public:
  explicit AlignedFloats(size_t count);
  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  size_t size() const { return count_; }

 private:
  struct Free {
    void operator()(float* p) const;
  };
  std::unique_ptr<float[], Free> data_;
  size_t count_;
};

// The shared input: row c is N(0, 1) scaled by 0.5 + (c % 7) with an offset,
// from a fixed seed; built on first use. Thread-safe.
const AlignedFloats& InputMatrix();

// Min-max asymmetric params of InputMatrix() with every channel at `bits`.
struct BenchParams {
  std::vector<uint8_t> bits;
  std::vector<float> scales;
  std::vector<int32_t> zero_points;
};
BenchParams MinMaxParams(int bits);

}  // namespace qfleet::bench

#endif  // QFLEET_BENCH_BENCH_DATA_H_
