#include "cloud/chord/chord_setup.h"

#include "cloud/chord/user_embeddings.h"

#include <chrono>

#include <torch/torch.h>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/file_io.h"
#include "common/status_macros.h"
#include "ml/chord/chord_device.h"
#include "cloud/chord/static_allocation.h"
#include "ml/seqrec/seqrec_factory.h"
#include "ml/seqrec/seqrec_trainer.h"

namespace qfleet::ml::chord {
namespace {

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

TensorContainer Prefixed(const TensorContainer& c, const std::string& prefix) {
  TensorContainer out;
  for (Tensor t : c.tensors) {
    t.name = prefix + t.name;
    out.tensors.push_back(std::move(t));
  }
  return out;
}

}  // namespace

absl::Status SaveChord(const ChordModel& chord, const std::string& path) {
  TensorContainer all = Prefixed(chord.EncoderContainer(), "encoder.");
  for (Tensor& t : Prefixed(chord.HypernetContainer(), "hypernet.").tensors) {
    all.tensors.push_back(std::move(t));
  }
  ASSIGN_OR_RETURN(std::string bytes, EncodeContainer(all));
  return WriteStringToFile(path, bytes);
}

absl::Status LoadChord(ChordModel& chord, const std::string& path) {
  ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path, size_t{1} << 31));
  ASSIGN_OR_RETURN(TensorContainer all, DecodeContainer(bytes));
  TensorContainer encoder, hypernet;
  for (Tensor& t : all.tensors) {
    if (absl::StartsWith(t.name, "encoder.")) {
      t.name = t.name.substr(8);
      encoder.tensors.push_back(std::move(t));
    } else if (absl::StartsWith(t.name, "hypernet.")) {
      t.name = t.name.substr(9);
      hypernet.tensors.push_back(std::move(t));
    } else {
      return absl::InvalidArgumentError(path + ": tensor '" + t.name + "' is not CHORD's");
    }
  }
  return chord.LoadWeights(encoder, hypernet);
}

