// The sequential-recommendation simulator's command line: its flags, its table and its JSON.

#include "sim/seqrec_sim.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <fstream>
#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "apps/admin_client.h"
#include "apps/cli_util.h"
#include "sim/local_coordinator.h"
#include "cloud/campaign_config.h"
#include "common/plan_codec.h"
#include "common/seqrec/eval_sampler.h"
#include "common/seqrec/ranking_metrics.h"
#include "common/status_macros.h"
#include "device/fleet_client.h"
#include "ml/chord/chord_device.h"
#include "sim/chord_eval.h"
#include "cloud/chord/chord_service.h"
#include "ml/chord/user_weights.h"
#include "ml/model_io.h"
#include "ml/plan_apply.h"
#include "ml/seqrec/seqrec_batches.h"
#include "ml/seqrec/seqrec_factory.h"

namespace qfleet::apps {

namespace ch = ml::chord;

std::string FormatSeqRecTable(const SeqRecSimResult& r) {
  std::string out = absl::StrFormat("%-11s %8s %7s %7s %7s %7s %9s %11s %8s %9s %9s\n", "method",
                                    "avg_bits", "HR@5", "HR@10", "NDCG@5", "NDCG@10", "plan_B",
                                    "model_B", "x_smaller", "plan_ms", "apply_ms");
  for (const SeqRecMethodRow& m : r.rows) {
    const std::string smaller =
        m.plan_bytes > 0 ? absl::StrFormat("%.0fx", m.model_bytes / m.plan_bytes) : "-";
    absl::StrAppendFormat(&out, "%-11s %8.3f %7.4f %7.4f %7.4f %7.4f %9.0f %11.0f %8s %9.4f %9.2f\n",
                          m.name, m.avg_bits, m.hr5, m.hr10, m.ndcg5, m.ndcg10, m.plan_bytes,
                          m.model_bytes, smaller, m.plan_gen_ms, m.apply_ms);
  }
  if (r.chord_vs_mean_ndcg10 && r.chord_vs_mean_hr10) {
    absl::StrAppendFormat(&out, "chord - chord-mean (paired, per device): NDCG@10 %s; HR@10 %s\n",
                          r.chord_vs_mean_ndcg10->ToString(), r.chord_vs_mean_hr10->ToString());
  }
  absl::StrAppendFormat(&out,
                        "%d devices, %d channels; cloud preparation %.1f s, registration %.1f s, "
                        "total %.1f s; %d stored plans checked against what devices received\n",
                        r.devices, r.channels, r.prepare_seconds, r.register_seconds, r.total_seconds,
                        r.plans_stored);
  return out;
}

std::string SeqRecToJson(const SeqRecSimResult& r) {
  nlohmann::json methods = nlohmann::json::array();
  for (const SeqRecMethodRow& m : r.rows) {
    methods.push_back({{"name", m.name},       {"avg_bits", m.avg_bits}, {"low_bits", m.low_bits},
                       {"hr5", m.hr5},         {"hr10", m.hr10},
                       {"ndcg5", m.ndcg5},     {"ndcg10", m.ndcg10},
                       {"plan_bytes", m.plan_bytes}, {"model_bytes", m.model_bytes},
                       {"plan_gen_ms", m.plan_gen_ms}, {"apply_ms", m.apply_ms},
                       {"reports", m.reports}, {"round", m.round},
                       {"plan_cached_share", m.cached_share}, {"seconds", m.seconds}});
  }
  nlohmann::json paired = nlohmann::json::object();
  auto put = [&paired](const char* key, const std::optional<seqrec::PairedDifference>& d) {
    if (d) {
      paired[key] = {{"mean", d->mean}, {"std_error", d->std_error}, {"higher", d->higher},
                     {"lower", d->lower}, {"users", d->users}};
    }
  };
  put("ndcg10", r.chord_vs_mean_ndcg10);
  put("hr10", r.chord_vs_mean_hr10);
  return nlohmann::json{{"methods", methods},
                        {"chord_vs_chord_mean", paired},
                        {"devices", r.devices},
                        {"channels", r.channels},
                        {"layers", r.layers},
                        {"prepare_seconds", r.prepare_seconds},
                        {"register_seconds", r.register_seconds},
                        {"total_seconds", r.total_seconds},
                        {"plans_checked", r.plans_stored}}
             .dump(2);
}

bool SelectsSeqRecTask(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--task=seqrec") == 0) return true;
    if (std::strcmp(argv[i], "--task") == 0 && i + 1 < argc && std::strcmp(argv[i + 1], "seqrec") == 0) {
      return true;
    }
  }
  return false;
}

