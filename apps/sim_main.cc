// qfleet-sim: a fleet of virtual devices, each a real gRPC client, against an
// in-process or remote coordinator.
#include <fstream>
#include <iostream>

#include "apps/cli_util.h"
#include "apps/client_channel.h"
#include "absl/strings/str_split.h"
#include "sim/fl_compare.h"
#include "sim/fleet_sim.h"
#include "sim/light_sim.h"
#include "sim/ptq_sim.h"
#include "sim/seqrec_sim.h"
#include "common/idx_dataset.h"

int main(int argc, char** argv) {
  // --task ptq has its own flags (sim/ptq_sim.h); everything else is the
  // fleet simulator below.
  if (qfleet::apps::SelectsPtqTask(argc, argv)) return qfleet::apps::PtqSimMain(argc, argv);
  if (qfleet::apps::SelectsLightSim(argc, argv)) return qfleet::apps::LightSimMain(argc, argv);
  if (qfleet::apps::SelectsSeqRecTask(argc, argv)) return qfleet::apps::SeqRecSimMain(argc, argv);
  CLI::App app{"qfleet-sim: simulate a device fleet over real gRPC", "qfleet-sim"};
  qfleet::apps::FlSimOptions o;
  o.data_dir = qfleet::kDefaultFashionMnistDir;
  double alpha = 0;
  std::string json_path;
  bool quiet = false;
  std::string task = "fl";
  app.add_option("--task", task,
                 "fl: federated fleet (default); ptq: quantization study (--task ptq --help); "
                 "seqrec: CHORD plans for sequential recommendation (--task seqrec --help)")
      ->check(CLI::IsMember({"fl", "ptq", "seqrec"}));
  app.add_option("--devices", o.devices, "virtual devices")->check(CLI::Range(1, 100000));
  app.add_option("--rounds", o.rounds, "training rounds")->check(CLI::Range(1, 100000));
  app.add_option("--seed", o.seed, "seed of model init, partition and selection");
  app.add_option("--alpha", alpha, "Dirichlet(alpha) label partition (default: IID)")
      ->check(CLI::PositiveNumber);
  app.add_option("--coordinator", o.coordinator,
                 "HOST:PORT of a running coordinator (default: start one in-process)");
  app.add_option("--db", o.db, "SQLite file of the in-process coordinator (default: temporary)");
  app.add_option("--json", json_path, "write the per-round results as JSON to this file");
  app.add_option("--data-dir", o.data_dir, "Fashion-MNIST IDX directory");
  app.add_option("--strategy", o.strategy,
                 "fp32, ptq, qat (every client alike) or fedhq, fedhq-init (FedHQ selector; "
                 "need --compare's calibration, so use --compare for them)")
      ->check(CLI::IsMember({"fp32", "ptq", "qat"}));
  app.add_option("--wbits", o.weight_bits, "weight bits (uploads, QAT forward, served model)")
      ->check(CLI::Range(1, 8));
  app.add_option("--abits", o.activation_bits, "activation bits under QAT and when served (0 = FP32)")
      ->check(CLI::Range(0, 8));
  std::string compare, fleet_file, plot_path, calibration_path;
  double target_acc = 0.8;
  app.add_option("--compare", compare,
                 "comma-separated strategies to run side by side on one fleet "
                 "(fp32,ptq,qat,fedhq,fedhq-init); prints the comparison table");
  app.add_option("--fleet", fleet_file, "fleet YAML (default: the mix in docs/fleet.md)");
  app.add_option("--target-acc", target_acc, "served accuracy whose first reach is timed (--compare)")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--calibration", calibration_path,
                 "step-cost calibration JSON (--compare): reused when present, else measured "
                 "and written there");
  app.add_option("--plot", plot_path, "PNG of served accuracy against simulated time (--compare)");
  app.add_option("--sim-deadline-s", o.sim_deadline_s,
                 "simulated round deadline (--compare; 0 = wait for the slowest)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--keep-qat-ratio", o.keep_qat_ratio,
                 "FedHQ: harm multiple of the mean above which a client keeps QAT")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--ptq-upload", o.ptq_upload,
                 "what a PTQ client uploads: model (its quantized model) or delta (its "
                 "quantized change from the global model)")
      ->check(CLI::IsMember({"model", "delta"}));
  app.add_option("--local-epochs", o.local_epochs, "local epochs per round")->check(CLI::Range(1, 100));
  app.add_option("--batch-size", o.batch_size, "local batch size")->check(CLI::Range(1, 4096));
  app.add_option("--lr", o.learning_rate, "local SGD learning rate")->check(CLI::PositiveNumber);
  app.add_option("--max-steps", o.max_steps, "cap on local steps per round (0 = none)");
  app.add_option("--deadline-s", o.round_deadline_s, "round deadline, seconds")
      ->check(CLI::PositiveNumber);
  app.add_option("--train-limit", o.train_limit, "use only the first N training images");
  app.add_option("--test-limit", o.test_limit, "evaluate on only the first N test images");
  app.add_option("--init-model", o.init_model_path,
                 "start from this model (a tensor container, as `qfleetctl models export` or "
                 "--export-model writes it) instead of a seeded one")
      ->check(CLI::ExistingFile);
  app.add_option("--export-model", o.export_model_path,
                 "after the last round, write the global model to this file");
  int warmup_rounds = 0;
  std::string warmup_model;
  app.add_option("--warmup-rounds", warmup_rounds,
                 "--compare: train FP32 for this many rounds first and start every strategy "
                 "from that model (quantized deployment of a trained model)")
      ->check(CLI::Range(0, 100000));
  app.add_option("--warmup-model", warmup_model,
                 "--compare: where the warm-up model is written (default: a temporary file)");
  app.add_flag("--quiet", quiet, "no per-round progress lines");
  // Without --coordinator only --insecure matters (the in-process
  // coordinator gets a throw-away PKI and admin token); with it, these say
  // how to reach the remote coordinator.
  qfleet::apps::ClientTlsFlags tls;
  tls.AddTo(app);
  std::string admin_token_file;
  app.add_option("--admin-token-file", admin_token_file,
                 "admin token of the remote --coordinator");
  std::string max_outage = "10m";
  app.add_option("--max-outage", max_outage,
                 "give up after the coordinator has been unreachable this long; until then "
                 "devices and the campaign driver retry with capped exponential backoff "
                 "(0 = never)");
  if (int rc = qfleet::apps::ParseOrExit(app, argc, argv); rc >= 0) return rc;
  if (auto ms = qfleet::ParseOutageMs(max_outage, "--max-outage"); ms.ok()) {
    o.backoff.max_outage_ms = *ms;
  } else {
    std::cerr << "qfleet-sim: error: " << ms.status().message() << "\n";
    return 2;
  }
  auto access = qfleet::apps::LoadClientAccess(tls, admin_token_file);
  if (!access.ok()) {
    std::cerr << "qfleet-sim: error: " << access.status().message() << "\n";
    return 2;
  }
  o.security = access->security;
  o.insecure = access->security.insecure;
  o.admin_token = access->admin_token;
  if (alpha > 0) o.alpha = alpha;
  o.progress = !quiet;
  if (!compare.empty()) {
    qfleet::apps::FlCompareOptions c;
    c.strategies = absl::StrSplit(compare, ',', absl::SkipEmpty());
    for (const std::string& s : c.strategies) {
      if (s != "fp32" && s != "ptq" && s != "qat" && s != "fedhq" && s != "fedhq-init") {
        std::cerr << "qfleet-sim: error: --compare: unknown strategy '" << s << "'\n";
        return 2;
      }
    }
    c.sim = o;
    c.fleet_file = fleet_file;
    c.target_acc = target_acc;
    c.json_path = json_path;
    c.plot_path = plot_path;
    c.calibration_path = calibration_path;
    c.warmup_rounds = warmup_rounds;
    c.warmup_model_path = warmup_model;
    auto results = qfleet::apps::RunFlCompare(c, std::cerr);
    if (!results.ok()) {
      std::cerr << "qfleet-sim: " << results.status().message() << "\n";
      return 1;
    }
    std::cout << qfleet::apps::FormatCompareTable(*results);
    return 0;
  }

  auto result = qfleet::apps::RunFlSim(o, std::cerr);
  if (!result.ok()) {
    std::cerr << "qfleet-sim: " << result.status().message() << "\n";
    return 1;
  }
  std::cout << qfleet::apps::FormatRoundTable(*result);
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << qfleet::apps::RoundsToJson(*result);
    if (!out) {
      std::cerr << "qfleet-sim: cannot write " << json_path << "\n";
      return 1;
    }
  }
  for (const auto& r : result->rounds) {
    if (r.state != "done") return 3;
  }
  return 0;
}
