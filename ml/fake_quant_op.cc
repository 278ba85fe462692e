#include "ml/fake_quant_op.h"

#include <cmath>
#include <vector>

#include <torch/torch.h>

namespace qfleet::ml {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Shape that broadcasts a parameter of `param_numel` elements against `x`:
// all ones (per tensor) or ones except x.size(axis) at `axis` (per channel).
std::vector<int64_t> ParamShape(const torch::Tensor& x, int64_t param_numel, int64_t axis,
                                const char* what) {
  std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
  if (param_numel == 1) return shape;
  TORCH_CHECK(axis >= 0 && axis < x.dim(), what, ": axis ", axis, " out of range for a ",
              x.dim(), "-d input");
  TORCH_CHECK(param_numel == x.size(axis), what, ": ", param_numel,
              " parameters for ", x.size(axis), " channels along axis ", axis);
  shape[static_cast<size_t>(axis)] = param_numel;
  return shape;
}

class FakeQuantSteFunction : public torch::autograd::Function<FakeQuantSteFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& scale, const torch::Tensor& zero_point,
                               int64_t bits, int64_t axis) {
    TORCH_CHECK(x.is_floating_point(), "FakeQuantSte: x must be a float tensor");
    TORCH_CHECK(bits >= 1 && bits <= 8, "FakeQuantSte: bits ", bits, " not in 1..8");
    TORCH_CHECK(scale.numel() >= 1 && zero_point.numel() == scale.numel(),
                "FakeQuantSte: scale has ", scale.numel(), " elements, zero_point ",
                zero_point.numel());
    const auto shape = ParamShape(x, scale.numel(), axis, "FakeQuantSte");
    const torch::Tensor s = scale.detach().to(x.scalar_type()).reshape(shape);
    TORCH_CHECK(s.gt(0).all().item<bool>() && s.isfinite().all().item<bool>(),
                "FakeQuantSte: scales must be finite and > 0");
    const torch::Tensor z = zero_point.detach().to(x.scalar_type()).reshape(shape);
    const double qmax = std::ldexp(1.0, static_cast<int>(bits)) - 1.0;
    torch::NoGradGuard no_grad;
    const torch::Tensor v = torch::round(x / s) + z;
    ctx->save_for_backward({v.ge(0).logical_and(v.le(qmax))});
    return (v.clamp(0.0, qmax) - z) * s;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const torch::Tensor inside = ctx->get_saved_variables()[0];
    return {grad_out[0] * inside, torch::Tensor(), torch::Tensor(), torch::Tensor(),
            torch::Tensor()};
  }
};

class FakeQuantLsqFunction : public torch::autograd::Function<FakeQuantLsqFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& step, int64_t bits, bool symmetric,
                               int64_t axis) {
    TORCH_CHECK(x.is_floating_point(), "FakeQuantLsq: x must be a float tensor");
    TORCH_CHECK(bits >= (symmetric ? 2 : 1) && bits <= 8, "FakeQuantLsq: bits ", bits,
                " not in ", symmetric ? "2..8 (symmetric)" : "1..8");
    TORCH_CHECK(step.numel() >= 1, "FakeQuantLsq: empty step");
    const auto shape = ParamShape(x, step.numel(), axis, "FakeQuantLsq");
    const torch::Tensor s = step.detach().to(x.scalar_type()).reshape(shape);
    TORCH_CHECK(s.gt(0).all().item<bool>() && s.isfinite().all().item<bool>(),
                "FakeQuantLsq: steps must be finite and > 0");
    const LsqRange r = LsqIntegerRange(static_cast<int>(bits), symmetric);
    ctx->save_for_backward({x, step});
    ctx->saved_data["qn"] = r.qn;
    ctx->saved_data["qp"] = r.qp;
    ctx->saved_data["axis"] = step.numel() == 1 ? int64_t{-1} : axis;
    torch::NoGradGuard no_grad;
    return torch::round((x / s).clamp(-r.qn, r.qp)) * s;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const torch::Tensor& step = saved[1];
    const double qn = static_cast<double>(ctx->saved_data["qn"].toInt());
    const double qp = static_cast<double>(ctx->saved_data["qp"].toInt());
    const int64_t axis = ctx->saved_data["axis"].toInt();
    const auto shape = ParamShape(x, step.numel(), axis, "FakeQuantLsq");
    const torch::Tensor s = step.to(x.scalar_type()).reshape(shape);
    const torch::Tensor& g = grad_out[0];

    const torch::Tensor v = x / s;
    const torch::Tensor below = v.lt(-qn);
    const torch::Tensor above = v.gt(qp);
    const torch::Tensor inside = below.logical_or(above).logical_not();
    const torch::Tensor grad_x = g * inside;
    const torch::Tensor dstep =
        torch::where(below, torch::full_like(v, -qn),
                     torch::where(above, torch::full_like(v, qp), torch::round(v) - v));
    torch::Tensor grad_step = g * dstep;
    if (axis < 0) {
      grad_step = grad_step.sum();
    } else {
      std::vector<int64_t> dims;
      for (int64_t d = 0; d < x.dim(); ++d) {
        if (d != axis) dims.push_back(d);
      }
      if (!dims.empty()) grad_step = grad_step.sum(dims);
    }
    const double per_step = static_cast<double>(x.numel()) / static_cast<double>(step.numel());
    grad_step = (grad_step / std::sqrt(per_step * qp)).reshape(step.sizes()).to(step.scalar_type());
    return {grad_x, grad_step, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor FakeQuantSte(const torch::Tensor& x, const torch::Tensor& scale,
                           const torch::Tensor& zero_point, int bits, int64_t axis) {
  return FakeQuantSteFunction::apply(x, scale, zero_point, static_cast<int64_t>(bits), axis);
}

LsqRange LsqIntegerRange(int bits, bool symmetric) {
  if (symmetric) return LsqRange{int64_t{1} << (bits - 1), (int64_t{1} << (bits - 1)) - 1};
  return LsqRange{0, (int64_t{1} << bits) - 1};
}

torch::Tensor FakeQuantLsq(const torch::Tensor& x, const torch::Tensor& step, int bits,
                           bool symmetric, int64_t axis) {
  return FakeQuantLsqFunction::apply(x, step, static_cast<int64_t>(bits), symmetric, axis);
}

}  // namespace qfleet::ml
