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
#include "device/agent.h"
#include "device/profile_probe.h"

namespace {
std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"qfleet-agent: the qfleet device agent", "qfleet-agent"};
  std::string coordinator = "127.0.0.1:7070";
  std::string name;
  std::string data_dir = qfleet::kDefaultFashionMnistDir;
  std::string images, labels, shard = "iid:1:0:1", join_secret;
  int threads = 1;
  bool exit_when_idle = false;
  qfleet::apps::ClientTlsFlags tls;
  app.add_option("--coordinator", coordinator, "HOST:PORT of the coordinator");
  app.add_option("--name", name, "stable device name (default: hostname-pid)");
  app.add_option("--data-dir", data_dir, "Fashion-MNIST IDX directory (training split)");
  app.add_option("--images", images, "this device's own IDX image file (overrides --data-dir)");
  app.add_option("--labels", labels, "this device's own IDX label file (with --images)");
  app.add_option("--shard", shard,
                 "simulation shard: iid:CLIENTS:INDEX:SEED or dirichlet:ALPHA:CLIENTS:INDEX:SEED");
  app.add_option("--join-secret", join_secret, "enrollment secret of the coordinator");
  app.add_option("--threads", threads, "LibTorch threads for local training")->check(CLI::Range(1, 256));
  app.add_flag("--exit-when-idle", exit_when_idle, "exit once the coordinator has no campaign");
  tls.AddTo(app);
  if (int rc = qfleet::apps::ParseOrExit(app, argc, argv); rc >= 0) return rc;
  auto security = tls.Load();
  if (!security.ok()) {
    std::cerr << "qfleet-agent: error: " << security.status().message() << "\n";
    return 2;
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

  auto data = images.empty() ? qfleet::LoadFashionMnist(data_dir, /*train=*/true)
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
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);

  qfleet::device::AgentOptions opts;
  opts.device_name = name;
  opts.profile.compute_gflops = qfleet::device::MeasureMatmulGflops();
  opts.profile.memory_mib = qfleet::device::AvailableMemoryMib();
  opts.join_secret = join_secret;
  opts.train = &*data;
  opts.indices = *indices;
  opts.exit_when_idle = exit_when_idle;
  qfleet::device::FleetClient client(qfleet::apps::MakeChannel(coordinator, *security));
  qfleet::device::Agent agent(&client, opts);
  std::cerr << "qfleet-agent: " << name << " with " << opts.indices.size() << " samples, "
            << opts.profile.compute_gflops << " GFLOP/s, coordinator " << coordinator << "\n";
  absl::Status s = agent.Run(g_stop);
  if (!s.ok()) {
    std::cerr << "qfleet-agent: " << s.message() << "\n";
    return 1;
  }
  std::cerr << "qfleet-agent: done, " << agent.stats().tasks_done << " tasks\n";
  return 0;
}
