#include "sim/light_sim.h"

#include "sim/enrollment.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_format.h"
#include "apps/admin_client.h"
#include "apps/cli_util.h"
#include "common/file_io.h"
#include "common/idx_dataset.h"
#include "common/seeded_random.h"
#include "common/security/pki.h"
#include "common/security/random_token.h"
#include "common/status_macros.h"
#include "device/fleet_client.h"

extern char** environ;

namespace qfleet::apps {
namespace {

using Clock = std::chrono::steady_clock;

enum Kind { kRegister, kHeartbeat, kPull, kDownload, kUpload, kReport, kKinds };
constexpr const char* kKindNames[kKinds] = {"register", "heartbeat", "pull_task",
                                            "download", "upload",    "report"};

double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
      .count();
}

// Latencies of one worker, per RPC kind, in milliseconds.
struct Samples {
  std::vector<float> ms[kKinds];
  uint64_t errors[kKinds] = {};
};

// "VmHWM:" or "VmRSS:" of /proc/PID/status in MiB; -1 when unreadable.
double ProcMemMb(int64_t pid, const char* key) {
  if (pid <= 0) return -1;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      return std::strtod(line.c_str() + std::strlen(key), nullptr) / 1024.0;
    }
  }
  return -1;
}

absl::StatusOr<int> FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::UnavailableError("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return absl::UnavailableError("cannot find a free loopback port");
  }
  const int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

// A coordinator started as a child process; SIGTERM and reaped on scope exit.
class ChildCoordinator {
 public:
  ~ChildCoordinator() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  // Starts the coordinator; fills the address and how to reach it.
  absl::Status Start(const LightSimOptions& o, std::string* address, ChannelSecurity* security,
                     std::string* admin_token) {
    std::string binary = o.coordinator_binary;
    if (binary.empty()) {
      std::error_code ec;
      const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
      if (ec) return absl::UnavailableError("cannot locate this program to find qfleet-coordinator");
      binary = (self.parent_path() / "qfleet-coordinator").string();
    }
    if (::access(binary.c_str(), X_OK) != 0) {
      return absl::UnavailableError("coordinator binary not executable: " + binary);
    }
    ASSIGN_OR_RETURN(int port, FreeLoopbackPort());
    *address = absl::StrFormat("127.0.0.1:%d", port);
    dir_ = (std::filesystem::temp_directory_path() /
            absl::StrFormat("qfleet-light-%d-%d", ::getpid(), port))
               .string();
    std::filesystem::create_directories(dir_);
    std::vector<std::string> args = {binary,
                                     "--listen",
                                     *address,
                                     "--db",
                                     dir_ + "/state.db",
                                     "--data-dir",
                                     o.data_dir.empty() ? kDefaultFashionMnistDir : o.data_dir,
                                     "--lease-ms",
                                     "600000",
                                     "--metrics-listen",
                                     "off"};
    ASSIGN_OR_RETURN(*admin_token, RandomHexToken());
    RETURN_IF_ERROR(WriteStringToFile(dir_ + "/admin.token", *admin_token + "\n", 0600));
    args.push_back("--admin-token-file");
    args.push_back(dir_ + "/admin.token");
    *security = ChannelSecurity{};
    if (o.insecure) {
      security->insecure = true;
      args.push_back("--insecure");
    } else {
      ASSIGN_OR_RETURN(Pki pki, GeneratePki());
      RETURN_IF_ERROR(WritePki(pki, dir_));
      security->ca_pem = pki.ca_cert;
      args.insert(args.end(), {"--tls-cert", dir_ + "/server.crt", "--tls-key", dir_ + "/server.key"});
    }
    if (!o.join_secret.empty()) {
      args.push_back("--join-secret");
      args.push_back(o.join_secret);
    }
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    const int rc = ::posix_spawn(&pid, binary.c_str(), nullptr, nullptr, argv.data(), environ);
    if (rc != 0) return absl::UnavailableError("cannot start " + binary + ": " + std::strerror(rc));
    pid_ = pid;
    return absl::OkStatus();
  }

  int64_t pid() const { return pid_; }
  // False once the child has exited.
  bool Alive() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }

 private:
  pid_t pid_ = -1;
  std::string dir_;
};

struct LightDevice {
  std::unique_ptr<device::FleetClient> client;
  int64_t next_heartbeat_ms = 0;
  int64_t next_pull_ms = 0;
  int64_t heartbeat_every_ms = 1000;
  uint64_t silent_round = 0;    // the round it vanished in (0 = none)
};

