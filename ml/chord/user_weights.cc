#include "ml/chord/user_weights.h"

#include <torch/torch.h>

#include "absl/strings/str_format.h"
#include "ml/chord/quant_rows.h"

namespace qfleet::ml::chord {

absl::StatusOr<QuantTables> QuantTables::Create(const ChannelCatalog& catalog,
                                                const std::vector<int>& widths) {
  if (widths.empty()) return absl::InvalidArgumentError("no quantization widths");
  for (int b : widths) {
    if ((b < 0 || b > 8) && b != 32) {
      return absl::InvalidArgumentError(absl::StrFormat("width %d not in 0..8 or 32", b));
    }
  }
  QuantTables t;
  t.widths_ = widths;
  for (int64_t l = 0; l < catalog.num_layers(); ++l) {
    std::vector<torch::Tensor> per_width;
    for (int b : widths) {
      per_width.push_back(b == 32 ? catalog.rows(l) : FakeQuantRows(catalog.rows(l), b));
    }
    t.tables_.push_back(torch::stack(per_width, 0));
    t.channels_.push_back(catalog.layers()[l].channels);
  }
  return t;
}

int QuantTables::WidthIndex(int bits) const {
  for (size_t i = 0; i < widths_.size(); ++i) {
    if (widths_[i] == bits) return static_cast<int>(i);
  }
  return -1;
}

QuantTables QuantTables::To(const torch::Device& device) const {
  QuantTables t = *this;
  for (torch::Tensor& x : t.tables_) x = x.to(device);
  return t;
}

UserWeights UserWeights::Hard(const ChannelCatalog& catalog, const QuantTables& tables,
                              torch::Tensor index) {
  UserWeights w(catalog, tables);
  w.hard_ = true;
  w.users_ = index.size(0);
  w.index_ = std::move(index);
  return w;
}

UserWeights UserWeights::Soft(const ChannelCatalog& catalog, const QuantTables& tables,
                              torch::Tensor mix) {
  UserWeights w(catalog, tables);
  w.hard_ = false;
  w.users_ = mix.size(0);
  w.mix_ = std::move(mix);
  return w;
}

torch::Tensor UserWeights::Rows(int64_t l, const torch::Tensor& rows) const {
  const ChordLayer& layer = catalog_->layers()[l];
  const torch::Tensor& table = tables_->table(l);  // [W, C, K]
  const int64_t w = table.size(0), c = layer.channels, k = layer.row_length;
  const int64_t u = rows.size(0), r = rows.size(1);
  if (hard_) {
    torch::Tensor wi = index_.slice(1, layer.offset, layer.offset + c).gather(1, rows);
    torch::Tensor flat = (wi * c + rows).reshape({-1});
    return table.reshape({w * c, k}).index_select(0, flat).reshape({u, r, k});
  }
  torch::Tensor p = mix_.slice(1, layer.offset, layer.offset + c)
                        .gather(1, rows.unsqueeze(2).expand({u, r, w}));  // [U, R, W]
  torch::Tensor t = table.index_select(1, rows.reshape({-1})).reshape({w, u, r, k});
  return torch::einsum("urw,wurk->urk", {p, t});
}

torch::Tensor UserWeights::All(int64_t l) const {
  const ChordLayer& layer = catalog_->layers()[l];
  const torch::Tensor& table = tables_->table(l);
  if (hard_) {
    torch::Tensor rows = torch::arange(layer.channels, torch::TensorOptions()
                                                           .dtype(torch::kLong)
                                                           .device(table.device()))
                             .unsqueeze(0)
                             .expand({users_, layer.channels});
    return Rows(l, rows);
  }
  torch::Tensor p = mix_.slice(1, layer.offset, layer.offset + layer.channels);  // [U, C, W]
  return torch::einsum("ucw,wck->uck", {p, table});
}

absl::StatusOr<torch::Tensor> WidthIndexForBits(const QuantTables& tables,
                                                const torch::Tensor& bits) {
  torch::Tensor out = torch::full(bits.sizes(), -1, torch::kLong);
  torch::Tensor b = bits.to(torch::kLong);
  for (int v = 0; v <= 32; ++v) {
    torch::Tensor m = b.eq(v);
    if (!m.any().item<bool>()) continue;
    const int idx = tables.WidthIndex(v);
    if (idx < 0) return absl::InvalidArgumentError(absl::StrFormat("no table for %d bits", v));
    out.masked_fill_(m, idx);
  }
  if (out.lt(0).any().item<bool>()) return absl::InvalidArgumentError("bit-width without a table");
  return out;
}

}  // namespace qfleet::ml::chord
