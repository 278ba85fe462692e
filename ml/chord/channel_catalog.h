#ifndef QFLEET_ML_CHORD_CHANNEL_CATALOG_H_
#define QFLEET_ML_CHORD_CHANNEL_CATALOG_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "absl/status/statusor.h"

namespace qfleet::ml::chord {

// The backbone's per-user table (Caser's user embeddings, one row per
// user): a device reads only its own row of it (chord_device.h KeepOwnRow).
inline constexpr char kPerUserLayer[] = "user_emb";

// A backbone with a separate output item table (Caser's out_emb) reads its
// input item table (item_emb) only at the rows of the user's recent items:
// a device that keeps those rows at tier 0 (chord_device.h KeepWindowRows)
// loses nothing from how a plan ranks the rest of the table.
inline constexpr char kInputItemLayer[] = "item_emb";
inline constexpr char kOutputItemLayer[] = "out_emb";

// One quantizable layer of the frozen backbone as CHORD sees it: a weight
// with >= 2 dims (layer_weights.h naming), quantized per output channel.
// Embedding rows are channels.
struct ChordLayer {
  std::string name;        // "blocks.0.query", "item_emb"
  int64_t channels = 0;    // weight.size(0)
  int64_t row_length = 0;  // elements per channel
  int64_t offset = 0;      // index of the layer's first channel in the flat order
};

// Number of static per-channel features in ChannelCatalog::features().
constexpr int64_t kChannelFeatures = 4;

// The frozen backbone's channels in plan order (QuantizableLayers order,
// channels of a layer consecutive) with what the hypernetworks read about
// each: the FP32 weight rows and static features
//   0: log of the row's L2 norm
//   1: log of the row's mean squared 3-bit RTN error
//   2: signed log(1 + |per-channel Hessian trace| * 1e3), 0 when unknown
//   3: log of the row length
// each standardized within its layer (mean 0, std 1; 0 when constant).
// Immutable after Create; thread-safe to read.
class ChannelCatalog {
 public:
  // Reads every quantizable layer of `model` (copies of the weights, so the
  // model may change afterwards). `sensitivity` maps a layer name to one
  // Hessian-trace estimate per channel (ml/hessian_trace.h); it may
  // be empty or name only some layers. InvalidArgument if the model has no
  // quantizable layer or a sensitivity vector has the wrong size.
  static absl::StatusOr<ChannelCatalog> Create(
      const torch::nn::Module& model,
      const std::map<std::string, std::vector<double>>& sensitivity = {});

  const std::vector<ChordLayer>& layers() const { return layers_; }
  int64_t num_layers() const { return static_cast<int64_t>(layers_.size()); }
  int64_t total_channels() const { return total_channels_; }
  int64_t total_elements() const { return total_elements_; }
  // Index of the layer called `name`, or -1.
  int64_t LayerIndex(const std::string& name) const;
  // FP32 weight of layer l as [channels, row_length] (no gradient).
  const torch::Tensor& rows(int64_t l) const { return rows_[l]; }
  // [total_channels, kChannelFeatures] float32.
  const torch::Tensor& features() const { return features_; }
  // [total_channels] float32: the row length of every channel.
  const torch::Tensor& elements() const { return elements_; }
  // Row length per layer, as DecodeForBudget wants it.
  std::vector<uint32_t> RowLengths() const;

 private:
  std::vector<ChordLayer> layers_;
  std::vector<torch::Tensor> rows_;
  torch::Tensor features_;
  torch::Tensor elements_;
  int64_t total_channels_ = 0;
  int64_t total_elements_ = 0;
};

}  // namespace qfleet::ml::chord

#endif  // QFLEET_ML_CHORD_CHANNEL_CATALOG_H_
