// qfleet-agent: the device agent daemon.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <thread>

#include <torch/torch.h>

#include "apps/cli_util.h"
#include "apps/client_channel.h"
#include "common/idx_dataset.h"
#include "common/partition.h"
#include "common/retry_backoff.h"
#include "common/seqrec/eval_sampler.h"
#include "common/seqrec/leave_one_out.h"
#include "ml/seqrec/seqrec_baseline.h"
#include "device/agent.h"
#include "device/profile_probe.h"

namespace {
std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

// A recommendation device's own data: user `user` of an interactions file
// (or of the seeded synthetic data), held out and sampled exactly as the
// leave-one-out protocol does in the cloud.
absl::StatusOr<qfleet::device::SeqRecDeviceData> LoadSeqRecDevice(
    const std::string& data, const std::string& format, int64_t user, uint64_t data_seed,
    uint64_t eval_seed, const std::string& backbone, double budget_bits) {
  namespace sr = qfleet::seqrec;
  auto fmt = qfleet::ml::ParseInteractionFormat(format);
  if (!fmt.ok()) return fmt.status();
  sr::SyntheticOptions syn;
  syn.seed = data_seed;
  auto interactions = qfleet::ml::LoadInteractions(data == "synthetic" ? "" : data, *fmt, syn);
  if (!interactions.ok()) return interactions.status();
  auto split = sr::SplitLeaveOneOut(*interactions);
  if (!split.ok()) return split.status();
  if (user < 0 || user >= split->num_users || !split->Evaluated(user)) {
    return absl::InvalidArgumentError("--seqrec-user " + std::to_string(user) +
                                      " is not an evaluated user of " + data);
  }
  sr::EvalSampleOptions eo;
  eo.max_users = 0;
  eo.seed = eval_seed;
  auto sample = sr::BuildEvalSample(*split, sr::EvalStage::kTest, eo);
  if (!sample.ok()) return sample.status();
  auto device = qfleet::device::SeqRecDeviceDataFor(*split, *sample, user);
  if (!device.ok()) return device.status();
  device->backbone = backbone;
  device->budget_bits = budget_bits;
  return device;
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"qfleet-agent: the qfleet device agent", "qfleet-agent"};
  std::string coordinator = "127.0.0.1:7070";
  std::string name;
  std::string data_dir = qfleet::kDefaultFashionMnistDir;
  std::string images, labels, shard = "iid:1:0:1", join_secret, join_secret_file, state_file;
  int threads = 1;
  bool exit_when_idle = false;
  std::string seqrec_data, seqrec_format = "lines", backbone = "sasrec";
  int64_t seqrec_user = -1;
  uint64_t seqrec_seed = 1, eval_seed = 1;
  double budget_bits = 0;
  qfleet::apps::ClientTlsFlags tls;
  app.add_option("--coordinator", coordinator, "HOST:PORT of the coordinator");
  app.add_option("--name", name, "stable device name (default: hostname-pid)");
  app.add_option("--data-dir", data_dir, "Fashion-MNIST IDX directory (training split)");
  app.add_option("--images", images, "this device's own IDX image file (overrides --data-dir)");
  app.add_option("--labels", labels, "this device's own IDX label file (with --images)");
  app.add_option("--shard", shard,
                 "simulation shard: iid:CLIENTS:INDEX:SEED or dirichlet:ALPHA:CLIENTS:INDEX:SEED");
  auto* secret_flag = app.add_option(
      "--join-secret", join_secret,
      "enrollment secret or join token (visible in ps: prefer --join-secret-file)");
  app.add_option("--join-secret-file", join_secret_file,
                 "file holding the enrollment secret or join token")
      ->excludes(secret_flag);
  app.add_option("--state-file", state_file,
                 "where the agent keeps its device token between runs (0600); without it a "
                 "restarted agent cannot re-enroll its name without an admin reset");
  app.add_option("--threads", threads, "LibTorch threads for local training")->check(CLI::Range(1, 256));
  app.add_flag("--exit-when-idle", exit_when_idle, "exit once the coordinator has no campaign");
  app.add_option("--seqrec-data", seqrec_data,
                 "recommendation device: interactions file, or 'synthetic' (then no image data)");
  app.add_option("--seqrec-format", seqrec_format, "lines or movielens")
      ->check(CLI::IsMember({"lines", "movielens"}));
  app.add_option("--seqrec-user", seqrec_user, "this device's user (dense id in the data)");
  app.add_option("--seqrec-seed", seqrec_seed, "seed of the synthetic data");
  app.add_option("--eval-seed", eval_seed, "seed of the negatives the held-out item is ranked against");
  app.add_option("--backbone", backbone, "sasrec or caser (the served model)")
      ->check(CLI::IsMember({"sasrec", "caser"}));
  app.add_option("--budget-bits", budget_bits, "average bits this device decodes plans for (0 = the task's)")
      ->check(CLI::Range(0.0, 8.0));
  tls.AddTo(app);
  std::string max_outage = "10m", pull_wait = "20s";
  app.add_option("--max-outage", max_outage,
                 "give up (exit 1) after the coordinator has been unreachable this long; "
                 "calls are retried with capped exponential backoff until then (0 = never)");
  app.add_option("--pull-wait", pull_wait,
                 "long-poll: how long the coordinator may hold each PullTask while there is "
                 "nothing to do (0 = poll)");
  if (int rc = qfleet::apps::ParseOrExit(app, argc, argv); rc >= 0) return rc;
  auto max_outage_ms = qfleet::ParseOutageMs(max_outage, "--max-outage");
  auto pull_wait_ms = qfleet::ParseOutageMs(pull_wait, "--pull-wait");
  for (const auto* parsed : {&max_outage_ms, &pull_wait_ms}) {
    if (!parsed->ok()) {
      std::cerr << "qfleet-agent: error: " << parsed->status().message() << "\n";
      return 2;
    }
  }
  auto security = tls.Load();
  if (!security.ok()) {
    std::cerr << "qfleet-agent: error: " << security.status().message() << "\n";
    return 2;
  }
  if (!join_secret_file.empty()) {
    auto secret = qfleet::apps::ReadTokenFile(join_secret_file);
    if (!secret.ok()) {
      std::cerr << "qfleet-agent: error: --join-secret-file: " << secret.status().message() << "\n";
      return 2;
    }
    join_secret = *std::move(secret);
  }
  if (images.empty() != labels.empty()) {
    std::cerr << "qfleet-agent: error: --images and --labels go together\n";
    return 2;
  }
  auto spec = qfleet::ParseShardSpec(shard);
  if (!spec.ok()) {
    std::cerr << "qfleet-agent: error: --shard: " << spec.status().message() << "\n";
    return 2;
  }
  if (name.empty()) {
    char host[64] = {0};
    gethostname(host, sizeof(host) - 1);
    name = std::string(host) + "-" + std::to_string(getpid());
  }
  torch::set_num_threads(threads);

