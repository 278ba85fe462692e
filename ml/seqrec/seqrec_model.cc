#include "ml/seqrec/seqrec_model.h"

#include <cmath>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace qfleet::ml {
namespace {

constexpr int64_t kMaxItems = int64_t{1} << 24;

absl::Status CheckIds(const torch::Tensor& t, const char* what, int64_t dims, int64_t lo,
                      int64_t hi) {
  if (!t.defined() || t.scalar_type() != torch::kLong || t.dim() != dims) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s must be an int64 tensor with %d dims", what, dims));
  }
  if (t.numel() == 0) return absl::InvalidArgumentError(absl::StrFormat("%s is empty", what));
  const int64_t min = t.min().item<int64_t>(), max = t.max().item<int64_t>();
  if (min < lo || max > hi) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s has ids in [%d, %d], expected within [%d, %d]", what, min, max, lo, hi));
  }
  return absl::OkStatus();
}

}  // namespace

const char* BackboneName(Backbone backbone) {
  return backbone == Backbone::kSasRec ? "sasrec" : "caser";
}

absl::StatusOr<Backbone> ParseBackbone(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "sasrec") return Backbone::kSasRec;
  if (lower == "caser") return Backbone::kCaser;
  return absl::InvalidArgumentError(
      absl::StrFormat("unknown backbone '%s' (expected sasrec or caser)", name));
}

std::string SeqRecConfig::ToString() const {
  if (backbone == Backbone::kSasRec) {
    return absl::StrFormat("sasrec items=%d d=%d blocks=%d heads=%d max_len=%d dropout=%g",
                           num_items, hidden, num_blocks, num_heads, max_length, dropout);
  }
  return absl::StrFormat("caser items=%d users=%d d=%d L=%d T=%d neg=%d nv=%d nh=%d dropout=%g",
                         num_items, num_users, hidden, window, targets, negatives,
                         vertical_filters, horizontal_filters, dropout);
}

SeqRecConfig DefaultSeqRecConfig(Backbone backbone) {
  SeqRecConfig c;
  c.backbone = backbone;
  if (backbone == Backbone::kCaser) c.dropout = 0.5;
  return c;
}

absl::Status ValidateSeqRecConfig(const SeqRecConfig& c) {
  bool ok = c.num_items >= 1 && c.num_items <= kMaxItems && c.hidden >= 1 && c.hidden <= 4096 &&
            c.dropout >= 0 && c.dropout < 1;
  if (c.backbone == Backbone::kSasRec) {
    ok = ok && c.num_blocks >= 1 && c.num_heads >= 1 && c.hidden % c.num_heads == 0 &&
         c.max_length >= 1 && c.max_length <= 4096;
  } else {
    ok = ok && c.num_users >= 1 && c.num_users <= kMaxItems && c.window >= 1 &&
         c.window <= 64 && c.targets >= 1 && c.negatives >= 1 && c.vertical_filters >= 1 &&
         c.horizontal_filters >= 1;
  }
  if (!ok) return absl::InvalidArgumentError("bad seqrec config: " + c.ToString());
  return absl::OkStatus();
}

SeqRecModel::SeqRecModel(const SeqRecConfig& config)
    : config_(config), dropout_generator_(at::detail::createCPUGenerator(1)) {}

int64_t SeqRecModel::HistoryLength() const {
  return config_.backbone == Backbone::kSasRec ? config_.max_length : config_.window;
}

void SeqRecModel::SeedDropout(uint64_t seed) {
  dropout_generator_ = at::detail::createCPUGenerator(seed);
}

torch::Tensor SeqRecModel::Dropout(const torch::Tensor& x) {
  const double p = config_.dropout;
  if (!is_training() || p <= 0) return x;
  torch::Tensor keep = torch::empty_like(x).bernoulli_(1.0 - p, dropout_generator_);
  keep.mul_(1.0 / (1.0 - p));
  return x * keep;
}

torch::Tensor SeqRecModel::LastColumns(const torch::Tensor& histories) const {
  const int64_t want = HistoryLength();
  const int64_t have = histories.size(1);
  if (have >= want) return histories.slice(1, have - want, have);
  return torch::constant_pad_nd(histories, {want - have, 0}, 0);
}

void SeqRecModel::XavierNormal(torch::Tensor& w, at::Generator& gen) {
  const int64_t fan_out = w.size(0);
  const int64_t fan_in = w.numel() / std::max<int64_t>(fan_out, 1);
  torch::NoGradGuard no_grad;
  w.normal_(0.0, std::sqrt(2.0 / static_cast<double>(fan_in + fan_out)), gen);
}

void SeqRecModel::UniformFanIn(torch::Tensor& w, int64_t fan_in, at::Generator& gen) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(std::max<int64_t>(fan_in, 1)));
  torch::NoGradGuard no_grad;
  w.uniform_(-bound, bound, gen);
}

void SeqRecModel::Normal(torch::Tensor& w, double std, at::Generator& gen) {
  torch::NoGradGuard no_grad;
  w.normal_(0.0, std, gen);
}

namespace {

// The checks ScoreSeqRec and QuerySeqRec share; candidates undefined for a query.
absl::Status CheckModelInput(const SeqRecModel& model, const torch::Tensor& histories,
                             const torch::Tensor& users, const torch::Tensor& candidates) {
  const SeqRecConfig& c = model.config();
  absl::Status s = CheckIds(histories, "histories", 2, 0, c.num_items);
  if (s.ok() && candidates.defined()) s = CheckIds(candidates, "candidates", 2, 1, c.num_items);
  if (s.ok() && c.backbone == Backbone::kCaser) s = CheckIds(users, "users", 1, 0, c.num_users - 1);
  if (!s.ok()) return s;
  const int64_t b = histories.size(0);
  if ((candidates.defined() && candidates.size(0) != b) ||
      (users.defined() && (users.dim() != 1 || users.size(0) != b))) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "batch sizes differ: histories %d, candidates %d, users %d", b,
        candidates.defined() ? candidates.size(0) : b,
        users.defined() && users.dim() == 1 ? users.size(0) : -1));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<torch::Tensor> ScoreSeqRec(SeqRecModel& model, const torch::Tensor& histories,
                                          const torch::Tensor& users,
                                          const torch::Tensor& candidates) {
  if (!candidates.defined()) return absl::InvalidArgumentError("candidates are undefined");
  RETURN_IF_ERROR(CheckModelInput(model, histories, users, candidates));
  try {
    torch::NoGradGuard no_grad;
    return model.Score(histories, users, candidates);
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("scoring failed: ", e.what_without_backtrace()));
  }
}

absl::StatusOr<torch::Tensor> QuerySeqRec(SeqRecModel& model, const torch::Tensor& histories,
                                          const torch::Tensor& users) {
  RETURN_IF_ERROR(CheckModelInput(model, histories, users, torch::Tensor()));
  try {
    torch::NoGradGuard no_grad;
    return model.Query(histories, users);
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("query failed: ", e.what_without_backtrace()));
  }
}

}  // namespace qfleet::ml
