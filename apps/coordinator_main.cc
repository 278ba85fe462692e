// qfleet-coordinator: the cloud coordinator service.
#include <signal.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <iostream>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "apps/cli_util.h"
#include "apps/client_channel.h"
#include "cloud/coordinator.h"
#include "cloud/fmnist_backend.h"
#include "cloud/metrics/metrics_http_server.h"
#include "cloud/service/admin_auth.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "cloud/service/coordinator_server.h"
#include "common/file_io.h"
#include "common/idx_dataset.h"
#include "common/retry_backoff.h"
#include "common/sha256.h"
#include "common/tensor_container.h"
#include "cloud/chord/chord_setup.h"

namespace {

int Fail(const std::string& message) {
  std::cerr << "qfleet-coordinator: " << message << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const auto process_start = std::chrono::steady_clock::now();
  // Abseil's deadlock detector takes a global lock on every mutex
  // acquisition where it is on; the coordinator's lock order is fixed.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  CLI::App app{"qfleet-coordinator: the qfleet cloud coordinator (gRPC)", "qfleet-coordinator"};
  qfleet::cloud::CoordinatorOptions copts;
  qfleet::cloud::ServerOptions sopts;
  std::string data_dir = qfleet::kDefaultFashionMnistDir;
  std::string tls_cert, tls_key, tls_client_ca, admin_token_file;
  std::string metrics_listen = "127.0.0.1:9464";
  std::string join_secret_file, sqlite_synchronous = "full";
  sopts.listen = "127.0.0.1:7070";
  qfleet::ml::chord::ChordSetupOptions chord;
  std::string chord_data, chord_format = "lines";
  app.add_option("--listen", sopts.listen, "HOST:PORT to serve on (port 0 = any)");
  app.add_option("--db", copts.db_path, "SQLite state file (created if absent)")->required();
  app.add_option("--blob-dir", copts.blob_dir, "model/update blob directory (default: DB.blobs)");
  app.add_option("--data-dir", data_dir, "Fashion-MNIST IDX directory (test split for evaluation)");
  app.add_option("--seed", copts.model_seed, "seed of the first model version");
  app.add_option("--initial-model", copts.initial_model_path,
                 "first model version from this file (as `qfleetctl models export` writes it) "
                 "instead of a seeded one; used only while the database holds no version")
      ->check(CLI::ExistingFile);
  auto* secret_flag = app.add_option(
      "--join-secret", copts.join_secret,
      "the fleet's enrollment secret (visible in ps: prefer --join-secret-file)");
  app.add_option("--join-secret-file", join_secret_file,
                 "file holding the fleet's enrollment secret devices present at Register")
      ->excludes(secret_flag);
  app.add_flag("--open-enrollment", copts.open_enrollment,
               "let devices enroll with no credential at all (local experiments only)");
  app.add_option("--sqlite-synchronous", sqlite_synchronous,
                 "full: every acknowledged write survives power loss (default); normal: "
                 "survives a crash of the process, not of the machine (faster)")
      ->check(CLI::IsMember({"full", "normal"}));
  // Retention (issue 23): disk stays bounded on a long-running coordinator.
  app.add_option("--keep-models", copts.keep_models,
                 "model versions whose containers are kept (newest N; pinned ones and an open "
                 "round's input always; 0 = all)")
      ->check(CLI::Range(0, 1000000));
  app.add_option("--keep-update-rounds", copts.keep_update_rounds,
                 "finished rounds whose client-update blobs are kept (newest N; 0 = all)")
      ->check(CLI::Range(0, 1000000));
  app.add_option("--keep-plans", copts.keep_plans_per_device,
                 "precision-plan rows kept per device besides those tasks use (0 = all)")
      ->check(CLI::Range(0, 1000000));
  std::string retention_every = "10m";
  app.add_option("--retention-interval", retention_every,
                 "how often retention and blob garbage collection run (a duration; 0 = never)");
  app.add_option("--lease-ms", copts.lease_ms, "device lease after its last call, ms")
      ->check(CLI::Range(int64_t{1000}, int64_t{86400000}));
  app.add_option("--heartbeat-ms", copts.heartbeat_interval_ms, "heartbeat interval asked of devices")
      ->check(CLI::Range(int64_t{100}, int64_t{3600000}));
  app.add_option("--tls-cert", tls_cert, "server certificate chain (PEM)");
  app.add_option("--tls-key", tls_key, "private key (PEM) of --tls-cert");
  app.add_option("--tls-client-ca", tls_client_ca,
                 "CA (PEM) for mutual TLS: every client must present a certificate it signed");
  app.add_flag("--insecure", sopts.insecure,
               "serve plaintext gRPC with an open admin API unless --admin-token-file is given "
               "(local development only)");
  app.add_option("--admin-token-file", admin_token_file,
                 "file holding the bearer token AdminService calls must carry");
  app.add_option("--metrics-listen", metrics_listen,
                 "HOST:PORT of the Prometheus /metrics endpoint (plaintext HTTP, no auth; "
                 "loopback by default), or 'off'");
  app.add_option("--chord-bundle", chord.load_chord,
                 "serve CHORD instead of Fashion-MNIST: the trained user encoder + hypernetworks "
                 "(.qftc, qfleet-sim --task seqrec --save-chord)");
  bool chord_query = false;
  app.add_flag("--chord-query", chord_query,
               "serve CHORD instead of Fashion-MNIST on the backbone's own query: devices send "
               "their FP32 backbone's query, the item rows are ranked by its exact scores, no "
               "trained bundle (Caser: cut for 8/4/3/2 bits, at 3 bits 5/30/10/55%)")
      ->excludes("--chord-bundle");
  app.add_option("--chord-backbone", chord.load_backbone,
                 "the frozen backbone the hypernetworks were trained on (.qftc, --save-backbone)");
  app.add_option("--chord-data", chord_data,
                 "interactions the backbone was trained on ('synthetic' = seeded synthetic data); "
                 "for the static allocation and the chord-mean plan");
  app.add_option("--chord-format", chord_format, "lines or movielens")
      ->check(CLI::IsMember({"lines", "movielens"}));
  app.add_option("--chord-seed", chord.seed, "seed of the synthetic data and the sensitivity pass");
  std::string static_sensitivity = "layer";
  app.add_option("--chord-static-sensitivity", static_sensitivity,
                 qfleet::ml::chord::kStaticSensitivityHelp)
      ->check(CLI::IsMember({"channel", "layer"}));
  app.add_option("--backbone", chord.backbone, "sasrec or caser")->check(CLI::IsMember({"sasrec", "caser"}));
  app.add_option("--budget-bits", chord.chord.budget_bits, "the bit budget the hypernetworks were trained for")
      ->check(CLI::Range(2.0, 4.0));
  bool chord_relevance = false;
  app.add_flag("--chord-relevance", chord_relevance,
               "the bundle was trained in relevance mode (qfleet-sim --task seqrec --chord-relevance)")
      ->excludes("--chord-query");
  std::vector<int> tier_bits;
  std::vector<double> middle_share, tier_importance;
  app.add_option("--chord-tier-bits", tier_bits,
                 "reference widths of tiers 0..3 the plans are cut for (overrides --chord-relevance's)")
      ->expected(4)->delimiter(',');
  app.add_option("--chord-middle-share", middle_share, "weight shares of tiers 1 and 2")
      ->expected(2)->delimiter(',');
  app.add_option("--chord-tier-importance", tier_importance,
                 "decoder weights of tiers 0..3 shipped with every plan (overrides --chord-relevance's)")
      ->expected(4)->delimiter(',');
  // Long-polls (issue 30): how long PullTask and ListRounds may hold a call
  // open, and how many may wait at once (each holds a server thread).
  std::string max_pull_wait = "30s";
  app.add_option("--max-pull-wait", max_pull_wait,
                 "longest long-poll granted to PullTask / ListRounds (a duration: 30s, 1m)");
  app.add_option("--max-waiters", copts.max_waiters,
                 "long-polls that may wait at once; beyond, calls are answered at once")
      ->check(CLI::Range(0, 100000));
  if (int rc = qfleet::apps::ParseOrExit(app, argc, argv); rc >= 0) return rc;
  if (auto every = qfleet::ParseOutageMs(retention_every, "--retention-interval"); every.ok()) {
    copts.retention_interval_ms = *every;
  } else {
    std::cerr << "qfleet-coordinator: error: " << every.status().message() << "\n";
    return 2;
  }
  if (auto wait = qfleet::ParseOutageMs(max_pull_wait, "--max-pull-wait"); wait.ok()) {
    copts.max_wait_ms = *wait;
  } else {
    std::cerr << "qfleet-coordinator: error: " << wait.status().message() << "\n";
    return 2;
  }
  const bool serve_chord = !chord.load_chord.empty() || chord_query;
  for (const char* name : {"--chord-backbone", "--chord-data", "--chord-relevance", "--chord-tier-bits",
                           "--chord-middle-share", "--chord-tier-importance",
                           "--chord-static-sensitivity"}) {
    if (app.count(name) > 0 && !serve_chord) {
      std::cerr << "qfleet-coordinator: error: " << name << " needs --chord-bundle or --chord-query\n";
      return 2;
    }
  }
  chord.static_sensitivity = *qfleet::ml::chord::ParseStaticSensitivity(static_sensitivity);
  if (chord_relevance) qfleet::ml::chord::UseRelevanceTiers(chord);
  if (chord_query) qfleet::ml::chord::UseBackboneQuery(chord);
  if (absl::Status st =
          qfleet::ml::chord::OverrideTiers(chord, tier_bits, middle_share, tier_importance);
      !st.ok()) {
    std::cerr << "qfleet-coordinator: error: " << st.message() << "\n";
    return 2;
  }
  if (serve_chord && (chord.load_backbone.empty() || chord_data.empty())) {
    std::cerr << "qfleet-coordinator: error: CHORD serving (--chord-bundle or --chord-query) needs "
                 "--chord-backbone and --chord-data\n";
    return 2;
  }

  if (!sopts.insecure && (tls_cert.empty() || tls_key.empty())) {
    std::cerr << "qfleet-coordinator: error: TLS is on by default: pass --tls-cert FILE and "
                 "--tls-key FILE (deploy/gen-certs.sh DIR makes a local CA and certificates), "
                 "or --insecure for plaintext local development\n";
    return 2;
  }
  if (sopts.insecure && (!tls_cert.empty() || !tls_key.empty() || !tls_client_ca.empty())) {
    std::cerr << "qfleet-coordinator: error: --insecure cannot be combined with --tls-* files\n";
    return 2;
  }
  for (const auto& [file, pem] : {std::pair{&tls_cert, &sopts.tls.cert_pem},
                                  std::pair{&tls_key, &sopts.tls.key_pem},
                                  std::pair{&tls_client_ca, &sopts.tls.client_ca_pem}}) {
    if (file->empty()) continue;
    auto text = qfleet::ReadFileToString(*file);
    if (!text.ok()) return Fail(std::string(text.status().message()));
    *pem = *std::move(text);
  }
  if (!admin_token_file.empty()) {
    auto token = qfleet::apps::ReadTokenFile(admin_token_file);
    if (!token.ok()) return Fail(std::string(token.status().message()));
    if (absl::Status st = qfleet::cloud::CheckAdminTokenStrength(*token); !st.ok()) {
      return Fail("--admin-token-file: " + std::string(st.message()));
    }
    sopts.admin_token = *std::move(token);
  }
  if (!join_secret_file.empty()) {
    auto secret = qfleet::apps::ReadTokenFile(join_secret_file);
    if (!secret.ok()) return Fail("--join-secret-file: " + std::string(secret.status().message()));
    copts.join_secret = *std::move(secret);
  }
  if (!copts.join_secret.empty() &&
      (copts.join_secret.size() < 16 ||
       absl::StrContains(absl::AsciiStrToUpper(copts.join_secret), "CHANGE-ME"))) {
    return Fail("the join secret must have at least 16 characters and not be a CHANGE-ME "
                "placeholder (make one with `openssl rand -hex 32`)");
  }
  copts.durable_store = sqlite_synchronous == "full";
  if (copts.open_enrollment) {
    std::cerr << "qfleet-coordinator: WARNING: --open-enrollment: any client that reaches "
              << sopts.listen << " can enroll a device\n";
  } else if (copts.join_secret.empty()) {
    std::cerr << "qfleet-coordinator: no join secret: devices enroll only with join tokens "
                 "(qfleetctl tokens create)\n";
  }
  const bool loopback = qfleet::cloud::IsLoopbackHost(sopts.listen.substr(0, sopts.listen.rfind(':')));
  if (sopts.insecure) {
    std::cerr << "qfleet-coordinator: WARNING: --insecure: gRPC is plaintext (tokens and models "
                 "travel unencrypted)"
              << (sopts.admin_token.empty()
                      ? (loopback ? " and the admin API needs no token"
                                  : "; the admin API is disabled (not a loopback listener and no "
                                    "--admin-token-file)")
                      : "")
              << "; use only on a trusted local machine\n";
  } else if (sopts.admin_token.empty()) {
    std::cerr << "qfleet-coordinator: no --admin-token-file: the admin API (qfleetctl) is "
                 "disabled\n";
  }

  // Block termination signals before any thread starts; main waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::unique_ptr<qfleet::cloud::ModelBackend> backend;
  std::unique_ptr<qfleet::cloud::PlanGenerator> planner;
  std::string chord_bundle_sha;  // what this CHORD setup serves
  if (serve_chord) {
    // CHORD: the frozen backbone + encoder as the model, the hypernetworks
    // as the plan generator (nothing is trained here).
    auto format = qfleet::ml::ParseInteractionFormat(chord_format);
    if (!format.ok()) return Fail(std::string(format.status().message()));
    chord.format = *format;
    chord.data_path = chord_data == "synthetic" ? "" : chord_data;
    chord.say = [](const std::string& s) { std::cerr << "qfleet-coordinator: " << s << "\n"; };
    auto setup = qfleet::ml::chord::PrepareChord(chord);
    if (!setup.ok()) return Fail("CHORD: " + std::string(setup.status().message()));
    auto serving = qfleet::ml::chord::MakeChordServing(**setup);
    if (!serving.ok()) return Fail("CHORD: " + std::string(serving.status().message()));
    auto bundle = serving->backend->InitialModel(0);
    if (!bundle.ok()) return Fail("CHORD: " + std::string(bundle.status().message()));
    auto bundle_bytes = qfleet::EncodeContainer(*bundle);
    if (!bundle_bytes.ok()) return Fail("CHORD: " + std::string(bundle_bytes.status().message()));
    chord_bundle_sha = qfleet::Sha256Hex(*bundle_bytes);
    backend = std::move(serving->backend);
    planner = std::move(serving->planner);
  } else {
    auto fmnist = qfleet::cloud::FmnistBackend::Create(data_dir);
    if (!fmnist.ok()) return Fail(std::string(fmnist.status().message()));
    backend = *std::move(fmnist);
  }
  auto coordinator = qfleet::cloud::Coordinator::Open(copts, std::move(backend));
  if (!coordinator.ok()) return Fail(std::string(coordinator.status().message()));
  if (!chord_bundle_sha.empty()) {
    // A database resumes the model it served; for CHORD that must be this
    // setup's bundle (another backbone, or the encoder where devices should
    // send their backbone's query, would pair devices with the wrong plans).
    auto served = (*coordinator)->GetModel(0);
    if (!served.ok()) return Fail(std::string(served.status().message()));
    if (served->sha256 != chord_bundle_sha) {
      return Fail("CHORD: the database at --db serves another model bundle (" +
                  served->sha256.substr(0, 12) + ") than this setup (" + chord_bundle_sha.substr(0, 12) +
                  "): use a fresh --db for another backbone or embedding mode");
    }
  }
  if (planner != nullptr) (*coordinator)->SetPlanGenerator(std::move(planner));
  // Listen first; the health service says SERVING once the round engine
  // runs (tasks can be handed out), and what Open deferred (test data, the
  // first model's evaluation) runs after that on a thread of its own.
  sopts.serving_at_start = false;
  auto server = qfleet::cloud::CoordinatorServer::Start(coordinator->get(), sopts);
  if (!server.ok()) return Fail(std::string(server.status().message()));
  std::unique_ptr<qfleet::cloud::MetricsHttpServer> metrics;
  if (metrics_listen != "off") {
    qfleet::cloud::CoordinatorServer* s = server->get();
    auto started = qfleet::cloud::MetricsHttpServer::Start(metrics_listen,
                                                           [s] { return s->MetricsText(); });
    if (!started.ok()) return Fail(std::string(started.status().message()));
    metrics = *std::move(started);
    std::cerr << "qfleet-coordinator: metrics on http://"
              << metrics_listen.substr(0, metrics_listen.rfind(':')) << ":" << metrics->port()
              << "/metrics\n";
  }
  (*coordinator)->StartEngine();
  (*server)->SetServing(true);
  const auto ready_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - process_start)
                            .count();
  std::cerr << "qfleet-coordinator: serving on " << (*server)->address() << " ("
            << (sopts.insecure ? "plaintext"
                               : sopts.tls.client_ca_pem.empty() ? "TLS" : "mutual TLS")
            << ") with state in " << copts.db_path << ", ready " << ready_ms
            << " ms after start\n";
  std::atomic<bool> startup_failed{false};
  std::thread startup([&coordinator, &startup_failed] {
    const auto start = std::chrono::steady_clock::now();
    if (absl::Status s = (*coordinator)->FinishStartup(); !s.ok()) {
      std::cerr << "qfleet-coordinator: start-up evaluation failed: " << s.message() << "\n";
      startup_failed = true;
      kill(getpid(), SIGTERM);
      return;
    }
    std::cerr << "qfleet-coordinator: deferred start-up work (test data, first evaluation) took "
              << std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - start)
                     .count()
              << " ms\n";
  });
  int sig = 0;
  sigwait(&signals, &sig);
  if (!startup_failed) std::cerr << "qfleet-coordinator: signal " << sig << ", shutting down\n";
  if (metrics) metrics->Shutdown();
  (*server)->Shutdown(5000);
  (*coordinator)->StopEngine();
  startup.join();
  return startup_failed ? 1 : 0;
}
