// qfleet-sim: a fleet of virtual devices, each a real gRPC client, against an
// in-process or remote coordinator.
#include <fstream>
#include <iostream>

#include "apps/cli_util.h"
#include "apps/fleet_sim.h"
#include "common/idx_dataset.h"

int main(int argc, char** argv) {
  CLI::App app{"qfleet-sim: simulate a device fleet over real gRPC", "qfleet-sim"};
  qfleet::apps::FlSimOptions o;
  o.data_dir = qfleet::kDefaultFashionMnistDir;
  double alpha = 0;
  std::string json_path;
  bool quiet = false;
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
  app.add_option("--strategy", o.strategy, "fp32 or ptq (upload quantized per channel)")
      ->check(CLI::IsMember({"fp32", "ptq"}));
  app.add_option("--wbits", o.weight_bits, "bits of the per-channel upload quantization")
      ->check(CLI::Range(1, 8));
  app.add_option("--local-epochs", o.local_epochs, "local epochs per round")->check(CLI::Range(1, 100));
  app.add_option("--batch-size", o.batch_size, "local batch size")->check(CLI::Range(1, 4096));
  app.add_option("--lr", o.learning_rate, "local SGD learning rate")->check(CLI::PositiveNumber);
  app.add_option("--max-steps", o.max_steps, "cap on local steps per round (0 = none)");
  app.add_option("--deadline-s", o.round_deadline_s, "round deadline, seconds")
      ->check(CLI::PositiveNumber);
  app.add_option("--train-limit", o.train_limit, "use only the first N training images");
  app.add_option("--test-limit", o.test_limit, "evaluate on only the first N test images");
  app.add_flag("--quiet", quiet, "no per-round progress lines");
  if (int rc = qfleet::apps::ParseOrExit(app, argc, argv); rc >= 0) return rc;
  if (alpha > 0) o.alpha = alpha;
  o.progress = !quiet;

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
