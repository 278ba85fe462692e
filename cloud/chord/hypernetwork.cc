#include "cloud/chord/hypernetwork.h"

#include <algorithm>
#include <cmath>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "absl/strings/str_cat.h"

namespace qfleet::ml::chord {

absl::StatusOr<RelevanceLayout> RelevanceLayout::Create(const ChannelCatalog& catalog,
                                                        const HypernetOptions& options) {
  RelevanceLayout out;
  out.total_ = catalog.total_channels();
  out.layer_ = catalog.LayerIndex(options.relevance_layer);
  if (out.layer_ < 0) {
    return absl::InvalidArgumentError("relevance layer '" + options.relevance_layer +
                                      "' is not in the catalog");
  }
  const ChordLayer& base = catalog.layers()[out.layer_];
  out.rows_ = base.channels;
  out.width_ = base.row_length;
  out.item_ranges_.push_back({base.offset, base.channels});
  std::vector<int64_t> seen = {out.layer_};
  auto resolve = [&](const std::string& name) -> absl::StatusOr<int64_t> {
    const int64_t l = catalog.LayerIndex(name);
    if (l < 0) return absl::InvalidArgumentError("relevance layer '" + name + "' is not in the catalog");
    if (std::find(seen.begin(), seen.end(), l) != seen.end()) {
      return absl::InvalidArgumentError("relevance layer '" + name + "' is named twice");
    }
    seen.push_back(l);
    return l;
  };
  for (const std::string& name : options.relevance_tied) {
    absl::StatusOr<int64_t> l = resolve(name);
    if (!l.ok()) return l.status();
    const ChordLayer& t = catalog.layers()[*l];
    if (t.channels != base.channels) {
      return absl::InvalidArgumentError(absl::StrCat("relevance layer '", name, "' has ", t.channels,
                                                     " rows, '", base.name, "' ", base.channels));
    }
    out.tied_.push_back(*l);
    out.width_ += t.row_length;
    out.item_ranges_.push_back({t.offset, t.channels});
  }
  for (const std::string& name : options.relevance_last) {
    absl::StatusOr<int64_t> l = resolve(name);
    if (!l.ok()) return l.status();
    out.last_ranges_.push_back({catalog.layers()[*l].offset, catalog.layers()[*l].channels});
  }
  return out;
}

torch::Tensor RelevanceLayout::ItemRows(const ChannelCatalog& catalog) const {
  std::vector<torch::Tensor> parts = {catalog.rows(layer_)};
  for (int64_t l : tied_) parts.push_back(catalog.rows(l));
  return torch::cat(parts, 1);
}

torch::Tensor RelevanceLayout::RankKey(const torch::Tensor& relevance) const {
  torch::Tensor z = ((relevance - relevance.mean(1, true)) /
                     relevance.std(1, true, true).clamp_min(1e-6))
                        .clamp(-1e2, 1e2)
                        .to(torch::kFloat32);
  // Standardized scores stay far inside +-1e3.
  torch::Tensor key = torch::full({relevance.size(0), total_}, 1e3,
                                  relevance.options().dtype(torch::kFloat32));
  for (const auto& [offset, channels] : item_ranges_) key.slice(1, offset, offset + channels).copy_(z);
  for (const auto& [offset, channels] : last_ranges_) key.slice(1, offset, offset + channels).fill_(-1e3);
  return key;
}

kernels::RelevanceTierSpec RelevanceLayout::TierSpec(const ChannelCatalog& catalog,
                                                    const std::array<double, 4>& fractions) const {
  kernels::RelevanceTierSpec spec;
  spec.channels = total_;
  torch::Tensor elements = catalog.elements().to(torch::kFloat64).contiguous();
  spec.elements.assign(elements.data_ptr<double>(), elements.data_ptr<double>() + total_);
  torch::Tensor rows = ItemRows(catalog).to(torch::kFloat32).contiguous();
  spec.items = rows.size(0);
  spec.width = rows.size(1);
  spec.item_rows.assign(rows.data_ptr<float>(), rows.data_ptr<float>() + rows.numel());
  for (const auto& [offset, channels] : item_ranges_) spec.item_blocks.push_back(offset);
  spec.last_ranges = last_ranges_;
  spec.fractions = fractions;
  return spec;
}

ChordHypernetImpl::ChordHypernetImpl(const ChannelCatalog& catalog, const HypernetOptions& options,
                                     uint64_t seed)
    : options_(options), total_channels_(catalog.total_channels()) {
  const int64_t layers = catalog.num_layers();
  const int64_t query = options.key_dim + kChannelFeatures;
  trunk = register_module("trunk", torch::nn::Linear(options.embed_dim, options.hidden));
  layer_head = register_module("layer_head", torch::nn::Linear(options.hidden, layers));
  filter_head = register_module("filter_head", torch::nn::Linear(options.hidden, layers * query));
  element_head =
      register_module("element_head", torch::nn::Linear(options.hidden, options.element_rank));
  channel_bias = register_parameter("channel_bias", torch::zeros({total_channels_}));
  if (!options.relevance_layer.empty()) {
    absl::StatusOr<RelevanceLayout> layout = RelevanceLayout::Create(catalog, options);
    TORCH_CHECK(layout.ok(), std::string(layout.status().message()));
    relevance_ = *std::move(layout);
    item_rows_ = relevance_->ItemRows(catalog);
    if (options.query_input) {
      TORCH_CHECK(options.embed_dim == item_rows_.size(1), "query input: embed_dim ", options.embed_dim,
                  " differs from the relevance rows' width ", item_rows_.size(1));
    } else {
      relevance_proj = register_module("relevance_proj",
                                       torch::nn::Linear(options.embed_dim, item_rows_.size(1)));
    }
  }
  TORCH_CHECK(!options.query_input || relevance_, "query input needs relevance mode");
  std::vector<torch::Tensor> layer_ids;
  for (int64_t l = 0; l < layers; ++l) {
    const ChordLayer& layer = catalog.layers()[l];
    key_proj.push_back(register_parameter(absl::StrCat("key_proj_", l),
                                          torch::zeros({layer.row_length, options.key_dim})));
    element_basis.push_back(register_parameter(
        absl::StrCat("element_basis_", l), torch::zeros({layer.row_length, options.element_rank})));
    channels_.push_back(layer.channels);
    row_lengths_.push_back(layer.row_length);
    const torch::Tensor& rows = catalog.rows(l);
    rows_.push_back(rows);
    torch::Tensor sq = rows.pow(2);
    torch::Tensor total = sq.sum(1, true);
    energy_.push_back(torch::where(total.gt(0), sq / total.clamp_min(1e-30),
                                   torch::full_like(sq, 1.0 / static_cast<double>(layer.row_length))));
    layer_ids.push_back(torch::full({layer.channels}, l, torch::kLong));
  }
  features_ = catalog.features();
  layer_of_channel_ = torch::cat(layer_ids, 0);

  at::Generator gen = at::detail::createCPUGenerator(seed);
  torch::NoGradGuard no_grad;
  for (auto& p : named_parameters()) {
    torch::Tensor t = p.value();
    if (p.key() == "channel_bias") continue;
    if (t.dim() >= 2) {
      const bool linear = p.key().find("head") != std::string::npos || p.key().find("trunk") == 0 ||
                          p.key().find("relevance_proj") == 0;
      const double fan_in = static_cast<double>(linear ? t.size(1) : 1);
      t.normal_(0.0, linear ? 1.0 / std::sqrt(fan_in) : 1.0, gen);
    } else {
      t.zero_();
    }
  }
}

HypernetScores ChordHypernetImpl::forward(const torch::Tensor& user_emb) {
  TORCH_CHECK(user_emb.dim() == 2 && user_emb.size(1) == options_.embed_dim,
              "user embeddings must be [U, ", options_.embed_dim, "]");
  HypernetScores s;
  if (relevance_) {
    // The ranking comes from the relevance alone: the layer, filter and
    // element scores would not change it.
    const double norm = 1.0 / std::sqrt(static_cast<double>(item_rows_.size(1)));
    s.relevance = torch::matmul(RelevanceQuery(user_emb), item_rows_.t()) * norm;
    s.log_score = relevance_->RankKey(s.relevance);
    return s;
  }
  const int64_t u = user_emb.size(0);
  const int64_t query = options_.key_dim + kChannelFeatures;
  torch::Tensor h = torch::relu(trunk->forward(user_emb));
  s.layer = torch::softplus(layer_head->forward(h)) + 1e-3;
  torch::Tensor q = filter_head->forward(h).view({u, -1, query});  // [U, layers, D]
  torch::Tensor g = element_head->forward(h);                       // [U, rank]
  std::vector<torch::Tensor> filters, elements;
  int64_t offset = 0;
  for (size_t l = 0; l < rows_.size(); ++l) {
    const int64_t c = channels_[l];
    const double norm = 1.0 / std::sqrt(static_cast<double>(row_lengths_[l]));
    torch::Tensor keys = torch::cat(
        {torch::matmul(rows_[l], key_proj[l]) * norm, features_.slice(0, offset, offset + c)}, 1);
    torch::Tensor f = torch::matmul(q.select(1, static_cast<int64_t>(l)), keys.t()) +
                      channel_bias.slice(0, offset, offset + c);
    filters.push_back(torch::softplus(f));
    torch::Tensor gates = torch::sigmoid(torch::matmul(g, element_basis[l].t()));  // [U, K]
    elements.push_back(2.0 * torch::matmul(gates, energy_[l].t()));                 // [U, C]
    offset += c;
  }
  s.filter = torch::cat(filters, 1);
  s.element = torch::cat(elements, 1);
  s.log_score = torch::log(s.layer).index_select(1, layer_of_channel_) +
                torch::log(s.filter + 1e-6) + torch::log(s.element + 1e-6);
  return s;
}

torch::Tensor ChordHypernetImpl::RelevanceQuery(const torch::Tensor& user_emb) {
  TORCH_CHECK(relevance_, "RelevanceQuery outside relevance mode");
  return options_.query_input ? user_emb : relevance_proj->forward(user_emb);
}

void ChordHypernetImpl::MoveTo(const torch::Device& device) {
  to(device);
  for (auto& t : rows_) t = t.to(device);
  for (auto& t : energy_) t = t.to(device);
  if (item_rows_.defined()) item_rows_ = item_rows_.to(device);
  features_ = features_.to(device);
  layer_of_channel_ = layer_of_channel_.to(device);
}

}  // namespace qfleet::ml::chord