absl::StatusOr<std::unique_ptr<ChordSetup>> PrepareChord(const ChordSetupOptions& o) {
  auto say = [&o](const std::string& s) {
    if (o.say) o.say(s);
  };
  if (o.chord.hypernet.query_input && (!o.load_chord.empty() || !o.save_chord.empty())) {
    return absl::InvalidArgumentError(
        "CHORD on the backbone's query has no trained weights to load or save (--load-chord, "
        "--save-chord)");
  }
  auto setup = std::make_unique<ChordSetup>();
  seqrec::SyntheticOptions syn = o.synthetic;
  syn.seed = o.seed;
  ASSIGN_OR_RETURN(seqrec::Interactions data, LoadInteractions(o.data_path, o.format, syn));
  ASSIGN_OR_RETURN(setup->split, seqrec::SplitLeaveOneOut(data));
  const seqrec::LeaveOneOutSplit& split = setup->split;
  say(absl::StrFormat("data: %s, %d users, %d items", o.data_path.empty() ? "synthetic" : o.data_path,
                      split.num_users, split.num_items));

  ASSIGN_OR_RETURN(const Backbone backbone, ParseBackbone(o.backbone));
  SeqRecConfig config = DefaultSeqRecConfig(backbone);
  config.num_items = split.num_items;
  config.num_users = split.num_users;
  if (o.hidden) config.hidden = *o.hidden;
  if (o.max_length) config.max_length = *o.max_length;
  if (o.dropout) config.dropout = *o.dropout;
  auto t0 = std::chrono::steady_clock::now();
  if (!o.load_backbone.empty()) {
    ASSIGN_OR_RETURN(setup->model, LoadSeqRecModel(o.load_backbone, config));
    say("backbone: loaded " + o.load_backbone + " (" + setup->model->config().ToString() + ")");
  } else {
    ASSIGN_OR_RETURN(setup->model, MakeSeqRecModel(config, o.seed));
    SeqRecTrainOptions to = DefaultSeqRecTrainOptions(backbone);
    to.epochs = o.epochs;
    to.seed = o.seed;
    to.length_buckets = o.length_buckets;
    to.on_epoch = [&](const SeqRecEpochStats& e) {
      say(absl::StrFormat("backbone epoch %d loss %.4f (%.1f s)", e.epoch, e.loss, e.seconds));
      return true;
    };
    RETURN_IF_ERROR(TrainSeqRec(*setup->model, split, to).status());
    if (!o.save_backbone.empty()) RETURN_IF_ERROR(SaveSeqRecModel(*setup->model, o.save_backbone));
  }
  setup->model->eval();
  setup->backbone_seconds = Since(t0);

  t0 = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(setup->sensitivity, BackboneSensitivity(*setup->model, split, o.sensitivity_users,
                                                           o.hessian_samples, o.seed));
  ASSIGN_OR_RETURN(ChannelCatalog catalog, ChannelCatalog::Create(*setup->model, setup->sensitivity));
  ChordOptions copt = o.chord;
  copt.encoder.num_items = split.num_items;
  copt.hypernet.embed_dim = copt.encoder.embed_dim;
  if (copt.hypernet.query_input) RETURN_IF_ERROR(FitBackboneQuery(*setup->model, catalog, copt.hypernet));
  copt.seed = o.seed;
  // Caser: every device keeps its window's rows of the input item table at
  // tier 0 (KeepWindowRows); plans and the static allocation leave room.
  copt.window_rows = setup->model->HistoryLength();
  ASSIGN_OR_RETURN(std::unique_ptr<ChordModel> chord, ChordModel::Create(catalog, copt));
  setup->chord = std::move(chord);
  ASSIGN_OR_RETURN(setup->decision, setup->chord->ExpectedDecision(copt.budget_bits, o.decode));
  ASSIGN_OR_RETURN(setup->view, PersonalizedBackbone::Create(setup->model, setup->chord->catalog()));
  say(absl::StrFormat("catalog: %d layers, %d channels, %d weights; device table %d/%d/%d/%d bits",
                      catalog.num_layers(), catalog.total_channels(), catalog.total_elements(),
                      setup->decision.tier_bits[0], setup->decision.tier_bits[1],
                      setup->decision.tier_bits[2], setup->decision.tier_bits[3]));
  if (copt.hypernet.query_input) {
    say(absl::StrFormat("chord: relevance from the backbone's own %d-wide query (nothing to train)",
                        copt.hypernet.embed_dim));
  } else if (!o.load_chord.empty()) {
    RETURN_IF_ERROR(LoadChord(*setup->chord, o.load_chord));
    say("chord: loaded " + o.load_chord);
  } else {
    ChordTrainOptions train = o.train;
    train.seed = o.seed;
    train.tier_bits = setup->decision.tier_bits;
    train.on_epoch = [&](const ChordEpochStats& e) {
      say(absl::StrFormat("chord epoch %d loss %.4f task %.4f distill %.4f E[bits] %.3f (%.1f s)",
                          e.epoch, e.loss, e.task_loss, e.distill, e.expected_bits, e.seconds));
      return true;
    };
    RETURN_IF_ERROR(TrainChord(*setup->chord, *setup->view, split, train).status());
    if (!o.save_chord.empty()) RETURN_IF_ERROR(SaveChord(*setup->chord, o.save_chord));
  }
  setup->chord->encoder()->eval();
  setup->chord->hypernet()->eval();
  std::vector<int> static_allowed;
  for (int b : o.decode.allowed_bits) {
    if (b >= 2) static_allowed.push_back(b);
  }
  ASSIGN_OR_RETURN(setup->static_bits, StaticChannelBits(setup->chord->catalog(), setup->sensitivity,
                                                         copt.budget_bits, static_allowed,
                                                         copt.window_rows, o.static_sensitivity));
  if (o.decode.tier_importance != BudgetDecodeOptions().tier_importance) {
    setup->tier_importance.assign(o.decode.tier_importance.begin(), o.decode.tier_importance.end());
  }
  setup->chord_seconds = Since(t0);
  return setup;
}

