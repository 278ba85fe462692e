#ifndef QFLEET_ML_SERVED_EVAL_H_
#define QFLEET_ML_SERVED_EVAL_H_

#include <vector>

#include "absl/status/statusor.h"
#include "common/idx_dataset.h"
#include "ml/fmnist_cnn.h"

namespace qfleet::ml {

// The CNN's activation quantization points, in forward order: the ReLU
// outputs of conv1, conv2 and fc1 (the points QAT fake-quantizes).
constexpr size_t kServedActPoints = 3;

// Static activation steps for serving the CNN at `activation_bits`: one
// unsigned per-tensor step per point, chosen in forward order on `calib`
// (each point sees the previous points already quantized) by the MSE
// observer (common/quantizer.h: the clip in {1, ..., 0.2} x max that
// minimizes the squared fake-quant error over every calibration value).
// Use the module's weights as they will be served (quantize them first).
// Returns kServedActPoints steps, each > 0 and finite; InvalidArgument for
// an empty set, bits outside 1..8 or a model that yields NaN/Inf. Not
// thread-safe for the same model.
absl::StatusOr<std::vector<double>> CalibrateActivationSteps(FmnistCnn& model,
                                                             const ImageDataset& calib,
                                                             int activation_bits);

// Top-1 accuracy of the CNN as a device serves it: the module's weights as
// they are (quantize them before), and each ReLU output quantized per
// tensor to clamp(round(a / step), 0, 2^bits - 1) * step with the static
// `steps` from CalibrateActivationSteps (activation_bits 0: float
// activations, `steps` ignored). InvalidArgument for an empty dataset, bits
// outside 0..8, or (bits > 0) a steps vector that is not kServedActPoints
// positive finite values. Not thread-safe for the same model.
absl::StatusOr<double> EvaluateServedAccuracy(FmnistCnn& model, const ImageDataset& data,
                                              int activation_bits,
                                              const std::vector<double>& steps);

}  // namespace qfleet::ml

#endif  // QFLEET_ML_SERVED_EVAL_H_
