#include "ml/gptq.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "ml/layer_weights.h"
#include "ml/model_io.h"  // FromTorch, ToTorch

namespace qfleet::ml {
namespace {

namespace F = torch::nn::functional;

constexpr int kMaxDampRetries = 4;

absl::Status ValidateOptions(const GptqOptions& o) {
  if (!(o.damp_ratio >= 0.0) || !std::isfinite(o.damp_ratio) || o.block_size < 1 || o.chunk < 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "bad GPTQ options: damp_ratio=%g block_size=%d chunk=%d", o.damp_ratio, o.block_size,
        o.chunk));
  }
  return absl::OkStatus();
}

absl::Status ValidateBits(const std::vector<int>& bits, int64_t rows, const std::string& what) {
  if (bits.size() != 1 && static_cast<int64_t>(bits.size()) != rows) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: %d bit-widths for %d channels (need 1 or one per channel)", what, bits.size(), rows));
  }
  for (int b : bits) {
    if (b < 1 || b > 8) {
      return absl::InvalidArgumentError(absl::StrFormat("%s: bit-width %d not in 1..8", what, b));
    }
  }
  return absl::OkStatus();
}

// a @ b^T for float matrices. LibTorch's CPU matmul goes to the system BLAS
// (Debian: the slow reference BLAS); oneDNN's inner product, when built in,
// is about 10x faster for the large X^T X products GPTQ needs.
torch::Tensor MatmulNT(const torch::Tensor& a, const torch::Tensor& b) {
  if (at::hasMKLDNN() && a.scalar_type() == torch::kFloat32 &&
      b.scalar_type() == torch::kFloat32) {
    return torch::mkldnn_linear(a.contiguous().to_mkldnn(), b.contiguous(), {}).to_dense();
  }
  return a.mm(b.t());
}

// Inverse of a lower-triangular matrix with a positive diagonal, row by row
// (row i of L^-1 is (e_i - sum_{k<i} L[i][k] row_k) / L[i][i]); n^3/6
// multiply-adds in contiguous loops.
torch::Tensor LowerTriangularInverse(const torch::Tensor& lower) {
  const int64_t n = lower.size(0);
  torch::Tensor l = lower.contiguous();
  torch::Tensor inv = torch::zeros({n, n}, torch::kFloat64);
  const double* lp = l.data_ptr<double>();
  double* xp = inv.data_ptr<double>();
  for (int64_t i = 0; i < n; ++i) {
    double* row = xp + i * n;
    for (int64_t k = 0; k < i; ++k) {
      const double a = lp[i * n + k];
      const double* rk = xp + k * n;
      for (int64_t j = 0; j <= k; ++j) row[j] -= a * rk[j];
    }
    row[i] += 1.0;
    const double d = 1.0 / lp[i * n + i];
    for (int64_t j = 0; j <= i; ++j) row[j] *= d;
  }
  return inv;
}

// Upper Cholesky factor of H^-1 after adding damping to H's diagonal
// (modifies h). Raises the damping while H is not positive definite.
absl::StatusOr<torch::Tensor> DampedInverseCholesky(torch::Tensor& h, double damp_ratio) {
  const double mean_diag = h.diagonal().mean().item<double>();
  double damp = damp_ratio * mean_diag;
  if (!(damp > 0.0)) damp = 1e-8;
  torch::Tensor eye = torch::eye(h.size(0), h.options());
  for (int attempt = 0; attempt <= kMaxDampRetries; ++attempt) {
    torch::Tensor damped = h + damp * eye;
    auto u = GptqInverseCholesky(damped);
    if (u.ok()) {
      h = damped;
      return u;
    }
    damp *= 10.0;
  }
  return absl::FailedPreconditionError(
      "GPTQ: the calibration Hessian is not positive definite even after damping");
}

// The FmnistCnn's layers in forward order and the input each one sees.
constexpr const char* kCnnLayers[] = {"conv1", "conv2", "fc1", "fc2"};

torch::Tensor LayerInput(FmnistCnn& m, int layer, const torch::Tensor& x) {
  torch::Tensor h = x;
  if (layer == 0) return h;
  h = torch::max_pool2d(torch::relu(m->conv1->forward(h)), 2);
  if (layer == 1) return h;
  h = torch::max_pool2d(torch::relu(m->conv2->forward(h)), 2).flatten(1);
  if (layer == 2) return h;
  return torch::relu(m->fc1->forward(h));
}

