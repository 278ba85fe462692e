#ifndef QFLEET_ML_CHORD_QUANT_ROWS_H_
#define QFLEET_ML_CHORD_QUANT_ROWS_H_

#include <torch/types.h>

namespace qfleet::ml::chord {

// Per-row (per output channel) round-to-nearest fake quantization of a 2-D
// float32 tensor w [R, K] at `bits` in 0..8, on w's device, without gradient:
//   bits 0:     every row becomes zero (a pruned channel);
//   bits 1..8:  the asymmetric min-max quantizer of common/quantizer.h
//               (QuantOptions{}), with the same float expressions, so the
//               result equals FakeQuantizePerChannel bit for bit on the CPU:
//               range widened to contain 0, scale = (hi - lo) / (2^b - 1),
//               zero = nearbyint(-lo / scale), constant rows reproduced.
// Throws c10::Error for a non-2-D or non-float input or bits outside 0..8
// (internal helper; callers validate). Thread-safe for distinct tensors.
torch::Tensor FakeQuantRows(const torch::Tensor& w, int bits);

}  // namespace qfleet::ml::chord

#endif  // QFLEET_ML_CHORD_QUANT_ROWS_H_
