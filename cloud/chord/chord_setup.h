#ifndef QFLEET_CLOUD_CHORD_CHORD_SETUP_H_
#define QFLEET_CLOUD_CHORD_CHORD_SETUP_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/budget_decode.h"
#include "common/seqrec/leave_one_out.h"
#include "common/seqrec/synthetic.h"
#include "cloud/chord/chord_model.h"
#include "cloud/chord/chord_service.h"
#include "cloud/chord/chord_trainer.h"
#include "ml/chord/personalized_backbone.h"
#include "cloud/chord/static_allocation.h"
#include "ml/seqrec/seqrec_baseline.h"

namespace qfleet::ml::chord {

// CHORD's cloud side, from data to trained hypernetworks: what the
// coordinator of a CHORD deployment holds.
struct ChordSetupOptions {
  std::string data_path;  // empty: seeded synthetic data
  InteractionFormat format = InteractionFormat::kUserItemLines;
  seqrec::SyntheticOptions synthetic;
  std::string backbone = "sasrec";  // or "caser"
  std::optional<int64_t> hidden, max_length;
  int epochs = 20;                  // backbone epochs when not loaded
  int length_buckets = 0;           // SeqRecTrainOptions::length_buckets (SASRec)
  std::optional<double> dropout;    // backbone dropout (default: the published one)
  std::string load_backbone, save_backbone;  // QFTC files (SaveSeqRecModel)
  // Encoder + hypernetworks as one QFTC file ("encoder." / "hypernet."
  // prefixes); loaded instead of trained when set.
  std::string load_chord, save_chord;
  ChordOptions chord;               // encoder.num_items is filled in
  ChordTrainOptions train;          // tier_bits is filled in
  // The devices' decoder as the cloud expects it. Its tier_importance is
  // shipped with every plan when it differs from the default (relevance
  // mode). The static baseline allocates from the widths >= 2 of
  // allowed_bits (1-bit channels only hurt a Hessian-ranked allocation).
  BudgetDecodeOptions decode = {{1, 2, 3, 4, 8}, {8, 4, 2, 1}};
  int hessian_samples = 4;
  int64_t sensitivity_users = 256;
  StaticSensitivity static_sensitivity = StaticSensitivity::kLayer;  // the static baseline's
  uint64_t seed = 1;
  std::function<void(const std::string&)> say;  // progress lines; may be empty
};

// Relevance mode (hypernetwork.h) for options.backbone: the hypernetworks
// tier the item rows by their learned relevance to the user. SASRec: the
// rows of item_emb (its input and output table). Caser: out_emb's rows
// (the output table), with out_bias's row of the same item tied to them;
// user_emb's and item_emb's rows rank last: a device reads only its own
// row of user_emb and the rows of its window's items of item_emb, which it
// keeps at the top tier (chord_device.h, KeepOwnRow, KeepWindowRows).
// Default cut, SASRec: quarters for 4/3/3/2 bits at a 3-bit budget, which
// devices decode with their default weights (measured best on Amazon Games).
// Default cut, Caser: tier shares for 8/4/2/1 bits (middle shares 1/4 and
// 1/10; at 3 bits about 16/25/10/49%), so that tier 3 holds only rows no
// device reads, with decoder weights 4096/16/1/0.01 shipped with each plan
// so that devices decode exactly that table (docs/notebook/2026-12-07-chord.md, "Caser:
// the unread rows at 1 bit").
// prune_tail: cut for 4/4/4/1 bits (a sixth, a quarter, a quarter, a third
// of the weights) with a weight of tier 3 -- the items least relevant to
// this user -- worth 1/100 of one in tier 2 to the devices' decoder, which
// gets that with each plan.
void UseRelevanceTiers(ChordSetupOptions& options, bool prune_tail = false);

// CHORD on the backbone's own query: relevance mode (UseRelevanceTiers)
// with hypernet.query_input, so each device sends the FP32 backbone's query
// of its history (SeqRecModel::Query) and the cloud ranks the item rows by
// the backbone's exact scores; nothing is trained. Caser's cut becomes
// 8/4/3/2 bits (middle shares 30% and 10%: at 3 bits 5/30/10/55%) with
// decoder weights 4096/16/4/1; SASRec
// keeps its quarters.
void UseBackboneQuery(ChordSetupOptions& options);

// Query mode for `model`: checks that the relevance rows (relevance_layer,
// then relevance_tied) are the tables model.QueryTables() names, and sets
// query_input and embed_dim to the query's width. InvalidArgument
// otherwise; `hypernet` is then unchanged.
absl::Status FitBackboneQuery(const SeqRecModel& model, const ChannelCatalog& catalog,
                              HypernetOptions& hypernet);

// Overrides the tier cut (reference widths of tiers 0..3, the shares of
// tiers 1 and 2) and the decoder weights shipped with every plan; an empty
// vector leaves its part as it is. InvalidArgument for a wrong count, a
// policy TierFractions refuses at options.chord.budget_bits, or a weight
// WithTierImportance refuses. On error `options` is unchanged.
absl::Status OverrideTiers(ChordSetupOptions& options, const std::vector<int>& reference_bits,
                           const std::vector<double>& middle_share,
                           const std::vector<double>& tier_importance);

// The encoder and hypernetworks of `chord` as one QFTC file ("encoder." /
// "hypernet." prefixes), and back into a ChordModel built with the same
// catalog and options. Load: InvalidArgument for a tensor that is not
// CHORD's or a shape that does not match; the I/O errors of common/file_io.h.
absl::Status SaveChord(const ChordModel& chord, const std::string& path);
absl::Status LoadChord(ChordModel& chord, const std::string& path);

struct ChordSetup {
  seqrec::LeaveOneOutSplit split;
  std::shared_ptr<SeqRecModel> model;  // frozen, eval mode
  std::map<std::string, std::vector<double>> sensitivity;
  std::shared_ptr<ChordModel> chord;
  std::unique_ptr<PersonalizedBackbone> view;  // over chord->catalog()
  std::vector<int> static_bits;  // the static baseline's widths, catalog order
  BudgetDecision decision;       // the table devices decode the tiers to
  std::vector<double> tier_importance;  // shipped with plans; empty: devices' own
  double backbone_seconds = 0, chord_seconds = 0;
};

// Loads the data, trains (or loads) the backbone, measures its per-channel
// sensitivity, builds and trains (or loads) CHORD at chord.budget_bits and
// allocates the static baseline. Errors of each step pass through.
absl::StatusOr<std::unique_ptr<ChordSetup>> PrepareChord(const ChordSetupOptions& options);

// What a coordinator serves from a prepared setup: the frozen backbone +
// user encoder as its model, and the hypernetworks (with the chord-mean
// plan from the mean validation embedding and the static allocation's plan)
// as its plan generator.
struct ChordServing {
  std::unique_ptr<FrozenBundleBackend> backend;
  std::unique_ptr<ChordPlanner> planner;
};
absl::StatusOr<ChordServing> MakeChordServing(const ChordSetup& setup);

}  // namespace qfleet::ml::chord

#endif  // QFLEET_CLOUD_CHORD_CHORD_SETUP_H_
