#include "kernels/torch/chord/hypernetwork.h"

#include <cmath>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "absl/strings/str_cat.h"

namespace qfleet::torchq::chord {

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
    relevance_layer_ = catalog.LayerIndex(options.relevance_layer);
    TORCH_CHECK(relevance_layer_ >= 0, "relevance layer '", options.relevance_layer,
                "' is not in the catalog");
    relevance_proj = register_module(
        "relevance_proj",
        torch::nn::Linear(options.embed_dim, catalog.layers()[relevance_layer_].row_length));
  }
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
  const int64_t u = user_emb.size(0);
  const int64_t query = options_.key_dim + kChannelFeatures;
  torch::Tensor h = torch::relu(trunk->forward(user_emb));
  HypernetScores s;
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
  if (relevance_layer_ >= 0) {
    const int64_t l = relevance_layer_;
    int64_t off = 0;
    for (int64_t k = 0; k < l; ++k) off += channels_[k];
    const double norm = 1.0 / std::sqrt(static_cast<double>(row_lengths_[l]));
    s.relevance = torch::matmul(relevance_proj->forward(user_emb), rows_[l].t()) * norm;
    torch::Tensor z = (s.relevance - s.relevance.mean(1, true)) /
                      s.relevance.std(1, true, true).clamp_min(1e-6);
    // Standardized scores stay far below 1e3: the other layers rank first.
    s.log_score = torch::full_like(s.log_score, 1e3);
    s.log_score.slice(1, off, off + channels_[l]).copy_(z.clamp(-1e2, 1e2));
  }
  return s;
}

void ChordHypernetImpl::MoveTo(const torch::Device& device) {
  to(device);
  for (auto& t : rows_) t = t.to(device);
  for (auto& t : energy_) t = t.to(device);
  features_ = features_.to(device);
  layer_of_channel_ = layer_of_channel_.to(device);
}

}  // namespace qfleet::torchq::chord
