#ifndef QFLEET_ML_CHORD_USER_WEIGHTS_H_
#define QFLEET_ML_CHORD_USER_WEIGHTS_H_

#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "ml/chord/channel_catalog.h"

namespace qfleet::ml::chord {

// Every catalog layer fake-quantized once at each of a list of widths
// (FakeQuantRows; width 32 means the FP32 rows). The backbone is frozen, so
// a user's per-channel quantized weights are a gather from these tables:
// quantizing one channel never reads another, which makes the per-user
// "quantize the whole backbone, then run it" exact when only the rows a
// forward pass touches are gathered. Immutable; thread-safe to read.
class QuantTables {
 public:
  // InvalidArgument for an empty width list or a width outside 0..8 and 32.
  // Widths may repeat (one table per entry, in order).
  static absl::StatusOr<QuantTables> Create(const ChannelCatalog& catalog,
                                            const std::vector<int>& widths);

  const std::vector<int>& widths() const { return widths_; }
  // Index of the first table with `bits`, or -1.
  int WidthIndex(int bits) const;
  // [W, channels, row_length] of layer l.
  const torch::Tensor& table(int64_t l) const { return tables_[l]; }
  // Copies every table to `device` (the only change a CUDA path needs).
  QuantTables To(const torch::Device& device) const;

 private:
  std::vector<int> widths_;
  std::vector<torch::Tensor> tables_;
  std::vector<int64_t> channels_;
};

// The weights every user of a batch runs with: channel c of user u is
//   sum_w mix[u, c, w] * table_w[c]
// (soft: a probability or straight-through vector over the tables,
// differentiable with respect to `mix`), or exactly table_{index[u, c]}[c]
// (hard). Holds references to the tables and catalog, which must outlive it.
// Not thread-safe per instance (cheap to build one per thread).
class UserWeights {
 public:
  // index [U, total_channels] int64, each in [0, W).
  static UserWeights Hard(const ChannelCatalog& catalog, const QuantTables& tables,
                          torch::Tensor index);
  // mix [U, total_channels, W] float.
  static UserWeights Soft(const ChannelCatalog& catalog, const QuantTables& tables,
                          torch::Tensor mix);

  int64_t users() const { return users_; }
  // Rows `rows` [U, R] (int64 channel indices of layer l, one list per user)
  // of each user's layer l: [U, R, row_length].
  torch::Tensor Rows(int64_t l, const torch::Tensor& rows) const;
  // Every row of layer l: [U, channels, row_length].
  torch::Tensor All(int64_t l) const;

 private:
  UserWeights(const ChannelCatalog& catalog, const QuantTables& tables)
      : catalog_(&catalog), tables_(&tables) {}
  const ChannelCatalog* catalog_;
  const QuantTables* tables_;
  bool hard_ = true;
  torch::Tensor index_;  // hard
  torch::Tensor mix_;    // soft
  int64_t users_ = 0;
};

// Width index per user and channel for per-channel `bits` [U, N] (int):
// the index of each bit-width in tables.widths(). InvalidArgument if a
// width has no table.
absl::StatusOr<torch::Tensor> WidthIndexForBits(const QuantTables& tables,
                                                const torch::Tensor& bits);

}  // namespace qfleet::ml::chord

#endif  // QFLEET_ML_CHORD_USER_WEIGHTS_H_
