#include "ml/chord/chord_device.h"

#include <cmath>

#include <torch/torch.h>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "common/plan_codec.h"
#include "common/status_macros.h"
#include "ml/chord/bundle_format.h"
#include "ml/model_io.h"
#include "ml/seqrec/seqrec_factory.h"

namespace qfleet::ml::chord {

absl::StatusOr<std::unique_ptr<DeviceBundle>> DeviceBundleFromContainer(
    const TensorContainer& bundle, const SeqRecConfig& defaults) {
  TensorContainer backbone, encoder;
  const Tensor* marker = nullptr;
  for (const Tensor& t : bundle.tensors) {
    if (absl::StartsWith(t.name, kEncoderPrefix)) {
      Tensor e = t;
      e.name = t.name.substr(sizeof(kEncoderPrefix) - 1);
      encoder.tensors.push_back(std::move(e));
    } else if (t.name == kBackboneQueryMarker) {
      marker = &t;
    } else {
      backbone.tensors.push_back(t);
    }
  }
  auto device = std::make_unique<DeviceBundle>();
  if (marker != nullptr) {
    // The device sends its backbone's query: there is no encoder to build.
    if (!encoder.tensors.empty()) {
      return absl::InvalidArgumentError("model bundle holds both a user encoder and the query marker");
    }
    if (marker->dtype != DType::kFloat32 || marker->values.size() != 1 || marker->values[0] != 1.0f) {
      return absl::InvalidArgumentError("model bundle's query marker is malformed");
    }
    device->backbone_query = true;
  } else {
    auto shape_of = [&encoder](const char* name) -> absl::StatusOr<std::vector<int64_t>> {
      const Tensor* t = encoder.Find(name);
      if (t == nullptr || t->shape.size() != 2) {
        return absl::InvalidArgumentError(
            absl::StrFormat("model bundle lacks the user encoder's 2-D '%s'", name));
      }
      return t->shape;
    };
    ASSIGN_OR_RETURN(const auto item, shape_of("item_emb.weight"));
    ASSIGN_OR_RETURN(const auto pos, shape_of("pos_emb.weight"));
    ASSIGN_OR_RETURN(const auto mlp, shape_of("mlp.weight"));
    ASSIGN_OR_RETURN(const auto out, shape_of("out.weight"));
    UserEncoderOptions eo;
    eo.num_items = item[0] - 1;
    eo.item_dim = item[1];
    eo.history = pos[0];
    eo.hidden = mlp[0];
    eo.embed_dim = out[0];
    if (pos[1] != eo.item_dim || mlp[1] != 2 * eo.item_dim || out[1] != eo.hidden) {
      return absl::InvalidArgumentError("the user encoder's shapes disagree");
    }
    RETURN_IF_ERROR(ValidateUserEncoderOptions(eo));
    device->encoder = UserEncoder(eo, /*seed=*/0);
    RETURN_IF_ERROR(LoadContainer(encoder, *device->encoder));
    device->encoder->eval();
  }
  ASSIGN_OR_RETURN(device->backbone, SeqRecModelFromContainer(backbone, defaults));
  device->backbone->eval();
  if (device->encoder && device->encoder->options().num_items != device->backbone->config().num_items) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "the user encoder knows %d items, the backbone %d", device->encoder->options().num_items,
        device->backbone->config().num_items));
  }
  ASSIGN_OR_RETURN(device->catalog, ChannelCatalog::Create(*device->backbone));
  device->row_lengths = device->catalog.RowLengths();
  for (const auto& p : device->backbone->parameters()) device->fp32_bytes += 4.0 * p.numel();
  return device;
}

int64_t DeviceBundle::EmbeddingHistory() const {
  return backbone_query ? backbone->HistoryLength() : encoder->options().history;
}

absl::StatusOr<torch::Tensor> DeviceUserEmbeddings(DeviceBundle& device, const torch::Tensor& histories,
                                                   const torch::Tensor& users) {
  if (device.backbone_query) return QuerySeqRec(*device.backbone, histories, users);
  return EncodeUsers(device.encoder, histories);
}

