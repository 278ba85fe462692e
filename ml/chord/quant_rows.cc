#include "ml/chord/quant_rows.h"

#include <limits>

#include <torch/torch.h>

namespace qfleet::ml::chord {

torch::Tensor FakeQuantRows(const torch::Tensor& w, int bits) {
  TORCH_CHECK(w.dim() == 2 && w.scalar_type() == torch::kFloat32, "FakeQuantRows: float [R, K]");
  TORCH_CHECK(bits >= 0 && bits <= 8, "FakeQuantRows: bits ", bits, " not in 0..8");
  torch::NoGradGuard no_grad;
  if (bits == 0 || w.size(1) == 0) return torch::zeros_like(w);
  const double qmax = static_cast<double>((1 << bits) - 1);
  torch::Tensor x = w.detach();
  torch::Tensor mn = std::get<0>(x.min(1));
  torch::Tensor mx = std::get<0>(x.max(1));
  // Scale and zero point in double, as the reference computes them.
  torch::Tensor lo = mn.to(torch::kFloat64).clamp_max(0.0);
  torch::Tensor hi = mx.to(torch::kFloat64).clamp_min(0.0);
  torch::Tensor scale = ((hi - lo) / qmax)
                            .to(torch::kFloat32)
                            .clamp(std::numeric_limits<float>::min(),
                                   std::numeric_limits<float>::max());
  torch::Tensor zero = torch::round(-lo / scale.to(torch::kFloat64)).clamp(0.0, qmax).to(torch::kFloat32);
  torch::Tensor s = scale.unsqueeze(1), z = zero.unsqueeze(1);
  torch::Tensor q = (torch::round(x / s) + z).clamp(0.0, qmax);
  torch::Tensor out = (q - z) * s;
  // Constant rows: the reference's ConstantParams reproduce the value.
  torch::Tensor constant = mn.eq(mx).unsqueeze(1);
  return torch::where(constant, x, out);
}

}  // namespace qfleet::ml::chord