void UseRelevanceTiers(ChordSetupOptions& options, bool prune_tail) {
  HypernetOptions& h = options.chord.hypernet;
  if (options.backbone == "caser") {
    h.relevance_layer = "out_emb";
    h.relevance_tied = {"out_bias"};
    h.relevance_last = {"user_emb", "item_emb"};
  } else {
    h.relevance_layer = "item_emb";
    h.relevance_tied.clear();
    h.relevance_last.clear();
  }
  options.chord.tiers.middle_share = {0.25, 0.25};
  if (options.backbone == "caser" && !prune_tail) {
    // The rows a device never reads (other users' user_emb rows, item_emb
    // rows outside its window: about half of Caser's weights) fill tier 3
    // at 1 bit; the bits they free go to the rows it reads: dense layers,
    // kept rows and the most relevant output rows at 8 bits, then 4, then 2.
    options.chord.tiers.reference_bits = {8, 4, 2, 1};
    options.chord.tiers.middle_share = {0.25, 0.10};
    options.decode.tier_importance = {4096, 16, 1, 0.01};
    return;
  }
  if (prune_tail) {
    options.chord.tiers.reference_bits = {4, 4, 4, 1};
    options.decode.tier_importance = {8, 4, 2, 0.01};
  } else {
    options.chord.tiers.reference_bits = {4, 3, 3, 2};
    options.decode.tier_importance = BudgetDecodeOptions().tier_importance;
  }
}

absl::Status FitBackboneQuery(const SeqRecModel& model, const ChannelCatalog& catalog,
                              HypernetOptions& hypernet) {
  const std::vector<std::string> tables = model.QueryTables();
  std::vector<std::string> relevance = {hypernet.relevance_layer};
  relevance.insert(relevance.end(), hypernet.relevance_tied.begin(), hypernet.relevance_tied.end());
  if (tables.empty() || relevance != tables) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "the backbone's query reads %s; relevance mode ranks %s", absl::StrJoin(tables, "+"),
        absl::StrJoin(relevance, "+")));
  }
  HypernetOptions out = hypernet;
  out.query_input = true;
  ASSIGN_OR_RETURN(const RelevanceLayout layout, RelevanceLayout::Create(catalog, out));
  out.embed_dim = layout.width();
  hypernet = std::move(out);
  return absl::OkStatus();
}

void UseBackboneQuery(ChordSetupOptions& options) {
  UseRelevanceTiers(options);
  options.chord.hypernet.query_input = true;
  if (options.backbone == "caser") {
    // With the exact relevance a cut that leaves the read rows room below
    // 8 bits pays: 8/4/3/2, at 3 bits 5/30/10/55% (docs/notebook/2026-12-07-chord.md, "The
    // backbone's own query").
    options.chord.tiers.reference_bits = {8, 4, 3, 2};
    options.chord.tiers.middle_share = {0.30, 0.10};
    options.decode.tier_importance = {4096, 16, 4, 1};
  }
}

absl::Status OverrideTiers(ChordSetupOptions& options, const std::vector<int>& reference_bits,
                           const std::vector<double>& middle_share,
                           const std::vector<double>& tier_importance) {
  ChordSetupOptions out = options;
  if (!reference_bits.empty()) {
    if (reference_bits.size() != 4) return absl::InvalidArgumentError("tier bits: expected 4 widths");
    for (int t = 0; t < 4; ++t) out.chord.tiers.reference_bits[t] = reference_bits[t];
  }
  if (!middle_share.empty()) {
    if (middle_share.size() != 2) return absl::InvalidArgumentError("middle share: expected 2 shares");
    out.chord.tiers.middle_share = {middle_share[0], middle_share[1]};
  }
  ASSIGN_OR_RETURN(out.decode, WithTierImportance(out.decode, tier_importance));
  RETURN_IF_ERROR(TierFractions(out.chord.budget_bits, out.chord.tiers).status());
  options = std::move(out);
  return absl::OkStatus();
}

absl::StatusOr<ChordServing> MakeChordServing(const ChordSetup& setup) {
  ChordServing out;
  ASSIGN_OR_RETURN(torch::Tensor mean,
                   MeanUserEmbedding(*setup.chord, *setup.model, setup.split,
                                     seqrec::EvalStage::kValidation));
  ASSIGN_OR_RETURN(out.planner, ChordPlanner::Create(setup.chord, mean, setup.static_bits,
                                                     setup.tier_importance));
  out.backend = std::make_unique<FrozenBundleBackend>(BundleContainer(*setup.model, *setup.chord));
  return out;
}

}  // namespace qfleet::ml::chord
