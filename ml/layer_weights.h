#ifndef QFLEET_ML_LAYER_WEIGHTS_H_
#define QFLEET_ML_LAYER_WEIGHTS_H_

#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "absl/status/statusor.h"

namespace qfleet::ml {

// A quantizable layer of a module: a parameter with >= 2 dims (Conv2d and
// Linear weights), quantized per output channel (dim 0). Its layer name is
// the parameter name without the ".weight" suffix ("conv1" for
// "conv1.weight"), the name precision plans and bit maps use.
struct LayerWeight {
  std::string layer;       // "conv1"
  std::string param_name;  // "conv1.weight"
  torch::Tensor weight;    // shares storage with the module's parameter
  int64_t channels = 0;    // weight.size(0)
};

// Every quantizable layer of `module`, in parameter registration order.
// Thread-safe for distinct modules.
std::vector<LayerWeight> QuantizableLayers(const torch::nn::Module& module);

// The quantizable layer called `name` ("conv1" or "conv1.weight").
// InvalidArgument naming the known layers when there is none. Thread-safe
// for distinct modules.
absl::StatusOr<LayerWeight> FindLayer(const torch::nn::Module& module, const std::string& name);

}  // namespace qfleet::ml

#endif  // QFLEET_ML_LAYER_WEIGHTS_H_