// Per-round counts the devices saw, indexed by round number.
struct RoundTally {
  std::mutex mu;
  std::map<uint64_t, std::pair<uint64_t, uint64_t>> by_round;  // uploaded, abandoned
  void Add(uint64_t round, bool uploaded) {
    std::lock_guard<std::mutex> lock(mu);
    auto& t = by_round[round];
    (uploaded ? t.first : t.second) += 1;
  }
  // Fault injection: true (and counted as abandoned) while fewer than
  // `quota` of the round's tasks have been abandoned, so that exactly
  // min(quota, participants) devices vanish in every round.
  bool TryAbandon(uint64_t round, uint64_t quota) {
    std::lock_guard<std::mutex> lock(mu);
    auto& t = by_round[round];
    if (t.second >= quota) return false;
    t.second += 1;
    return true;
  }
};

absl::Status Validate(const LightSimOptions& o) {
  if (o.devices < 1 || o.rounds < 1 || o.clients_per_round < 1 || o.workers < 1 ||
      o.channels < 1 || !(o.max_seconds > 0) || !(o.round_deadline_s > 0) ||
      o.rpc_timeout_ms < 1 || !(o.drop_fraction >= 0 && o.drop_fraction < 1)) {
    return absl::InvalidArgumentError(
        "devices, rounds, clients per round, workers, channels, the time cap, the round deadline "
        "and the RPC timeout must be positive, and the drop fraction in [0, 1)");
  }
  if (o.clients_per_round > o.devices) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%d clients per round but only %d devices", o.clients_per_round, o.devices));
  }
  return absl::OkStatus();
}

// One selected device's task: download, upload the model back, report.
// Returns whether the upload was accepted.
bool RunTask(LightDevice& d, const device::DeviceTask& task, Samples& s) {
  auto t0 = Clock::now();
  auto model = d.client->DownloadModel(task.model_version, task.model_sha256);
  s.ms[kDownload].push_back(static_cast<float>(MsSince(t0)));
  if (!model.ok()) {
    ++s.errors[kDownload];
    return false;
  }
  const std::string request = absl::StrFormat("light-%d-u", task.task_id);
  t0 = Clock::now();
  auto up = d.client->UploadUpdate(task.task_id, request, 100, *model);
  s.ms[kUpload].push_back(static_cast<float>(MsSince(t0)));
  if (!up.ok()) {
    ++s.errors[kUpload];
    return false;
  }
  device::TaskReport report;
  report.task_id = task.task_id;
  report.request_id = absl::StrFormat("light-%d-r", task.task_id);
  report.bytes_down = model->size();
  report.bytes_up = model->size();
  t0 = Clock::now();
  auto rep = d.client->SubmitReport(report);
  s.ms[kReport].push_back(static_cast<float>(MsSince(t0)));
  if (!rep.ok()) ++s.errors[kReport];
  return true;
}

RpcKindStats Summarize(int kind, std::vector<float>& ms, uint64_t errors) {
  RpcKindStats st;
  st.kind = kKindNames[kind];
  st.calls = ms.size();
  st.errors = errors;
  if (ms.empty()) return st;
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) {
    const size_t i = std::min(ms.size() - 1, static_cast<size_t>(q * static_cast<double>(ms.size())));
    return static_cast<double>(ms[i]);
  };
  st.p50_ms = at(0.50);
  st.p99_ms = at(0.99);
  st.max_ms = ms.back();
  return st;
}

}  // namespace