// Rows of X for one layer: im2col patches [N*L, in*kh*kw] for a Conv2d (the
// column order of weight.reshape({out, -1})), the input itself for Linear.
absl::StatusOr<torch::Tensor> LayerRows(FmnistCnn& m, int layer, const torch::Tensor& input) {
  if (layer >= 2) return input;
  const torch::nn::Conv2d& conv = layer == 0 ? m->conv1 : m->conv2;
  const auto& o = conv->options;
  const auto* padding = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
  if (padding == nullptr || o.groups() != 1) {
    return absl::UnimplementedError("GPTQ supports Conv2d with explicit padding and groups = 1");
  }
  torch::Tensor cols = F::unfold(input, F::UnfoldFuncOptions(o.kernel_size())
                                            .dilation(o.dilation())
                                            .padding(*padding)
                                            .stride(o.stride()));
  return cols.transpose(1, 2).reshape({-1, cols.size(1)});
}

// H = 2 X^T X / rows accumulated over calibration chunks of `source`.
absl::StatusOr<std::pair<torch::Tensor, int64_t>> CollectHessian(FmnistCnn& source, int layer,
                                                                 const torch::Tensor& calib_x,
                                                                 int64_t chunk) {
  torch::NoGradGuard no_grad;
  torch::Tensor h;
  int64_t rows = 0;
  for (int64_t start = 0; start < calib_x.size(0); start += chunk) {
    const int64_t n = std::min(chunk, calib_x.size(0) - start);
    ASSIGN_OR_RETURN(torch::Tensor x,
                     LayerRows(source, layer, LayerInput(source, layer, calib_x.narrow(0, start, n))));
    const torch::Tensor xt = x.t().contiguous();
    torch::Tensor xtx = MatmulNT(xt, xt).to(torch::kFloat64);
    h = h.defined() ? h + xtx : xtx;
    rows += x.size(0);
  }
  return std::make_pair(h * (2.0 / static_cast<double>(rows)), rows);
}

absl::StatusOr<torch::Tensor> RtnMatrix(const torch::Tensor& w, const std::vector<int>& bits,
                                        const QuantOptions& quant) {
  ASSIGN_OR_RETURN(Tensor fake, FakeQuantizePerChannel(FromTorch("w", w), bits, quant));
  return ToTorch(fake);
}

}  // namespace

absl::StatusOr<torch::Tensor> GptqHessian(const torch::Tensor& x) {
  if (!x.defined() || x.dim() != 2 || x.size(0) < 1 || !x.is_floating_point()) {
    return absl::InvalidArgumentError("GptqHessian needs a float [n >= 1, cols] tensor");
  }
  torch::NoGradGuard no_grad;
  torch::Tensor xd = x.to(torch::kFloat64);
  return xd.t().mm(xd) * (2.0 / static_cast<double>(x.size(0)));
}

absl::StatusOr<torch::Tensor> GptqInverseCholesky(const torch::Tensor& h) {
  if (!h.defined() || h.dim() != 2 || h.size(0) != h.size(1) || h.size(0) < 1 ||
      !h.is_floating_point()) {
    return absl::InvalidArgumentError("GptqInverseCholesky needs a square float matrix");
  }
  // With J the reversal permutation and J H J = L L^T (lower Cholesky),
  // H^-1 = (J L^-1 J)^T (J L^-1 J) and J L^-1 J is upper triangular with a
  // positive diagonal: the factor we want, for one Cholesky and one
  // triangular inverse (instead of Cholesky, inverse, Cholesky).
  torch::NoGradGuard no_grad;
  torch::Tensor reversed = h.detach().to(torch::kFloat64).flip({0, 1}).contiguous();
  auto [lower, info] = torch::linalg_cholesky_ex(reversed);
  if (info.item<int64_t>() != 0) {
    return absl::FailedPreconditionError("matrix is not positive definite");
  }
  return LowerTriangularInverse(lower).flip({0, 1}).contiguous();
}