int SeqRecSimMain(int argc, char** argv) {
  CLI::App app{"qfleet-sim --task seqrec: CHORD plans through the coordinator, one virtual device "
               "per evaluated user", "qfleet-sim"};
  SeqRecSimOptions o;
  ch::ChordSetupOptions& s = o.setup;
  std::string task, json_path, format = "lines", methods;
  bool quick = false, quiet = false;
  int threads = 2;
  app.add_option("--task", task, "seqrec")->required();
  app.add_option("--data", s.data_path, "interactions file (default: seeded synthetic data)");
  app.add_option("--format", format, "lines ('user item' per line) or movielens")
      ->check(CLI::IsMember({"lines", "movielens"}));
  app.add_option("--backbone", s.backbone, "sasrec or caser")->check(CLI::IsMember({"sasrec", "caser"}));
  app.add_option("--budget-bits", s.chord.budget_bits, "average bits per weight devices decode for")
      ->check(CLI::Range(2.0, 4.0));
  app.add_option("--devices", o.devices, "virtual devices = evaluated users")->check(CLI::Range(1, 1000000));
  app.add_option("--seed", s.seed, "seed of data, models and training");
  app.add_option("--eval-seed", o.eval_seed, "seed of the evaluated users and their negatives");
  app.add_option("--json", json_path, "write the comparison as JSON");
  app.add_option("--methods", methods, "comma-separated subset of fp32,rtn2,rtn3,rtn4,rtn8,static,chord-mean,chord");
  app.add_option("--epochs", s.epochs, "backbone epochs (when not loaded)")->check(CLI::Range(1, 100000));
  app.add_option("--length-buckets", s.length_buckets,
                 "SASRec training batches of similar lengths from groups of N batches (0 = off)")
      ->check(CLI::Range(0, 1024));
  app.add_option("--dropout", s.dropout, "backbone dropout (default sasrec 0.2, caser 0.5)")
      ->check(CLI::Range(0.0, 0.95));
  app.add_option("--load-backbone", s.load_backbone, "trained backbone (.qftc) instead of training");
  app.add_option("--save-backbone", s.save_backbone, "save the trained backbone (.qftc)");
  app.add_option("--chord-epochs", s.train.epochs, "CHORD training epochs")->check(CLI::Range(1, 100000));
  app.add_option("--chord-lr", s.train.learning_rate, "CHORD Adam learning rate")->check(CLI::PositiveNumber);
  app.add_option("--chord-users", s.train.max_users, "train CHORD on at most this many users (0 = all)");
  app.add_option("--distill", s.train.distill_weight, "weight of the FP32 logit distillation term");
  bool relevance = false;
  app.add_flag("--chord-relevance", relevance,
               "relevance mode: the hypernetworks tier the item table's rows by a learned relevance "
               "to each user (SASRec: quarters cut for 4/3/3/2 bits; Caser: cut for 8/4/2/1 bits with "
               "the rows no device reads in the 1-bit tier)");
  std::string static_sensitivity = "layer";
  app.add_option("--static-sensitivity", static_sensitivity, ml::chord::kStaticSensitivityHelp)
      ->check(CLI::IsMember({"channel", "layer"}));
  bool query = false;
  app.add_flag("--chord-query", query,
               "relevance mode on the backbone's own query: each device sends its FP32 backbone's "
               "query of its history, the coordinator ranks the item rows by the backbone's exact "
               "scores, nothing is trained and the CHORD training flags have no effect (Caser: cut for "
               "8/4/3/2 bits, at 3 bits 5/30/10/55%)")
      ->excludes("--chord-relevance");
  std::vector<int> tier_bits;
  std::vector<double> middle_share, tier_importance;
  app.add_option("--tier-bits", tier_bits,
                 "reference widths of tiers 0..3 the cloud sizes the tiers for (overrides "
                 "--chord-relevance's)")
      ->expected(4)->delimiter(',')->check(CLI::Range(0, 8));
  app.add_option("--middle-share", middle_share, "weight shares of tiers 1 and 2")
      ->expected(2)->delimiter(',')->check(CLI::Range(0.0, 1.0));
  app.add_option("--tier-importance", tier_importance,
                 "decoder weights of tiers 0..3 shipped with every plan (overrides "
                 "--chord-relevance's)")
      ->expected(4)->delimiter(',');
  app.add_option("--load-chord", s.load_chord, "trained encoder + hypernetworks (.qftc)");
  app.add_option("--save-chord", s.save_chord, "save the trained encoder + hypernetworks (.qftc)");
  app.add_option("--workers", o.workers, "device RPC threads")->check(CLI::Range(1, 1024));
  app.add_option("--channels", o.channels, "gRPC connections shared by the devices")->check(CLI::Range(1, 256));
  app.add_option("--threads", threads, "torch intra-op threads")->check(CLI::Range(1, 1024));
  app.add_option("--db", o.db, "coordinator SQLite file (default: temporary)");
  app.add_option("--syn-users", s.synthetic.num_users, "synthetic users");
  app.add_option("--syn-items", s.synthetic.num_items, "synthetic items");
  app.add_flag("--quick", quick, "small synthetic run for tests (300 users, 64 devices, 10 epochs, 1 CHORD epoch)");
  app.add_flag("--insecure", o.insecure, "plaintext gRPC (default: TLS with a throw-away PKI)");
  app.add_flag("--quiet", quiet, "no progress lines");
  if (int rc = ParseOrExit(app, argc, argv); rc >= 0) return rc;
  auto parsed = ml::ParseInteractionFormat(format);
  if (!parsed.ok()) {
    std::cerr << "qfleet-sim: error: " << parsed.status().message() << "\n";
    return 2;
  }
  s.format = *parsed;
  s.static_sensitivity = *ml::chord::ParseStaticSensitivity(static_sensitivity);
  if (relevance) ml::chord::UseRelevanceTiers(s);
  if (query) ml::chord::UseBackboneQuery(s);
  if (absl::Status st = ml::chord::OverrideTiers(s, tier_bits, middle_share, tier_importance);
      !st.ok()) {
    std::cerr << "qfleet-sim: error: " << st.message() << "\n";
    return 2;
  }
  if (!methods.empty()) o.methods = absl::StrSplit(methods, ',', absl::SkipEmpty());
  if (quick) {
    ApplySeqRecQuick(o, app.count("--epochs") > 0, app.count("--chord-epochs") > 0,
                     app.count("--devices") > 0);
  }
  o.progress = !quiet;
  torch::set_num_threads(threads);
  auto result = RunSeqRecSim(o, std::cerr);
  if (!result.ok()) {
    std::cerr << "qfleet-sim: " << result.status().message() << "\n";
    return 1;
  }
  std::cout << FormatSeqRecTable(*result);
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << SeqRecToJson(*result) << "\n";
    if (!out) {
      std::cerr << "qfleet-sim: cannot write " << json_path << "\n";
      return 1;
    }
  }
  return 0;
}

}  // namespace qfleet::apps