absl::StatusOr<LightSimResult> RunLightSim(const LightSimOptions& o, std::ostream& progress) {
  RETURN_IF_ERROR(Validate(o));
  LightSimResult r;
  r.devices = o.devices;
  ChildCoordinator child;
  int64_t coordinator_pid = o.coordinator_pid;
  r.coordinator = o.coordinator;
  ChannelSecurity security = o.security;
  std::string admin_token = o.admin_token;
  if (r.coordinator.empty()) {
    RETURN_IF_ERROR(child.Start(o, &r.coordinator, &security, &admin_token));
    coordinator_pid = child.pid();
    progress << "started qfleet-coordinator (pid " << coordinator_pid << ") on " << r.coordinator
             << "\n";
  }
  // A started coordinator loads its evaluation data first: allow a minute.
  // Each attempt gets a new channel, so a channel's reconnect backoff from
  // the attempts before the coordinator listened cannot outlast the wait.
  std::shared_ptr<grpc::Channel> admin_channel;
  for (int attempt = 0;; ++attempt) {
    admin_channel = MakeChannel(r.coordinator, security);
    absl::Status up = AdminClient(admin_channel, 10000, admin_token).WaitConnected(r.coordinator);
    if (up.ok()) break;
    if (!o.coordinator.empty() || attempt >= 5) return up;
    if (!child.Alive()) return absl::UnavailableError("the started coordinator exited");
  }
  AdminClient admin(admin_channel, 10000, admin_token);
  ASSIGN_OR_RETURN(const std::string join_secret,
                   EnrollmentSecret(admin, o.join_secret, o.devices, "qfleet-sim --light"));

  std::vector<std::shared_ptr<grpc::Channel>> channels;
  // MakeChannel gives each channel its own connection.
  for (int i = 0; i < o.channels; ++i) channels.push_back(MakeChannel(r.coordinator, security));
  std::vector<LightDevice> devices(static_cast<size_t>(o.devices));
  device::FleetClientOptions fopts;
  fopts.rpc_timeout_ms = o.rpc_timeout_ms;
  for (int i = 0; i < o.devices; ++i) {
    devices[i].client = std::make_unique<device::FleetClient>(channels[i % o.channels], fopts);
  }
  // The first drop_quota devices to take a task in a round vanish. (A share
  // of devices drawn up front could miss the few the coordinator selects.)
  const uint64_t drop_quota =
      static_cast<uint64_t>(std::llround(o.drop_fraction * o.clients_per_round));
  RoundTally tally;
  const int workers = std::min(o.workers, o.devices);
  std::vector<Samples> samples(static_cast<size_t>(workers));

  // Registration: every device enrolls once.
  std::atomic<int> register_failures{0};
  std::string first_error;
  std::mutex error_mu;
  auto t_reg = Clock::now();
  {
    std::vector<std::thread> threads;
    for (int w = 0; w < workers; ++w) {
      threads.emplace_back([&, w] {
        for (int i = w; i < o.devices; i += workers) {
          device::RegisterInfo info;
          info.device_name = absl::StrFormat("light-%05d", i);
          info.profile.compute_gflops = 1.0;
          info.profile.memory_mib = 512;
          info.sample_count = 100;
          info.label_histogram.assign(10, 10);
          info.join_secret = join_secret;
          info.agent_version = "qfleet-sim --light";
          const auto t0 = Clock::now();
          absl::Status s = devices[i].client->Register(info);
          samples[w].ms[kRegister].push_back(static_cast<float>(MsSince(t0)));
          if (!s.ok()) {
            ++samples[w].errors[kRegister];
            if (register_failures.fetch_add(1) == 0) {
              std::lock_guard<std::mutex> lock(error_mu);
              first_error = std::string(s.message());
            }
            continue;
          }
          devices[i].heartbeat_every_ms = std::max<int64_t>(100, devices[i].client->heartbeat_interval_ms());
        }
      });
    }
    for (auto& t : threads) t.join();
  }
  r.register_seconds = MsSince(t_reg) / 1000.0;
  if (register_failures > 0) {
    return absl::InternalError(absl::StrFormat("%d of %d devices failed to register; first: %s",
                                               register_failures.load(), o.devices, first_error));
  }
  progress << absl::StrFormat("registered %d devices in %.1f s (%.0f/s)\n", o.devices,
                              r.register_seconds, o.devices / r.register_seconds);

  admin::v1::CampaignConfig campaign;
  campaign.set_rounds(static_cast<uint32_t>(o.rounds));
  campaign.set_clients_per_round(static_cast<uint32_t>(o.clients_per_round));
  campaign.set_min_devices(static_cast<uint32_t>(o.clients_per_round));
  campaign.set_round_deadline_s(o.round_deadline_s);
  campaign.set_strategy("fp32");
  campaign.set_weight_bits(8);
  campaign.set_local_epochs(1);
  campaign.set_batch_size(32);
  campaign.set_learning_rate(0.05f);
  campaign.set_seed(o.seed);
  ASSIGN_OR_RETURN(auto started, admin.StartRounds(campaign));
  const uint64_t first_round = started.first_round();
  const uint64_t last_round = first_round + static_cast<uint64_t>(o.rounds) - 1;

  std::atomic<bool> stop{false};
  // Rounds the monitor has seen end (read by workers for vanished devices).
  std::mutex ended_mu;
  std::set<uint64_t> ended;
  auto round_ended = [&](uint64_t round) {
    std::lock_guard<std::mutex> lock(ended_mu);
    return ended.count(round) > 0;
  };
  const auto t_load = Clock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      Samples& s = samples[w];
      while (!stop.load(std::memory_order_relaxed)) {
        bool did = false;
        for (int i = w; i < o.devices && !stop.load(std::memory_order_relaxed); i += workers) {
          LightDevice& d = devices[i];
          const int64_t now = NowMs();
          if (d.silent_round != 0) {
            // Vanished mid-round: silent until that round has ended.
            if (!round_ended(d.silent_round)) continue;
            d.silent_round = 0;
          }
          if (now >= d.next_heartbeat_ms) {
            const auto t0 = Clock::now();
            absl::Status hb = d.client->Heartbeat();
            s.ms[kHeartbeat].push_back(static_cast<float>(MsSince(t0)));
            if (!hb.ok()) ++s.errors[kHeartbeat];
            d.next_heartbeat_ms = now + d.heartbeat_every_ms;
            did = true;
          }
          if (now < d.next_pull_ms) continue;
          const auto t0 = Clock::now();
          auto pulled = d.client->PullTask();
          s.ms[kPull].push_back(static_cast<float>(MsSince(t0)));
          did = true;
          if (!pulled.ok()) {
            ++s.errors[kPull];
            d.next_pull_ms = NowMs() + 200;
            continue;
          }
          d.next_pull_ms = NowMs() + std::max<int64_t>(10, pulled->retry_after_ms);
          if (!pulled->task.has_value()) continue;
          if (tally.TryAbandon(pulled->task->round, drop_quota)) {
            d.silent_round = pulled->task->round;
            continue;
          }
          if (RunTask(d, *pulled->task, s)) tally.Add(pulled->task->round, /*uploaded=*/true);
        }
        if (!did) std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    });
  }

  // Monitor: rounds and the coordinator's memory as each round ends.
  std::vector<admin::v1::RoundInfo> ended_info;
  absl::Status monitor_status = absl::OkStatus();
  while (MsSince(t_load) < o.max_seconds * 1000.0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    if (o.coordinator.empty() && !child.Alive()) {
      monitor_status = absl::UnavailableError("the coordinator process exited during the run");
      break;
    }
    auto rounds = admin.ListRounds();
    if (!rounds.ok()) continue;
    for (const auto& info : rounds->rounds()) {
      if (info.round() < first_round || info.round() > last_round) continue;
      bool newly_ended = false;
      if (info.state() == "done" || info.state() == "failed") {
        std::lock_guard<std::mutex> lock(ended_mu);
        newly_ended = ended.insert(info.round()).second;
      }
      if (newly_ended) {
        ended_info.push_back(info);
        r.coordinator_rss_by_round_mb.push_back(ProcMemMb(coordinator_pid, "VmRSS:"));
        if (info.state() == "done") ++r.rounds_done;
        progress << absl::StrFormat("round %d %s: %d participants, %d updates (%.1f s)\n",
                                    info.round(), info.state(), info.participants(),
                                    info.updates_accepted(), MsSince(t_load) / 1000.0);
      }
    }
    if (ended_info.size() >= static_cast<size_t>(o.rounds)) break;
  }
  stop = true;
  for (auto& t : threads) t.join();
  for (const auto& info : ended_info) {
    LightRound lr;
    lr.round = info.round();
    lr.state = info.state();
    lr.participants = info.participants();
    lr.updates_accepted = info.updates_accepted();
    lr.reports = info.reports();
    auto it = tally.by_round.find(lr.round);
    if (it != tally.by_round.end()) {
      lr.uploaded = it->second.first;
      lr.abandoned = it->second.second;
    }
    r.rounds.push_back(lr);
  }
  r.load_seconds = MsSince(t_load) / 1000.0;
  r.coordinator_peak_rss_mb = ProcMemMb(coordinator_pid, "VmHWM:");
  RETURN_IF_ERROR(monitor_status);

  for (int k = 0; k < kKinds; ++k) {
    std::vector<float> all;
    uint64_t errors = 0;
    for (Samples& s : samples) {
      all.insert(all.end(), s.ms[k].begin(), s.ms[k].end());
      errors += s.errors[k];
    }
    if (k != kRegister) r.rpcs += all.size();
    r.kinds.push_back(Summarize(k, all, errors));
  }
  r.rpcs_per_s = r.load_seconds > 0 ? static_cast<double>(r.rpcs) / r.load_seconds : 0;
  return r;
}

}  // namespace qfleet::apps
