#ifndef QFLEET_ML_GPTQ_H_
#define QFLEET_ML_GPTQ_H_

#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "common/quantizer.h"
#include "ml/fmnist_cnn.h"
#include "ml/plan_apply.h"  // ChannelBitMap

namespace qfleet::ml {

// GPTQ (Frantar et al. 2022): per-layer weight rounding with second-order
// error compensation. For a layer with weight W [rows = output channels,
// cols = inputs] and calibration inputs X [n, cols] (a Conv2d's im2col
// patches), it minimises ||X W^T - X Q^T||^2 column by column: quantize
// column i with round-to-nearest, then spread its error over the columns
// not yet quantized using the inverse Hessian of H = 2 X^T X / n.
struct GptqOptions {
  // Scheme and observer of the per-output-channel scale / zero point, chosen
  // once per row from the layer's original FP32 row (common's
  // ChooseChannelParams) at the row's own bit-width.
  QuantOptions quant{QuantScheme::kAsymmetric, Observer::kMse};
  // Damping lambda = damp_ratio * mean(diag H) added to H's diagonal; raised
  // tenfold (at most 4 times) while the Cholesky factorisation fails.
  double damp_ratio = 0.01;
  // Columns per block of the lazy batch update (>= 1).
  int64_t block_size = 128;
  // Quantize columns in order of decreasing diag(H) ("act order").
  bool act_order = false;
  // true: standard sequential GPTQ, each layer's calibration inputs come from
  // the model whose earlier layers are already quantized; false: every layer
  // sees the inputs of the FP32 model.
  bool sequential = true;
  // Calibration samples per forward pass while collecting inputs (>= 1).
  int64_t chunk = 128;
};

// H = 2 X^T X / n (float64, [cols, cols]) of calibration inputs `x`
// [n, cols]. InvalidArgument for a tensor that is not 2-D float with n >= 1
// rows. Thread-safe.
absl::StatusOr<torch::Tensor> GptqHessian(const torch::Tensor& x);

// Upper-triangular U with U^T U = h^-1 (float64), the factor GPTQ's
// column updates use. InvalidArgument for a non-square or non-float
// matrix; FailedPrecondition if h is not positive definite. Thread-safe.
absl::StatusOr<torch::Tensor> GptqInverseCholesky(const torch::Tensor& h);

// Quantizes `weight` [rows, cols] (float) given `hessian` [cols, cols]
// (symmetric, PSD) and returns the dequantized result (float32, same shape):
// every row holds values of the grid chosen for it at bits_per_row[r] (one
// entry for all rows, or one per row; 1..8). Columns with diag(H) == 0
// ("dead" inputs) are quantized as 0 and excluded from the compensation.
// InvalidArgument for wrong shapes, bits or options, or a NaN/Inf weight;
// FailedPrecondition if H stays non-positive-definite after damping.
// Thread-safe for distinct tensors.
absl::StatusOr<torch::Tensor> GptqQuantizeMatrix(const torch::Tensor& weight,
                                                 const torch::Tensor& hessian,
                                                 const std::vector<int>& bits_per_row,
                                                 const GptqOptions& options);

// Layer error of a quantized weight under a Hessian: trace(D H D^T) with
// D = quantized - weight (both [rows, cols]); with H = 2 X^T X / n this is
// 2/n * ||X W^T - X Q^T||^2. The product D H runs in float32 (relative
// error ~1e-6). Shapes must agree (throws c10::Error otherwise, torch op
// contract). Thread-safe.
double GptqLayerError(const torch::Tensor& weight, const torch::Tensor& quantized,
                      const torch::Tensor& hessian);

// What GptqQuantizeModel did to one layer.
struct GptqLayerReport {
  std::string layer;         // "conv2"
  int64_t rows = 0, cols = 0;
  int64_t calib_rows = 0;    // rows of X (samples x output positions)
  int64_t dead_columns = 0;  // inputs that were 0 on every calibration row
  double gptq_error = 0;     // GptqLayerError of the GPTQ weight
  double rtn_error = 0;      // GptqLayerError of FakeQuantizePerChannel (same H)
  double collect_seconds = 0;   // forward passes and H accumulation
  double quantize_seconds = 0;  // GptqQuantizeMatrix
};

// Quantizes the CNN's layers named in `bits` (layer -> widths, as in
// ApplyChannelBits) with GPTQ in forward order (conv1, conv2, fc1, fc2),
// replacing each weight in place by its dequantized GPTQ result; biases and
// layers not named stay FP32. calib_x: [n, 1, 28, 28] normalized images,
// n >= 1. InvalidArgument for an empty or misshapen batch, an unknown layer,
// bad bit counts or widths, or bad options; FailedPrecondition from
// GptqQuantizeMatrix; Internal if a torch op fails. The model is unchanged
// on error. Not thread-safe for the same model.
absl::StatusOr<std::vector<GptqLayerReport>> GptqQuantizeModel(FmnistCnn& model,
                                                               const torch::Tensor& calib_x,
                                                               const ChannelBitMap& bits,
                                                               const GptqOptions& options);

}  // namespace qfleet::ml

#endif  // QFLEET_ML_GPTQ_H_
