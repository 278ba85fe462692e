#include "ml/seqrec/seqrec_factory.h"

#include <cstdio>
#include <fstream>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/seqrec/interactions.h"
#include "common/status_macros.h"
#include "ml/model_io.h"
#include "ml/seqrec/caser.h"
#include "ml/seqrec/sasrec.h"

namespace qfleet::ml {
namespace {

// The shape of tensor `name`, or InvalidArgument if it is missing or does
// not have `dims` dimensions.
absl::StatusOr<std::vector<int64_t>> ShapeOf(const TensorContainer& c, const std::string& name,
                                             size_t dims) {
  const Tensor* t = c.Find(name);
  if (t == nullptr) return absl::InvalidArgumentError(absl::StrCat("missing tensor '", name, "'"));
  if (t->shape.size() != dims) {
    return absl::InvalidArgumentError(
        absl::StrFormat("tensor '%s' has %d dims, expected %d", name, t->shape.size(), dims));
  }
  return t->shape;
}

}  // namespace

absl::StatusOr<std::shared_ptr<SeqRecModel>> MakeSeqRecModel(const SeqRecConfig& config,
                                                             uint64_t seed) {
  RETURN_IF_ERROR(ValidateSeqRecConfig(config));
  try {
    if (config.backbone == Backbone::kSasRec) return std::make_shared<SasRec>(config, seed);
    return std::make_shared<Caser>(config, seed);
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("building model failed: ", e.what_without_backtrace()));
  }
}

absl::StatusOr<SeqRecConfig> InferSeqRecConfig(const TensorContainer& c,
                                               const SeqRecConfig& defaults) {
  SeqRecConfig config = defaults;
  ASSIGN_OR_RETURN(std::vector<int64_t> items, ShapeOf(c, "item_emb.weight", 2));
  config.num_items = items[0] - 1;
  config.hidden = items[1];
  if (c.Find("pos_emb.weight") != nullptr) {
    config.backbone = Backbone::kSasRec;
    ASSIGN_OR_RETURN(std::vector<int64_t> pos, ShapeOf(c, "pos_emb.weight", 2));
    config.max_length = pos[0];
    config.num_blocks = 0;
    while (c.Find(absl::StrCat("blocks.", config.num_blocks, ".query.weight")) != nullptr) {
      ++config.num_blocks;
    }
  } else if (c.Find("conv_v.weight") != nullptr) {
    config.backbone = Backbone::kCaser;
    ASSIGN_OR_RETURN(std::vector<int64_t> users, ShapeOf(c, "user_emb.weight", 2));
    ASSIGN_OR_RETURN(std::vector<int64_t> conv_v, ShapeOf(c, "conv_v.weight", 4));
    ASSIGN_OR_RETURN(std::vector<int64_t> conv_h, ShapeOf(c, "conv_h.0.weight", 4));
    config.num_users = users[0];
    config.vertical_filters = conv_v[0];
    config.window = conv_v[2];
    config.horizontal_filters = conv_h[0];
  } else {
    return absl::InvalidArgumentError("container holds neither a SASRec nor a Caser model");
  }
  RETURN_IF_ERROR(ValidateSeqRecConfig(config));
  return config;
}

absl::StatusOr<std::shared_ptr<SeqRecModel>> SeqRecModelFromContainer(
    const TensorContainer& container, const SeqRecConfig& defaults) {
  ASSIGN_OR_RETURN(SeqRecConfig config, InferSeqRecConfig(container, defaults));
  ASSIGN_OR_RETURN(std::shared_ptr<SeqRecModel> model, MakeSeqRecModel(config, /*seed=*/0));
  RETURN_IF_ERROR(LoadContainer(container, *model));
  return model;
}

absl::Status SaveSeqRecModel(const SeqRecModel& model, const std::string& path) {
  ASSIGN_OR_RETURN(std::string bytes, EncodeContainer(ModuleToContainer(model)));
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", tmp));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) return absl::UnknownError(absl::StrCat("write to ", tmp, " failed"));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return absl::UnknownError(absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<SeqRecModel>> LoadSeqRecModel(const std::string& path,
                                                             const SeqRecConfig& defaults) {
  ASSIGN_OR_RETURN(std::string bytes, seqrec::ReadFileToString(path));
  ASSIGN_OR_RETURN(TensorContainer container, DecodeContainer(bytes));
  return SeqRecModelFromContainer(container, defaults);
}

}  // namespace qfleet::ml