  qfleet::device::AgentOptions opts;
  absl::StatusOr<qfleet::ImageDataset> data = absl::NotFoundError("no image data");
  if (!seqrec_data.empty()) {
    if (seqrec_user < 0) {
      std::cerr << "qfleet-agent: error: --seqrec-data needs --seqrec-user\n";
      return 2;
    }
    auto device = LoadSeqRecDevice(seqrec_data, seqrec_format, seqrec_user, seqrec_seed,
                                   eval_seed, backbone, budget_bits);
    if (!device.ok()) {
      std::cerr << "qfleet-agent: " << device.status().message() << "\n";
      return 1;
    }
    opts.seqrec = *std::move(device);
  }
  if (seqrec_data.empty() || !images.empty()) {
    data = images.empty() ? qfleet::LoadFashionMnist(data_dir, /*train=*/true)
                          : qfleet::LoadIdx(images, labels);
    if (!data.ok()) {
      std::cerr << "qfleet-agent: " << data.status().message() << "\n";
      return 1;
    }
    auto indices = qfleet::ShardIndices(data->labels, data->num_classes, *spec);
    if (!indices.ok()) {
      std::cerr << "qfleet-agent: " << indices.status().message() << "\n";
      return 1;
    }
    opts.train = &*data;
    opts.indices = *indices;
  }
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);

  opts.device_name = name;
  opts.profile.compute_gflops = qfleet::device::MeasureMatmulGflops();
  opts.profile.memory_mib = qfleet::device::AvailableMemoryMib();
  opts.join_secret = join_secret;
  opts.state_file = state_file;
  opts.exit_when_idle = exit_when_idle;
  opts.backoff.max_outage_ms = *max_outage_ms;
  opts.log = &std::cerr;
  opts.pull_wait_ms = *pull_wait_ms;
  qfleet::device::FleetClient client(qfleet::apps::MakeChannel(coordinator, *security));
  qfleet::device::Agent agent(&client, opts);
  std::cerr << "qfleet-agent: " << name << " with " << opts.indices.size() << " images, "
            << (opts.seqrec.has_value() ? opts.seqrec->history.size() : 0) << " interactions, "
            << opts.profile.compute_gflops << " GFLOP/s, coordinator " << coordinator << "\n";
  absl::Status s = agent.Run(g_stop);
  if (!s.ok()) {
    std::cerr << "qfleet-agent: " << s.message() << "\n";
    return 1;
  }
  std::cerr << "qfleet-agent: done, " << agent.stats().tasks_done << " tasks\n";
  return 0;
}
