// qfleet-chord: trains (or loads) a SASRec / Caser backbone, trains CHORD's
// user encoder and hypernetworks through the mixed-precision quantizer, and
// compares fp32, uniform RTN, static mixed precision, chord-mean and chord at
// the same average bits under the leave-one-out / 100-negative protocol.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <tuple>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "absl/strings/str_format.h"
#include "common/seqrec/eval_sampler.h"
#include "common/seqrec/leave_one_out.h"
#include "common/seqrec/ranking_metrics.h"
#include "sim/chord_eval.h"
#include "cloud/chord/chord_model.h"
#include "cloud/chord/chord_setup.h"
#include "cloud/chord/chord_trainer.h"
#include "cloud/chord/static_allocation.h"
#include "ml/seqrec/seqrec_baseline.h"
#include "ml/seqrec/seqrec_eval.h"
#include "ml/seqrec/seqrec_factory.h"

namespace {

namespace tq = qfleet::ml;
namespace ch = qfleet::ml::chord;

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "qfleet-chord: %s\n", s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"qfleet-chord: personalized channel-wise mixed precision (CHORD)", "qfleet-chord"};
  std::string data_path, backbone_name = "sasrec", load_path, save_path, json_path;
  std::string load_chord_path, save_chord_path;
  int epochs = 20, threads = 2, chord_epochs = 5, hessian_samples = 4;
  uint64_t seed = 1, eval_seed = 1;
  double budget = 3.0;
  int64_t eval_users = 10000, chord_users = 0, sens_users = 256;
  std::optional<int64_t> hidden, max_len;
  int64_t length_buckets = 0;
  qfleet::seqrec::SyntheticOptions syn;
  ch::ChordTrainOptions train;
  ch::ChordOptions copt;
  app.add_option("--data", data_path, "'user item' lines file (default: synthetic data)");
  app.add_option("--backbone", backbone_name, "sasrec or caser")
      ->check(CLI::IsMember({"sasrec", "caser"}));
  app.add_option("--budget-bits", budget, "average bits per weight")->check(CLI::Range(0.0, 8.0));
  app.add_option("--epochs", epochs, "backbone training epochs")->check(CLI::Range(1, 100000));
  app.add_option("--load-backbone", load_path, "use this trained backbone (.qftc)");
  app.add_option("--save-backbone", save_path, "save the trained backbone (.qftc)");
  app.add_option("--load-chord", load_chord_path,
                 "use this trained encoder + hypernetworks (.qftc, as --save-chord or qfleet-sim "
                 "--save-chord write it) instead of training");
  app.add_option("--save-chord", save_chord_path, "save the trained encoder + hypernetworks (.qftc)");
  app.add_option("--chord-epochs", chord_epochs, "CHORD training epochs")->check(CLI::Range(1, 100000));
  app.add_option("--chord-batch", train.batch_users, "users per CHORD step")->check(CLI::Range(1, 1 << 20));
  app.add_option("--chord-lr", train.learning_rate, "CHORD Adam learning rate")->check(CLI::PositiveNumber);
  app.add_option("--chord-users", chord_users, "train CHORD on at most this many users (0 = all)");
  app.add_option("--penalty", train.bits_penalty, "lambda of the bit-budget penalty");
  app.add_option("--distill", train.distill_weight, "weight of the FP32 logit distillation term (0 = off)");
  app.add_option("--temperature", train.temperature, "soft tier temperature")->check(CLI::PositiveNumber);
  // Empty: the default cut (4/3/3/2 quarters, decoder weights 8/4/2/1) or
  // --chord-relevance's.
  std::vector<int> tier_bits_ref, allowed = {2, 3, 4, 8};
  std::vector<double> middle, importance;
  app.add_option("--tier-bits", tier_bits_ref, "reference widths of tiers 0..3 (cloud's tier sizing)")
      ->expected(4)->delimiter(',');
  app.add_option("--middle-share", middle, "weight shares of tiers 1 and 2")->expected(2)->delimiter(',');
  app.add_option("--allowed-bits", allowed, "widths the device decoder may use")->delimiter(',');
  app.add_option("--embed-dim", copt.encoder.embed_dim, "user embedding size")->check(CLI::Range(1, 4096));
  app.add_option("--hessian-samples", hessian_samples, "Hutchinson samples (static baseline)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--sens-users", sens_users, "users in the sensitivity batch")->check(CLI::Range(1, 1 << 20));
  app.add_option("--length-buckets", length_buckets, "SASRec backbone: batch users of similar length");
  app.add_option("--hidden", hidden, "backbone hidden size (default 50)")->check(CLI::Range(1, 4096));
  app.add_option("--max-len", max_len, "SASRec max length (default 50)")->check(CLI::Range(1, 4096));
  app.add_option("--eval-users", eval_users, "evaluated users (0 = all)");
  app.add_option("--eval-seed", eval_seed, "seed of the evaluated users and negatives");
  app.add_option("--seed", seed, "seed of data, models and training");
  app.add_option("--threads", threads, "torch intra-op threads")->check(CLI::Range(1, 1024));
  app.add_option("--json", json_path, "write the comparison as JSON");
  app.add_option("--syn-users", syn.num_users, "synthetic users");
  app.add_option("--syn-items", syn.num_items, "synthetic items");
  app.add_option("--syn-clusters", syn.clusters, "synthetic interest clusters");
  app.add_option("--syn-length", syn.mean_length, "synthetic mean sequence length");
  app.add_option("--tier-importance", importance,
                 "the device decoder's error weight of a weight in tiers 0..3")
      ->expected(4)->delimiter(',');
  app.add_option("--relevance-layer", copt.hypernet.relevance_layer,
                 "relevance mode: tier this item table's rows by a learned relevance to the user "
                 "(e.g. item_emb for SASRec)");
  bool relevance = false;
  app.add_flag("--chord-relevance", relevance,
               "relevance mode (SASRec: item_emb; Caser: out_emb + out_bias, user_emb and item_emb last) "
               "with its tiers (SASRec: 4/3/3/2 quarters, default decoder weights; Caser: 8/4/2/1 "
               "with the unread rows in tier 3), unless --tier-bits, --middle-share or "
               "--tier-importance say otherwise");
  std::vector<std::string> tied_flag, last_flag;
  CLI::Option* tied_opt =
      app.add_option("--relevance-tied", tied_flag,
                     "relevance mode: layers whose row c ranks with the relevance layer's row c "
                     "(overrides --chord-relevance's choice; 'none' for no layer)")
          ->delimiter(',');
  CLI::Option* last_opt =
      app.add_option("--relevance-last", last_flag,
                     "relevance mode: layers ranked below every other channel "
                     "(overrides --chord-relevance's choice; 'none' for no layer)")
          ->delimiter(',');
  std::string static_sensitivity = "layer";
  app.add_option("--static-sensitivity", static_sensitivity, ch::kStaticSensitivityHelp)
      ->check(CLI::IsMember({"channel", "layer"}));
  bool query = false;
  app.add_flag("--chord-query", query,
               "relevance mode on the backbone's own query: each device sends the FP32 backbone's "
               "query of its history, the item rows are ranked by the backbone's exact scores, "
               "nothing is trained (Caser's cut: 8/4/3/2 at 5/30/10/55 with decoder weights "
               "4096/16/4/1; SASRec's: 4/3/3/2 quarters, at 3 bits); --tier-* flags override the "
               "cut; the CHORD training flags have no effect")
      ->excludes("--chord-relevance")
      ->excludes("--load-chord")
      ->excludes("--save-chord")
      ->excludes("--relevance-layer")
      ->excludes("--relevance-tied")
      ->excludes("--relevance-last")
      ->excludes("--embed-dim");
  bool oracle = false;
  app.add_flag("--oracle-relevance", oracle,
               "also rank with the diagnostic oracle-relevance plans (item rows tiered by the FP32 "
               "model's own scores for the user; not a deployable method)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::printf("%s", app.help().c_str());
    return 0;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "qfleet-chord: error: %s (see --help)\n", e.what());
    return 2;
  }
  // The tier cut and the decoder weights: the defaults, relevance mode's,
  // then what the flags say.
  ch::ChordSetupOptions cut;
  cut.backbone = backbone_name;
  cut.chord.budget_bits = budget;
  if (relevance || query) {
    if (query) {
      ch::UseBackboneQuery(cut);
    } else {
      ch::UseRelevanceTiers(cut);
    }
    copt.hypernet.relevance_layer = cut.chord.hypernet.relevance_layer;
    copt.hypernet.relevance_tied = cut.chord.hypernet.relevance_tied;
    copt.hypernet.relevance_last = cut.chord.hypernet.relevance_last;
    if (std::find(allowed.begin(), allowed.end(), 1) == allowed.end()) allowed.insert(allowed.begin(), 1);
  }
  if (absl::Status st = ch::OverrideTiers(cut, tier_bits_ref, middle, importance); !st.ok()) {
    return Fail(st);
  }
  auto layer_list = [](std::vector<std::string> v) {
    if (v.size() == 1 && v[0] == "none") v.clear();
    return v;
  };
  if (tied_opt->count() > 0) copt.hypernet.relevance_tied = layer_list(tied_flag);
  if (last_opt->count() > 0) copt.hypernet.relevance_last = layer_list(last_flag);
  torch::set_num_threads(threads);
  auto say = [](const std::string& s) {
    std::printf("%s\n", s.c_str());
    std::fflush(stdout);
  };

  syn.seed = seed;
  auto data = tq::LoadInteractions(data_path, tq::InteractionFormat::kUserItemLines, syn);
  if (!data.ok()) return Fail(data.status());
  auto split = qfleet::seqrec::SplitLeaveOneOut(*data);
  if (!split.ok()) return Fail(split.status());
  qfleet::seqrec::EvalSampleOptions eo;
  eo.max_users = eval_users;
  eo.seed = eval_seed;
  auto sample = qfleet::seqrec::BuildEvalSample(*split, qfleet::seqrec::EvalStage::kTest, eo);
  if (!sample.ok()) return Fail(sample.status());
  say(absl::StrFormat("data: %s, %d users, %d items; evaluating %d users",
                      data_path.empty() ? "synthetic" : data_path, split->num_users,
                      split->num_items, sample->NumUsers()));

  const tq::Backbone backbone = *tq::ParseBackbone(backbone_name);
  tq::SeqRecConfig config = tq::DefaultSeqRecConfig(backbone);
  config.num_items = split->num_items;
  config.num_users = split->num_users;
  if (hidden) config.hidden = *hidden;
  if (max_len) config.max_length = *max_len;
  std::shared_ptr<tq::SeqRecModel> model;
  if (!load_path.empty()) {
    auto m = tq::LoadSeqRecModel(load_path, config);
    if (!m.ok()) return Fail(m.status());
    model = *m;
    say("backbone: loaded " + load_path + " (" + model->config().ToString() + ")");
  } else {
    auto m = tq::MakeSeqRecModel(config, seed);
    if (!m.ok()) return Fail(m.status());
    model = *m;
    tq::SeqRecTrainOptions to = tq::DefaultSeqRecTrainOptions(backbone);
    to.epochs = epochs;
    to.length_buckets = length_buckets;
    to.seed = seed;
    to.on_epoch = [&](const tq::SeqRecEpochStats& e) {
      say(absl::StrFormat("backbone epoch %d loss %.4f (%.1f s)", e.epoch, e.loss, e.seconds));
      return true;
    };
    auto st = tq::TrainSeqRec(*model, *split, to);
    if (!st.ok()) return Fail(st.status());
    if (!save_path.empty()) {
      absl::Status s = tq::SaveSeqRecModel(*model, save_path);
      if (!s.ok()) return Fail(s);
    }
  }
  model->eval();

  auto t0 = std::chrono::steady_clock::now();
  auto sens = ch::BackboneSensitivity(*model, *split, sens_users, hessian_samples, seed);
  if (!sens.ok()) return Fail(sens.status());
  auto catalog = ch::ChannelCatalog::Create(*model, *sens);
  if (!catalog.ok()) return Fail(catalog.status());
  say(absl::StrFormat("catalog: %d layers, %d channels, %d weights; sensitivity %.1f s",
                      catalog->num_layers(), catalog->total_channels(), catalog->total_elements(),
                      Since(t0)));
  copt.encoder.num_items = split->num_items;
  copt.hypernet.embed_dim = copt.encoder.embed_dim;
  if (query) {
    if (absl::Status st = ch::FitBackboneQuery(*model, *catalog, copt.hypernet); !st.ok()) return Fail(st);
  }
  copt.budget_bits = budget;
  copt.tiers = cut.chord.tiers;
  copt.seed = seed;
  // Caser: every device keeps its window's rows of the input item table at
  // tier 0 (KeepWindowRows); plans and the static allocation leave room.
  const int64_t window_rows = model->HistoryLength();
  copt.window_rows = window_rows;
  auto chord = ch::ChordModel::Create(*catalog, copt);
  if (!chord.ok()) return Fail(chord.status());
  ch::ChordEvalOptions eval;
  eval.budget_bits = budget;
  eval.decode.allowed_bits = allowed;
  eval.oracle_relevance = oracle;
  eval.decode.tier_importance = cut.decode.tier_importance;
  auto decision = (*chord)->ExpectedDecision(budget, eval.decode);
  if (!decision.ok()) return Fail(decision.status());
  const auto& f = (*chord)->fractions();
  say(absl::StrFormat("tiers: shares %.3f/%.3f/%.3f/%.3f, device table %d/%d/%d/%d bits (avg %.3f)",
                      f[0], f[1], f[2], f[3], decision->tier_bits[0], decision->tier_bits[1],
                      decision->tier_bits[2], decision->tier_bits[3], decision->avg_bits));
  auto view = ch::PersonalizedBackbone::Create(model, (*chord)->catalog());
  if (!view.ok()) return Fail(view.status());
  train.epochs = chord_epochs;
  train.seed = seed;
  train.max_users = chord_users;
  train.tier_bits = decision->tier_bits;
  train.on_epoch = [&](const ch::ChordEpochStats& e) {
    say(absl::StrFormat("chord epoch %d loss %.4f task %.4f distill %.4f E[bits] %.3f (%.1f s)",
                        e.epoch, e.loss, e.task_loss, e.distill, e.expected_bits, e.seconds));
    return true;
  };
  if (query) {
    say(absl::StrFormat("chord: relevance from the backbone's own %d-wide query (nothing to train)",
                        copt.hypernet.embed_dim));
  } else if (!load_chord_path.empty()) {
    absl::Status st = ch::LoadChord(**chord, load_chord_path);
    if (!st.ok()) return Fail(st);
    say("chord: loaded " + load_chord_path);
  } else {
    auto stats = ch::TrainChord(**chord, **view, *split, train);
    if (!stats.ok()) return Fail(stats.status());
    if (!save_chord_path.empty()) {
      absl::Status st = ch::SaveChord(**chord, save_chord_path);
      if (!st.ok()) return Fail(st);
    }
  }
  (*chord)->encoder()->eval();
  (*chord)->hypernet()->eval();

  std::vector<int> static_allowed;  // the static baseline does not prune
  for (int b : eval.decode.allowed_bits) {
    if (b >= 2) static_allowed.push_back(b);
  }
  auto static_bits = ch::StaticChannelBits((*chord)->catalog(), *sens, budget, static_allowed,
                                           window_rows,
                                           *ch::ParseStaticSensitivity(static_sensitivity));
  if (!static_bits.ok()) return Fail(static_bits.status());
  eval.static_bits = *static_bits;
  t0 = std::chrono::steady_clock::now();
  auto results = ch::EvaluateChordMethods(**chord, **view, *split, *sample, eval);
  if (!results.ok()) return Fail(results.status());
  double tier_diff = 0;
  for (const auto& r : *results) {
    if (r.name == "chord") tier_diff = r.tier_diff_vs_mean;
  }
  say(absl::StrFormat("evaluation %.1f s; chord tiers differ from chord-mean on %.1f%% of weights",
                      Since(t0), 100 * tier_diff));

  say(absl::StrFormat("%-11s %8s %7s %7s %7s %7s %10s %11s %9s %9s %9s", "method", "avg_bits",
                      "HR@5", "HR@10", "NDCG@5", "NDCG@10", "plan_B", "model_B", "plan_ms",
                      "enc_ms", "apply_ms"));
  nlohmann::json methods = nlohmann::json::array();
  for (const auto& r : *results) {
    say(absl::StrFormat("%-11s %8.3f %7.4f %7.4f %7.4f %7.4f %10d %11d %9.3f %9.3f %9.2f", r.name,
                        r.avg_bits, r.metrics.hr5, r.metrics.hr10, r.metrics.ndcg5,
                        r.metrics.ndcg10, r.plan_bytes, r.model_bytes, r.plan_ms_per_device,
                        r.encode_ms_per_device, r.apply_ms_per_device));
    methods.push_back({{"name", r.name}, {"avg_bits", r.avg_bits}, {"hr5", r.metrics.hr5},
                       {"hr10", r.metrics.hr10}, {"ndcg5", r.metrics.ndcg5},
                       {"ndcg10", r.metrics.ndcg10}, {"plan_bytes", r.plan_bytes},
                       {"model_bytes", r.model_bytes}, {"plan_ms", r.plan_ms_per_device},
                       {"encode_ms", r.encode_ms_per_device}, {"apply_ms", r.apply_ms_per_device},
                       {"tier_diff_vs_mean", r.tier_diff_vs_mean}});
  }
  // Personal plans against the mean plan on the same users (paired).
  const ch::ChordMethodResult* mean_row = nullptr;
  for (const auto& r : *results) {
    if (r.name == "chord-mean") mean_row = &r;
  }
  for (size_t i = 0; mean_row != nullptr && i < results->size(); ++i) {
    const ch::ChordMethodResult& r = (*results)[i];
    if (r.name != "chord" && r.name != "oracle-relevance") continue;
    nlohmann::json paired;
    for (const auto& [key, k, is_ndcg] : {std::tuple{"ndcg10", 10, true},
                                          std::tuple{"hr10", 10, false},
                                          std::tuple{"ndcg5", 5, true}}) {
      auto per_user = [k = k, is_ndcg = is_ndcg](const std::vector<double>& ranks) {
        std::vector<double> v;
        for (double rank : ranks) {
          v.push_back(is_ndcg ? qfleet::seqrec::NdcgAt(rank, k) : qfleet::seqrec::HitAt(rank, k));
        }
        return v;
      };
      const std::vector<double> a = per_user(r.ranks), b = per_user(mean_row->ranks);
      auto d = qfleet::seqrec::ComparePaired(a, b);
      if (!d.ok()) return Fail(d.status());
      say(absl::StrFormat("%s - chord-mean, %s: %s", r.name, key, d->ToString()));
      paired[key] = {{"mean", d->mean}, {"std_error", d->std_error}, {"higher", d->higher},
                     {"lower", d->lower}};
    }
    methods[i]["vs_chord_mean"] = paired;
  }
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << nlohmann::json{{"methods", methods}}.dump(2) << "\n";
    if (!out) return Fail(absl::UnknownError("cannot write " + json_path));
  }
  return 0;
}
