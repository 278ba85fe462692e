#ifndef QFLEET_ML_FAKE_QUANT_OP_H_
#define QFLEET_ML_FAKE_QUANT_OP_H_

#include <cstdint>

#include <torch/types.h>

namespace qfleet::ml {

// Differentiable fake-quantization ops for quantization-aware training, each
// a torch::autograd::Function. Like any ATen op they validate their
// arguments with TORCH_CHECK and throw c10::Error on misuse (wrong shapes,
// bits out of range, non-positive scales); qfleet's Status-returning entry
// points (TrainClassifierQat, ...) catch it at their boundary. Thread-safe
// for distinct tensors.
//
// Both ops share one layout rule: a quantization parameter tensor with a
// single element applies to the whole of `x` (per tensor, `axis` ignored);
// one with x.size(axis) elements applies per slice along `axis` (per
// channel: axis 0 of a Conv2d/Linear weight).

// Affine fake quantization with a straight-through estimator:
//   v = nearbyint(x / s) + z,  out = (clamp(v, 0, 2^bits - 1) - z) * s
// in x's float type, the same expressions as common's QuantizeValue /
// DequantizeValue (round half to even), so it matches QuantizePerChannel
// for the same ChannelParams. Gradient: d out / d x = 1 where
// 0 <= v <= 2^bits - 1 and 0 elsewhere; scale and zero_point get no
// gradient. `scale` must be > 0; `zero_point` is a float or integer tensor
// of the same size as `scale`; bits in 1..8.
torch::Tensor FakeQuantSte(const torch::Tensor& x, const torch::Tensor& scale,
                           const torch::Tensor& zero_point, int bits, int64_t axis);

// Integer range [-Qn, Qp] of an LSQ quantizer: symmetric (signed, bits >= 2):
// Qn = 2^(bits-1), Qp = 2^(bits-1) - 1; otherwise unsigned (for non-negative
// inputs such as post-ReLU activations): Qn = 0, Qp = 2^bits - 1.
struct LsqRange {
  int64_t qn;
  int64_t qp;
};
LsqRange LsqIntegerRange(int bits, bool symmetric);

// Learned step size quantization (LSQ, Esser et al. 2020):
//   v = x / s,  out = nearbyint(clamp(v, -Qn, Qp)) * s
// with the LSQ gradients
//   d out / d x = 1 if -Qn <= v <= Qp, else 0
//   d out / d s = -Qn (v < -Qn), Qp (v > Qp), nearbyint(v) - v (inside),
// summed over the elements sharing a step and multiplied by the gradient
// scale 1 / sqrt(N * Qp), N = x.numel() / step.numel() (elements per step).
// `step` (> 0, usually requires_grad) is per tensor or per channel along
// `axis`; bits in 1..8 (2..8 when symmetric).
torch::Tensor FakeQuantLsq(const torch::Tensor& x, const torch::Tensor& step, int bits,
                           bool symmetric, int64_t axis);

}  // namespace qfleet::ml

#endif  // QFLEET_ML_FAKE_QUANT_OP_H_