absl::StatusOr<torch::Tensor> GptqQuantizeMatrix(const torch::Tensor& weight,
                                                 const torch::Tensor& hessian,
                                                 const std::vector<int>& bits_per_row,
                                                 const GptqOptions& options) {
  RETURN_IF_ERROR(ValidateOptions(options));
  if (!weight.defined() || weight.dim() != 2 || !weight.is_floating_point() ||
      weight.numel() == 0) {
    return absl::InvalidArgumentError("GPTQ: weight must be a non-empty float [rows, cols] tensor");
  }
  const int64_t rows = weight.size(0), cols = weight.size(1);
  if (!hessian.defined() || hessian.dim() != 2 || hessian.size(0) != cols ||
      hessian.size(1) != cols || !hessian.is_floating_point()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("GPTQ: Hessian must be a float [%d, %d] tensor", cols, cols));
  }
  RETURN_IF_ERROR(ValidateBits(bits_per_row, rows, "GPTQ"));
  torch::NoGradGuard no_grad;
  torch::Tensor w = weight.detach().to(torch::kFloat64).contiguous().clone();
  if (!w.isfinite().all().item<bool>() || !hessian.isfinite().all().item<bool>()) {
    return absl::InvalidArgumentError("GPTQ: NaN or Inf in the weight or the Hessian");
  }

  // Grids from the original rows, as the reference implementation does.
  std::vector<ChannelParams> params(static_cast<size_t>(rows));
  std::vector<int> bits(static_cast<size_t>(rows));
  {
    torch::Tensor w32 = weight.detach().to(torch::kFloat32).contiguous();
    for (int64_t r = 0; r < rows; ++r) {
      bits[r] = bits_per_row.size() == 1 ? bits_per_row[0] : bits_per_row[r];
      ASSIGN_OR_RETURN(params[r], ChooseChannelParams(w32.data_ptr<float>() + r * cols,
                                                      static_cast<size_t>(cols), bits[r],
                                                      options.quant));
    }
  }

  torch::Tensor h = hessian.detach().to(torch::kFloat64).contiguous().clone();
  torch::Tensor dead = h.diagonal().eq(0);
  h.diagonal().masked_fill_(dead, 1.0);
  w.index_put_({torch::indexing::Slice(), dead}, 0.0);

  torch::Tensor perm;
  if (options.act_order) {
    perm = torch::argsort(h.diagonal(), /*dim=*/0, /*descending=*/true);
    w = w.index_select(1, perm).contiguous();
    h = h.index_select(0, perm).index_select(1, perm).contiguous();
  }
  ASSIGN_OR_RETURN(const torch::Tensor u, DampedInverseCholesky(h, options.damp_ratio));

  torch::Tensor q = torch::zeros_like(w);
  const double* up = u.data_ptr<double>();
  double* wp = w.data_ptr<double>();
  double* qp = q.data_ptr<double>();
  for (int64_t i1 = 0; i1 < cols; i1 += options.block_size) {
    const int64_t i2 = std::min(i1 + options.block_size, cols);
    const int64_t count = i2 - i1;
    torch::Tensor err = torch::zeros({rows, count}, torch::kFloat64);
    double* ep = err.data_ptr<double>();
    for (int64_t i = i1; i < i2; ++i) {
      const double d = up[i * cols + i];
      for (int64_t r = 0; r < rows; ++r) {
        double* row = wp + r * cols;
        const float value = static_cast<float>(row[i]);
        const double quantized =
            DequantizeValue(QuantizeValue(value, params[r], bits[r]), params[r]);
        qp[r * cols + i] = quantized;
        const double e = (row[i] - quantized) / d;
        ep[r * count + (i - i1)] = e;
        // Compensate inside the block now; later blocks get one matmul.
        for (int64_t j = i + 1; j < i2; ++j) row[j] -= e * up[i * cols + j];
      }
    }
    if (i2 < cols) {
      w.narrow(1, i2, cols - i2).sub_(err.mm(u.narrow(0, i1, count).narrow(1, i2, cols - i2)));
    }
  }
  if (options.act_order) q = q.index_select(1, torch::argsort(perm));
  return q.to(torch::kFloat32);
}

double GptqLayerError(const torch::Tensor& weight, const torch::Tensor& quantized,
                      const torch::Tensor& hessian) {
  torch::NoGradGuard no_grad;
  const torch::Tensor d = (quantized.to(torch::kFloat64) - weight.to(torch::kFloat64));
  const torch::Tensor dh = MatmulNT(d.to(torch::kFloat32), hessian.to(torch::kFloat32));
  return (dh.to(torch::kFloat64) * d).sum().item<double>();
}

