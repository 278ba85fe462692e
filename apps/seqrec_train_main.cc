// qfleet-seqrec-train: trains a full-precision SASRec or Caser backbone on an
// interaction file (or seeded synthetic data), prints the per-epoch loss and
// the validation / test HR@5/10, NDCG@5/10 of the leave-one-out protocol, and
// optionally saves the weights as a QFTC container.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "ml/seqrec/seqrec_baseline.h"

namespace {

using qfleet::seqrec::RankingMetrics;
using qfleet::ml::SeqRecBaselineReport;

nlohmann::json MetricsJson(const RankingMetrics& m) {
  return {{"hr5", m.hr5}, {"hr10", m.hr10}, {"ndcg5", m.ndcg5}, {"ndcg10", m.ndcg10},
          {"users", m.users}};
}

nlohmann::json ReportJson(const SeqRecBaselineReport& r) {
  nlohmann::json epochs = nlohmann::json::array();
  for (const auto& e : r.epochs) {
    nlohmann::json j = {{"epoch", e.epoch}, {"loss", e.loss}, {"seconds", e.seconds}};
    if (e.validated) j["valid"] = MetricsJson(e.valid);
    epochs.push_back(j);
  }
  return {{"model", r.model.ToString()},
          {"users", r.users},
          {"items", r.items},
          {"events", r.events},
          {"evaluated_users", r.evaluated_users},
          {"best_epoch", r.best_epoch},
          {"valid", MetricsJson(r.valid)},
          {"test", MetricsJson(r.test)},
          {"train_seconds", r.train_seconds},
          {"eval_seconds", r.eval_seconds},
          {"epochs", epochs}};
}

}  // namespace

int main(int argc, char** argv) {
  namespace tq = qfleet::ml;
  CLI::App app{"qfleet-seqrec-train: train and evaluate a SASRec / Caser backbone",
               "qfleet-seqrec-train"};
  std::string data_path, format_name = "lines", backbone_name = "sasrec", json_path;
  bool synthetic = false;
  int epochs = 20, threads = 0, eval_every = 0, patience = 0;
  uint64_t seed = 1, eval_seed = 1;
  std::optional<double> dropout, lr, l2;
  std::optional<int64_t> batch, hidden, max_len, blocks;
  int64_t eval_users = 10000;
  int64_t length_buckets = 0;
  qfleet::seqrec::SyntheticOptions syn;
  tq::SeqRecBaselineOptions o;
  auto* data_opt = app.add_option("--data", data_path, "interaction file");
  app.add_flag("--synthetic", synthetic, "use seeded synthetic data (the default without --data)")
      ->excludes(data_opt);
  app.add_option("--format", format_name, "file layout: lines ('user item') or movielens")
      ->check(CLI::IsMember({"lines", "movielens"}));
  app.add_option("--backbone", backbone_name, "sasrec or caser")
      ->check(CLI::IsMember({"sasrec", "caser"}));
  app.add_option("--epochs", epochs, "training epochs")->check(CLI::Range(1, 100000));
  app.add_option("--seed", seed, "seed of model init, batch order, negatives and dropout");
  app.add_option("--threads", threads, "torch intra-op threads (0 = LibTorch default)")
      ->check(CLI::Range(0, 1024));
  app.add_option("--save", o.save_path, "write the best-validation weights to this .qftc file");
  app.add_option("--json", json_path, "write the report as JSON to this file");
  app.add_option("--init", o.init_path, "continue training from these weights (.qftc, --save)");
  app.add_option("--dropout", dropout, "dropout (default sasrec 0.2, caser 0.5)")
      ->check(CLI::Range(0.0, 0.95));
  app.add_option("--lr", lr, "Adam learning rate (default 1e-3)")->check(CLI::PositiveNumber);
  app.add_option("--l2", l2, "L2 weight decay (default sasrec 0, caser 1e-6)")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--batch", batch, "batch size (default sasrec 128, caser 512)")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--hidden", hidden, "hidden size d (default 50)")->check(CLI::Range(1, 4096));
  app.add_option("--max-len", max_len, "SASRec max sequence length (default 50)")
      ->check(CLI::Range(1, 4096));
  app.add_option("--blocks", blocks, "SASRec self-attention blocks (default 2)")
      ->check(CLI::Range(1, 64));
  app.add_option("--length-buckets", length_buckets,
                 "SASRec: batch users of similar length, groups of N batches (0 = uniform)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
  app.add_option("--eval-every", eval_every, "validate every N epochs (0 = after the last)")
      ->check(CLI::Range(0, 100000));
  app.add_option("--patience", patience, "stop after N validations without gain (0 = never)")
      ->check(CLI::Range(0, 100000));
  app.add_option("--eval-users", eval_users, "evaluate at most this many users (0 = all)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 30));
  app.add_option("--eval-seed", eval_seed, "seed of the evaluated users and negatives");
  app.add_option("--syn-users", syn.num_users, "synthetic users")->check(CLI::Range(1, 1 << 24));
  app.add_option("--syn-items", syn.num_items, "synthetic items")->check(CLI::Range(2, 1 << 24));
  app.add_option("--syn-clusters", syn.clusters, "synthetic interest clusters")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--syn-length", syn.mean_length, "synthetic mean sequence length")
      ->check(CLI::Range(3.0, 10000.0));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::printf("%s", app.help().c_str());
    return 0;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "%s: error: %s (see --help)\n", app.get_name().c_str(), e.what());
    return 2;
  }

  const tq::Backbone backbone = *tq::ParseBackbone(backbone_name);
  o.data_path = synthetic ? "" : data_path;
  o.format = *tq::ParseInteractionFormat(format_name);
  syn.seed = seed;
  o.synthetic = syn;
  o.model = tq::DefaultSeqRecConfig(backbone);
  o.train = tq::DefaultSeqRecTrainOptions(backbone);
  if (dropout) o.model.dropout = *dropout;
  if (hidden) o.model.hidden = *hidden;
  if (max_len) o.model.max_length = *max_len;
  if (blocks) o.model.num_blocks = *blocks;
  if (lr) o.train.learning_rate = *lr;
  if (l2) o.train.weight_decay = *l2;
  if (batch) o.train.batch_size = *batch;
  o.train.epochs = epochs;
  o.train.length_buckets = length_buckets;
  o.train.seed = seed;
  o.model_seed = seed;
  o.eval.max_users = eval_users;
  o.eval.seed = eval_seed;
  o.eval_every = eval_every;
  o.patience = patience;
  o.threads = threads;

  auto report = tq::RunSeqRecBaseline(o, [](const std::string& line) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  });
  if (!report.ok()) {
    std::fprintf(stderr, "qfleet-seqrec-train: %s\n", report.status().ToString().c_str());
    return 1;
  }
  const double per_epoch = report->epochs.empty() ? 0 : report->train_seconds / report->epochs.size();
  std::printf("final (best epoch %d of %zu): valid %s\n", report->best_epoch,
              report->epochs.size(), report->valid.ToString().c_str());
  std::printf("final (best epoch %d of %zu): test  %s\n", report->best_epoch,
              report->epochs.size(), report->test.ToString().c_str());
  std::printf("training %.1f s (%.2f s/epoch), evaluation %.1f s\n", report->train_seconds,
              per_epoch, report->eval_seconds);
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << ReportJson(*report).dump(2) << "\n";
    if (!out) {
      std::fprintf(stderr, "qfleet-seqrec-train: cannot write %s\n", json_path.c_str());
      return 1;
    }
  }
  return 0;
}
