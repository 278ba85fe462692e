#ifndef QFLEET_KERNELS_TORCH_SERVED_EVAL_H_
#define QFLEET_KERNELS_TORCH_SERVED_EVAL_H_

#include "absl/status/statusor.h"
#include "common/idx_dataset.h"
#include "kernels/torch/fmnist_cnn.h"

namespace qfleet::torchq {

// Top-1 accuracy of the CNN as a device serves it: the module's weights as
// they are (quantize them before), and each ReLU output quantized per
// tensor at `activation_bits` with a dynamic range (scale = batch max /
// (2^bits - 1); 0 = float activations). InvalidArgument for an empty
// dataset or bits outside 0..8. Not thread-safe for the same model.
absl::StatusOr<double> EvaluateServedAccuracy(FmnistCnn& model, const ImageDataset& data,
                                              int activation_bits);

}  // namespace qfleet::torchq

#endif  // QFLEET_KERNELS_TORCH_SERVED_EVAL_H_