absl::StatusOr<std::vector<GptqLayerReport>> GptqQuantizeModel(FmnistCnn& model,
                                                               const torch::Tensor& calib_x,
                                                               const ChannelBitMap& bits,
                                                               const GptqOptions& options) {
  RETURN_IF_ERROR(ValidateOptions(options));
  if (!calib_x.defined() || calib_x.dim() != 4 || calib_x.size(0) < 1 || calib_x.size(1) != 1 ||
      calib_x.size(2) != 28 || calib_x.size(3) != 28 || !calib_x.is_floating_point()) {
    return absl::InvalidArgumentError("GPTQ needs a non-empty float calibration batch [n,1,28,28]");
  }
  // Resolve and check every requested layer before touching the model.
  std::vector<std::pair<int, std::vector<int>>> todo;  // (layer index, bits)
  for (const auto& [name, widths] : bits) {
    ASSIGN_OR_RETURN(LayerWeight layer, FindLayer(*model, name));
    RETURN_IF_ERROR(ValidateBits(widths, layer.channels, "layer '" + layer.layer + "'"));
    int index = -1;
    for (int i = 0; i < 4; ++i) {
      if (layer.layer == kCnnLayers[i]) index = i;
    }
    if (index < 0) return absl::InvalidArgumentError("GPTQ: unsupported layer '" + name + "'");
    for (const auto& t : todo) {
      if (t.first == index) {
        return absl::InvalidArgumentError("GPTQ: layer '" + layer.layer + "' named twice");
      }
    }
    todo.emplace_back(index, widths);
  }
  std::sort(todo.begin(), todo.end());

  // Snapshot of every parameter, restored on any failure.
  std::vector<std::pair<torch::Tensor, torch::Tensor>> snapshot;
  for (const auto& p : model->parameters()) snapshot.emplace_back(p, p.detach().clone());
  auto restore = [&](absl::Status s) {
    torch::NoGradGuard no_grad;
    for (auto& [param, saved] : snapshot) param.copy_(saved);
    return s;
  };
  FmnistCnn fp(nullptr);
  if (!options.sequential) {
    fp = FmnistCnn();
    torch::NoGradGuard no_grad;
    const auto params = fp->parameters();
    for (size_t i = 0; i < params.size(); ++i) params[i].copy_(snapshot[i].second);
  }

  std::vector<GptqLayerReport> reports;
  try {
    for (const auto& [index, widths] : todo) {
      LayerWeight layer = FindLayer(*model, kCnnLayers[index]).value();
      const auto t0 = std::chrono::steady_clock::now();
      auto collected = CollectHessian(options.sequential ? model : fp, index, calib_x, options.chunk);
      if (!collected.ok()) return restore(collected.status());
      const auto& [h, calib_rows] = *collected;
      torch::Tensor w2 = layer.weight.detach().reshape({layer.channels, -1});
      const auto t1 = std::chrono::steady_clock::now();
      auto q = GptqQuantizeMatrix(w2, h, widths, options);
      if (!q.ok()) return restore(q.status());
      const auto t2 = std::chrono::steady_clock::now();
      auto rtn = RtnMatrix(w2, widths, options.quant);
      if (!rtn.ok()) return restore(rtn.status());

      GptqLayerReport report;
      report.layer = layer.layer;
      report.rows = w2.size(0);
      report.cols = w2.size(1);
      report.calib_rows = calib_rows;
      report.dead_columns = h.diagonal().eq(0).sum().item<int64_t>();
      report.gptq_error = GptqLayerError(w2, *q, h);
      report.rtn_error = GptqLayerError(w2, *rtn, h);
      report.collect_seconds = std::chrono::duration<double>(t1 - t0).count();
      report.quantize_seconds = std::chrono::duration<double>(t2 - t1).count();
      reports.push_back(report);

      torch::NoGradGuard no_grad;
      layer.weight.copy_(q->reshape(layer.weight.sizes()));
    }
  } catch (const c10::Error& e) {
    return restore(absl::InternalError(absl::StrCat("GPTQ failed: ", e.what_without_backtrace())));
  }
  return reports;
}

}  // namespace qfleet::ml
