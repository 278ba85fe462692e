#ifndef QFLEET_ML_MODEL_IO_H_
#define QFLEET_ML_MODEL_IO_H_

#include <torch/nn/module.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/tensor_container.h"

namespace qfleet::ml {

// Copies every parameter and buffer of `module` (named as in
// named_parameters(), e.g. "conv1.weight") into an FP32 container, in the
// module's registration order. Thread-safe for distinct modules.
TensorContainer ModuleToContainer(const torch::nn::Module& module);

// Loads `container` into `module`'s parameters and buffers. Packed tensors
// are dequantized. Returns InvalidArgument when a parameter is missing from
// the container, a shape differs, or the container names a tensor the module
// does not have; the module is left unchanged on error.
absl::Status LoadContainer(const TensorContainer& container, torch::nn::Module& module);

// Converts one FP32 container tensor to a torch tensor (copy) and back.
absl::StatusOr<torch::Tensor> ToTorch(const Tensor& t);
Tensor FromTorch(const std::string& name, const torch::Tensor& t);

}  // namespace qfleet::ml

#endif  // QFLEET_ML_MODEL_IO_H_