absl::StatusOr<BudgetDecodeOptions> WithTierImportance(const BudgetDecodeOptions& decode,
                                                       const std::vector<double>& tier_importance) {
  BudgetDecodeOptions out = decode;
  if (tier_importance.empty()) return out;
  if (tier_importance.size() != 4) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "plan carries %d tier weights, expected 4", tier_importance.size()));
  }
  for (int t = 0; t < 4; ++t) {
    const double w = tier_importance[t];
    if (!std::isfinite(w) || w <= 0 || w > 1e9) {
      return absl::InvalidArgumentError(absl::StrFormat("plan tier weight %d is %g", t, w));
    }
    out.tier_importance[t] = w;
  }
  return out;
}

namespace {

// The per-user table's [offset, channels] in the catalog; channels 0 if absent.
std::pair<int64_t, int64_t> PerUserRows(const ChannelCatalog& catalog) {
  const int64_t l = catalog.LayerIndex(kPerUserLayer);
  if (l < 0) return {0, 0};
  return {catalog.layers()[l].offset, catalog.layers()[l].channels};
}

absl::Status CheckOwnUser(int64_t own_user, int64_t rows) {
  if (own_user < 0 || own_user >= rows) {
    return absl::InvalidArgumentError(
        absl::StrFormat("user %d is not a row of the model's %d-user table", own_user, rows));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status KeepOwnRow(const ChannelCatalog& catalog, std::vector<uint8_t>& codes, int64_t own_user) {
  const auto [offset, rows] = PerUserRows(catalog);
  if (rows == 0) return absl::OkStatus();
  if (static_cast<int64_t>(codes.size()) != catalog.total_channels()) {
    return absl::InvalidArgumentError("codes do not cover the catalog");
  }
  if (absl::Status s = CheckOwnUser(own_user, rows); !s.ok()) return s;
  codes[static_cast<size_t>(offset + own_user)] = 0;
  return absl::OkStatus();
}

absl::Status KeepOwnRows(const ChannelCatalog& catalog, torch::Tensor& codes,
                         absl::Span<const int32_t> users, int64_t top) {
  const auto [offset, rows] = PerUserRows(catalog);
  if (rows == 0) return absl::OkStatus();
  if (codes.dim() != 2 || codes.size(0) != static_cast<int64_t>(users.size()) ||
      codes.size(1) != catalog.total_channels() || codes.scalar_type() != torch::kLong) {
    return absl::InvalidArgumentError("codes must be int64 [users, channels]");
  }
  auto a = codes.accessor<int64_t, 2>();
  for (size_t i = 0; i < users.size(); ++i) {
    if (absl::Status s = CheckOwnUser(users[i], rows); !s.ok()) return s;
    a[static_cast<int64_t>(i)][offset + users[i]] = top;
  }
  return absl::OkStatus();
}

int64_t InputOnlyItemLayer(const ChannelCatalog& catalog) {
  if (catalog.LayerIndex(kOutputItemLayer) < 0) return -1;
  return catalog.LayerIndex(kInputItemLayer);
}

absl::StatusOr<int64_t> ElementsKeptOnTop(const ChannelCatalog& catalog, int64_t window_rows) {
  if (window_rows < 0) return absl::InvalidArgumentError("window_rows must be >= 0");
  int64_t kept = 0;
  if (const int64_t l = catalog.LayerIndex(kPerUserLayer); l >= 0) {
    kept += catalog.layers()[l].row_length;
  }
  if (const int64_t l = InputOnlyItemLayer(catalog); l >= 0) {
    kept += window_rows * catalog.layers()[l].row_length;
  }
  return kept;
}

namespace {

absl::Status CheckItemRow(const ChordLayer& layer, int64_t item) {
  if (item < 0 || item >= layer.channels) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "item %d is not a row of the model's %d-row '%s'", item, layer.channels, layer.name));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status KeepWindowRows(const ChannelCatalog& catalog, std::vector<uint8_t>& codes,
                            absl::Span<const int64_t> window) {
  const int64_t l = InputOnlyItemLayer(catalog);
  if (l < 0) return absl::OkStatus();
  if (static_cast<int64_t>(codes.size()) != catalog.total_channels()) {
    return absl::InvalidArgumentError("codes do not cover the catalog");
  }
  const ChordLayer& layer = catalog.layers()[l];
  for (int64_t item : window) {
    if (item == 0) continue;
    RETURN_IF_ERROR(CheckItemRow(layer, item));
    codes[static_cast<size_t>(layer.offset + item)] = 0;
  }
  return absl::OkStatus();
}

absl::Status KeepWindowRows(const ChannelCatalog& catalog, torch::Tensor& codes,
                            const torch::Tensor& windows, int64_t top) {
  const int64_t l = InputOnlyItemLayer(catalog);
  if (l < 0) return absl::OkStatus();
  if (codes.dim() != 2 || codes.size(1) != catalog.total_channels() ||
      codes.scalar_type() != torch::kLong) {
    return absl::InvalidArgumentError("codes must be int64 [users, channels]");
  }
  if (windows.dim() != 2 || windows.size(0) != codes.size(0) ||
      windows.scalar_type() != torch::kLong) {
    return absl::InvalidArgumentError("windows must be int64 [users, length]");
  }
  const ChordLayer& layer = catalog.layers()[l];
  auto a = codes.accessor<int64_t, 2>();
  auto w = windows.accessor<int64_t, 2>();
  for (int64_t u = 0; u < windows.size(0); ++u) {
    for (int64_t j = 0; j < windows.size(1); ++j) {
      const int64_t item = w[u][j];
      if (item == 0) continue;
      RETURN_IF_ERROR(CheckItemRow(layer, item));
      a[u][layer.offset + item] = top;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<DecodedPlan> DecodeDevicePlan(const DeviceBundle& device, const std::string& bytes,
                                             const std::vector<int>& fixed_tier_bits,
                                             double budget_bits,
                                             const BudgetDecodeOptions& decode,
                                             int64_t own_user,
                                             absl::Span<const int64_t> window) {
  ASSIGN_OR_RETURN(PrecisionPlan plan, DecodePlan(bytes));
  const ChannelCatalog& catalog = device.catalog;
  if (plan.layer_names.size() != catalog.layers().size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "plan has %d layers, the model %d", plan.layer_names.size(), catalog.layers().size()));
  }
  for (size_t l = 0; l < plan.layer_names.size(); ++l) {
    const ChordLayer& layer = catalog.layers()[l];
    if (plan.layer_names[l] != layer.name || plan.channels[l] != layer.channels) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "plan layer %d is '%s' with %d channels, the model's is '%s' with %d", l,
          plan.layer_names[l], plan.channels[l], layer.name, layer.channels));
    }
  }
  if (own_user >= 0) RETURN_IF_ERROR(KeepOwnRow(catalog, plan.codes, own_user));
  RETURN_IF_ERROR(KeepWindowRows(catalog, plan.codes, window));
  DecodedPlan out;
  if (!fixed_tier_bits.empty()) {
    if (fixed_tier_bits.size() != 4) return absl::InvalidArgumentError("tier_bits needs four widths");
    for (int t = 0; t < 4; ++t) {
      if (fixed_tier_bits[t] < 1 || fixed_tier_bits[t] > 8) {
        return absl::InvalidArgumentError(absl::StrFormat("tier width %d", fixed_tier_bits[t]));
      }
      out.tier_bits[t] = fixed_tier_bits[t];
    }
  } else {
    ASSIGN_OR_RETURN(BudgetDecision d,
                     DecodeForBudget(plan, device.row_lengths, budget_bits, decode));
    out.tier_bits = d.tier_bits;
  }
  out.channel_bits.resize(plan.codes.size());
  double weighted = 0, total = 0;
  size_t c = 0;
  for (size_t l = 0; l < plan.channels.size(); ++l) {
    const double row = static_cast<double>(device.row_lengths[l]);
    for (uint32_t i = 0; i < plan.channels[l]; ++i, ++c) {
      out.channel_bits[c] = out.tier_bits[plan.codes[c]];
      weighted += row * out.channel_bits[c];
      total += row;
    }
  }
  out.avg_bits = total > 0 ? weighted / total : 0;
  return out;
}

}  // namespace qfleet::ml::chord
