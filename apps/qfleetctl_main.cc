// qfleetctl: the qfleet admin CLI.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <thread>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "apps/admin_client.h"
#include "apps/cli_util.h"
#include "apps/client_channel.h"
#include "common/retry_backoff.h"

namespace av1 = qfleet::admin::v1;

namespace {

std::string Json(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  opts.always_print_primitive_fields = true;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, opts);
  return out;
}

std::string Time(int64_t ms) {
  if (ms <= 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixMillis(ms), absl::UTCTimeZone());
}

int Fail(const absl::Status& s) {
  std::cerr << "qfleetctl: " << s.message() << "\n";
  if (absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s)) return 3;
  if (absl::IsUnauthenticated(s) || absl::IsPermissionDenied(s)) return 4;
  return 1;
}

void PrintDevice(const av1::DeviceInfo& d) {
  std::cout << absl::StrFormat(
      "device %d (%s)\n  state        %s\n  compute      %.2f GFLOP/s\n  memory       %d MiB\n"
      "  low-bit      %s\n  link         up %d kbps, down %d kbps\n  samples      %d\n"
      "  labels       [%s]\n  registered   %s\n  last seen    %s\n",
      d.device_id(), d.name(), d.state(), d.compute_gflops(), d.memory_mib(),
      d.lowbit_support().empty() ? "none" : absl::StrJoin(d.lowbit_support(), ","), d.uplink_kbps(),
      d.downlink_kbps(), d.sample_count(), absl::StrJoin(d.label_histogram(), ","),
      Time(d.registered_ms()), Time(d.last_seen_ms()));
}

void PrintRoundRow(const av1::RoundInfo& r) {
  std::cout << absl::StrFormat("%-6d %-12s %-6d %-8d %-8d %-9.4f %-9.4f %-12d %-12d %s\n", r.round(),
                               r.state(), r.participants(), r.updates_accepted(), r.reports(),
                               r.acc_fp32(), r.acc_q8(), r.bytes_down(), r.bytes_up(), r.detail());
}

// A device given as its numeric id or its name.
absl::StatusOr<uint64_t> ResolveDevice(qfleet::apps::AdminClient& admin, const std::string& ref) {
  uint64_t id = 0;
  if (absl::SimpleAtoi(ref, &id) && id > 0) return id;
  auto list = admin.ListDevices();
  if (!list.ok()) return list.status();
  for (const auto& d : list->devices()) {
    if (d.name() == ref) return d.device_id();
  }
  return absl::NotFoundError(absl::StrFormat("no device named '%s'", ref));
}

// A --ttl value: an Abseil duration ("90m", "24h", "3600s") or whole days
// ("7d"); "0" = never expires.
absl::StatusOr<uint64_t> ParseTtlSeconds(const std::string& text) {
  absl::Duration d;
  int64_t days = 0;
  if (!text.empty() && text.back() == 'd' &&
      absl::SimpleAtoi(absl::string_view(text).substr(0, text.size() - 1), &days) && days >= 0) {
    d = absl::Hours(24 * days);
  } else if (!absl::ParseDuration(text, &d)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--ttl '%s' is not a duration such as 90m, 24h or 7d", text));
  }
  if (d < absl::ZeroDuration()) return absl::InvalidArgumentError("--ttl must not be negative");
  return static_cast<uint64_t>(absl::ToInt64Seconds(d));
}

void PrintJoinTokenRow(const av1::JoinTokenInfo& t) {
  const std::string uses =
      absl::StrCat(t.uses(), "/", t.max_uses() == 0 ? "-" : absl::StrCat(t.max_uses()));
  const std::string expires = t.expires_ms() == 0 ? "never" : Time(t.expires_ms());
  std::cout << absl::StrFormat("%-6d %-9s %-11s %-21s %-21s %s\n", t.token_id(), t.state(), uses,
                               Time(t.created_ms()), expires, t.label());
}

// tokens create|list|revoke-join: the admin-minted join tokens.
struct JoinTokenArgs {
  std::string label;
  std::string ttl = "0";
  uint64_t ttl_s = 0;  // ttl, parsed before connecting
  uint64_t max_uses = 0;
  uint64_t token_id = 0;
};

int RunJoinTokens(qfleet::apps::AdminClient& admin, const CLI::App& tokens,
                  const JoinTokenArgs& args, bool json) {
  if (tokens.got_subcommand("create")) {
    av1::CreateJoinTokenRequest req;
    req.set_label(args.label);
    req.set_ttl_s(args.ttl_s);
    req.set_max_uses(args.max_uses);
    auto r = admin.CreateJoinToken(req);
    if (!r.ok()) return Fail(r.status());
    if (json) {
      std::cout << Json(*r) << "\n";
      return 0;
    }
    const av1::JoinTokenInfo& t = r->token();
    std::cout << absl::StrFormat(
        "join token %d created (expires %s, max uses %s)\n%s\n"
        "The secret is shown only now: give it to devices as their join secret "
        "(qfleet-agent --join-secret-file FILE).\n",
        t.token_id(), t.expires_ms() == 0 ? "never" : Time(t.expires_ms()),
        t.max_uses() == 0 ? "unlimited" : absl::StrCat(t.max_uses()), r->secret());
    return 0;
  }
  if (tokens.got_subcommand("list")) {
    auto r = admin.ListJoinTokens();
    if (!r.ok()) return Fail(r.status());
    if (json) {
      std::cout << Json(*r) << "\n";
      return 0;
    }
    std::cout << absl::StrFormat("%-6s %-9s %-11s %-21s %-21s %s\n", "id", "state", "uses/max",
                                 "created", "expires", "label");
    for (const auto& t : r->tokens()) PrintJoinTokenRow(t);
    return 0;
  }
  auto r = admin.RevokeJoinToken(args.token_id);
  if (!r.ok()) return Fail(r.status());
  if (json) {
    std::cout << Json(*r) << "\n";
  } else {
    std::cout << absl::StrFormat("join token %d is now %s\n", r->token_id(), r->state());
  }
  return 0;
}

// qfleetctl health: asks the health service until it answers SERVING or
// `wait_ms` of failures have passed (retrying with backoff).
int RunHealth(const std::string& target, const qfleet::apps::ChannelSecurity& security,
              int64_t timeout_ms, int64_t wait_ms, bool json) {
  qfleet::apps::AdminClient admin(qfleet::apps::MakeChannel(target, security), timeout_ms);
  qfleet::BackoffOptions bo;
  bo.initial_ms = 20;
  bo.max_ms = 500;
  bo.max_outage_ms = wait_ms;
  qfleet::RetryBackoff backoff(bo, nullptr, 1);
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    absl::Status s = admin.CheckServing();
    const int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - start)
                           .count();
    if (s.ok()) {
      if (json) {
        std::cout << absl::StrFormat("{\"serving\": true, \"waited_ms\": %d}\n", ms);
      } else {
        std::cout << "serving (answered after " << ms << " ms)\n";
      }
      return 0;
    }
    if (wait_ms <= 0) return Fail(s);
    absl::StatusOr<int64_t> delay = backoff.NextDelayMs(s, "the coordinator at " + target);
    if (!delay.ok()) return Fail(delay.status());
    std::this_thread::sleep_for(std::chrono::milliseconds(*delay));
  }
}

const char kRoundHeader[] =
    "round  state        parts  updates  reports  acc_fp32  acc_q8    bytes_down   bytes_up     "
    "detail\n";

int Run(int argc, char** argv) {
  CLI::App app{"qfleetctl: administer a qfleet coordinator", "qfleetctl"};
  std::string target = "127.0.0.1:7070";
  bool json = false;
  int64_t timeout_ms = 5000;
  std::string admin_token_file;
  qfleet::apps::ClientTlsFlags tls;
  app.add_option("--coordinator", target, "HOST:PORT of the coordinator");
  app.add_option("--admin-token-file", admin_token_file,
                 "file holding the coordinator's admin token");
  tls.AddTo(app);
  app.add_flag("--json", json, "machine-readable JSON output");
  app.add_option("--timeout-ms", timeout_ms, "deadline of each call")->check(CLI::PositiveNumber);
  app.require_subcommand(1);
  // Global flags (--json, --coordinator) may follow the subcommand too.
  app.fallthrough();

  auto* devices = app.add_subcommand("devices", "list or show devices");
  devices->require_subcommand(1);
  devices->fallthrough();
  devices->add_subcommand("list", "list devices");
  uint64_t device_id = 0;
  devices->add_subcommand("show", "show one device")->add_option("ID", device_id)->required();
  std::string device_ref;
  devices->add_subcommand("drain", "keep a device out of new rounds")
      ->add_option("DEVICE", device_ref, "device id or name")
      ->required();
  devices->add_subcommand("enable", "undo drain, or let a revoked device register again")
      ->add_option("DEVICE", device_ref, "device id or name")
      ->required();
  devices->add_subcommand("reset",
                          "clear a device's token so that its name can enroll again (a device "
                          "that lost its token)")
      ->add_option("DEVICE", device_ref, "device id or name")
      ->required();

  auto* tokens = app.add_subcommand("tokens", "join tokens for enrollment, device bearer tokens");
  tokens->require_subcommand(1);
  tokens->fallthrough();
  JoinTokenArgs join;
  auto* create = tokens->add_subcommand(
      "create", "mint a join token devices enroll with; its secret is printed only once");
  create->add_option("--label", join.label, "what the token is for (shown by 'tokens list')");
  create->add_option("--ttl", join.ttl,
                     "lifetime, e.g. 90m, 24h or 7d (default 0 = never expires)");
  create->add_option("--max-uses", join.max_uses,
                     "new devices it may enroll (default 0 = unlimited); re-registering a "
                     "known device spends none");
  tokens->add_subcommand("list", "list join tokens (never their secrets)");
  tokens->add_subcommand("revoke-join", "revoke a join token: Register refuses it from now on")
      ->add_option("ID", join.token_id, "join token id (see 'tokens list')")
      ->required();
  tokens->add_subcommand("revoke", "revoke a device's token (until 'devices enable')")
      ->add_option("DEVICE", device_ref, "device id or name")
      ->required();

  auto* rounds = app.add_subcommand("rounds", "list, show, start or cancel rounds");
  rounds->require_subcommand(1);
  rounds->fallthrough();
  rounds->add_subcommand("list", "list rounds");
  uint64_t round = 0;
  rounds->add_subcommand("show", "show one round")->add_option("N", round)->required();
  std::string cancel_reason;
  auto* cancel = rounds->add_subcommand(
      "cancel",
      "cancel an open round: its updates are kept but not aggregated, devices holding its "
      "tasks are refused, and the campaign moves on to its next round (or ends)");
  cancel->add_option("N", round, "round number")->required();
  cancel->add_option("--reason", cancel_reason, "recorded in the round's detail");
  auto* start = rounds->add_subcommand("start", "start a campaign of rounds");
  av1::CampaignConfig campaign;
  uint32_t n_rounds = 1, clients = 0, min_devices = 1, wbits = 8, epochs = 1;
  double deadline_s = 600;
  std::string strategy = "ptq";
  start->add_option("--rounds", n_rounds)->check(CLI::Range(1, 100000));
  start->add_option("--clients-per-round", clients, "0 = all online devices");
  start->add_option("--min-devices", min_devices)->check(CLI::Range(1, 10000000));
  start->add_option("--deadline-s", deadline_s)->check(CLI::PositiveNumber);
  std::string eval_methods;
  double budget_bits = 3.0;
  start->add_option("--strategy", strategy, "fp32, ptq, or eval (CHORD evaluation)")
      ->check(CLI::IsMember({"fp32", "ptq", "eval"}));
  start->add_option("--eval-methods", eval_methods,
                    "strategy eval: one method per round, comma-separated "
                    "(fp32,rtn1..rtn8,static,chord-mean,chord); --rounds defaults to their count");
  start->add_option("--budget-bits", budget_bits, "strategy eval: average bits devices decode plans for")
      ->check(CLI::Range(1.0, 8.0));
  start->add_option("--wbits", wbits)->check(CLI::Range(1, 8));
  std::string aggregator = "fedavg";
  double trim_fraction = 0.1, clip_norm = 0, max_update_share = 0;
  start->add_option("--aggregator", aggregator,
                    "how updates are combined: fedavg, median or trimmed_mean")
      ->check(CLI::IsMember({"fedavg", "median", "trimmed_mean"}));
  start->add_option("--trim-fraction", trim_fraction,
                    "trimmed_mean: share of values dropped at each end per coordinate")
      ->check(CLI::Range(0.0, 0.49));
  start->add_option("--clip-norm", clip_norm,
                    "scale each update down to at most this L2 norm first (0 = off)")
      ->check(CLI::Range(0.0, 1e30));
  start->add_option("--max-update-share", max_update_share,
                    "cap on one update's share of a round's weight (0 = 4 / participants)")
      ->check(CLI::Range(0.0, 1.0));
  start->add_option("--local-epochs", epochs)->check(CLI::Range(1, 100));

  auto* plans = app.add_subcommand("plans", "precision plans");
  plans->require_subcommand(1);
  plans->fallthrough();
  uint64_t plan_device = 0;
  plans->add_subcommand("show", "show a device's latest plan")
      ->add_option("DEVICE", plan_device)
      ->required();

  auto* models = app.add_subcommand("models", "model versions");
  models->require_subcommand(1);
  models->fallthrough();
  auto* exp = models->add_subcommand("export", "write a model version's container to a file");
  uint64_t version = 0;
  std::string out_path;
  exp->add_option("VERSION", version, "model version (0 = latest)")->required();
  exp->add_option("--out", out_path, "output file")->required();
  auto* models_list = models->add_subcommand("list", "model versions, pinned and pruned ones marked");
  uint64_t pin_version = 0;
  auto* pin = models->add_subcommand("pin", "keep a version whatever --keep-models says");
  pin->add_option("VERSION", pin_version)->required();
  auto* unpin = models->add_subcommand("unpin", "let retention remove a version again");
  unpin->add_option("VERSION", pin_version)->required();

  app.add_subcommand("status", "coordinator overview");
  std::string health_wait = "0";
  auto* health = app.add_subcommand(
      "health", "readiness (gRPC health service): exit 0 when the coordinator serves, 3 if not");
  health->add_option("--wait", health_wait,
                     "keep trying this long while it is down or starting (a duration: 30s, 2m)");

  if (int rc = qfleet::apps::ParseOrExit(app, argc, argv); rc >= 0) return rc;

  auto security = tls.Load();
  if (!security.ok()) {
    std::cerr << "qfleetctl: error: " << security.status().message() << "\n";
    return 2;
  }
  if (create->parsed()) {
    auto ttl_s = ParseTtlSeconds(join.ttl);
    if (!ttl_s.ok()) {
      std::cerr << "qfleetctl: error: " << ttl_s.status().message() << "\n";
      return 2;
    }
    join.ttl_s = *ttl_s;
  }
  if (health->parsed()) {
    auto wait_ms = qfleet::ParseOutageMs(health_wait, "--wait");
    if (!wait_ms.ok()) {
      std::cerr << "qfleetctl: error: " << wait_ms.status().message() << "\n";
      return 2;
    }
    return RunHealth(target, *security, timeout_ms, *wait_ms, json);
  }
  std::string admin_token;
  if (!admin_token_file.empty()) {
    auto token = qfleet::apps::ReadTokenFile(admin_token_file);
    if (!token.ok()) {
      std::cerr << "qfleetctl: error: " << token.status().message() << "\n";
      return 2;
    }
    admin_token = *std::move(token);
  }
  qfleet::apps::AdminClient admin(qfleet::apps::MakeChannel(target, *security), timeout_ms,
                                  admin_token);
  if (absl::Status s = admin.WaitConnected(target); !s.ok()) return Fail(s);

  if (tokens->parsed() && !tokens->got_subcommand("revoke")) {
    return RunJoinTokens(admin, *tokens, join, json);
  }
  // devices drain|enable and tokens revoke: one device, one state change.
  const bool lifecycle = tokens->got_subcommand("revoke") || devices->got_subcommand("drain") ||
                         devices->got_subcommand("enable") || devices->got_subcommand("reset");
  if (lifecycle) {
    auto id = ResolveDevice(admin, device_ref);
    if (!id.ok()) return Fail(id.status());
    absl::StatusOr<av1::DeviceInfo> r;
    if (tokens->got_subcommand("revoke")) {
      r = admin.RevokeDevice(*id);
    } else if (devices->got_subcommand("drain")) {
      r = admin.DrainDevice(*id);
    } else if (devices->got_subcommand("reset")) {
      r = admin.ResetDevice(*id);
    } else {
      r = admin.EnableDevice(*id);
    }
    if (!r.ok()) return Fail(r.status());
    if (json) {
      std::cout << Json(*r) << "\n";
    } else {
      std::cout << absl::StrFormat("device %d (%s) is now %s\n", r->device_id(), r->name(),
                                   r->state());
    }
    return 0;
  }

  if (devices->parsed()) {
    if (devices->got_subcommand("list")) {
      auto r = admin.ListDevices();
      if (!r.ok()) return Fail(r.status());
      if (json) {
        std::cout << Json(*r) << "\n";
        return 0;
      }
      std::cout << absl::StrFormat("%-6s %-24s %-8s %-10s %-8s %s\n", "id", "name", "state",
                                   "gflops", "samples", "last_seen");
      for (const auto& d : r->devices()) {
        std::cout << absl::StrFormat("%-6d %-24s %-8s %-10.2f %-8d %s\n", d.device_id(), d.name(),
                                     d.state(), d.compute_gflops(), d.sample_count(),
                                     Time(d.last_seen_ms()));
      }
      return 0;
    }
    auto r = admin.GetDevice(device_id);
    if (!r.ok()) return Fail(r.status());
    if (json) {
      std::cout << Json(*r) << "\n";
    } else {
      PrintDevice(r->device());
    }
    return 0;
  }
  if (rounds->parsed()) {
    if (rounds->got_subcommand("list")) {
      auto r = admin.ListRounds();
      if (!r.ok()) return Fail(r.status());
      if (json) {
        std::cout << Json(*r) << "\n";
        return 0;
      }
      std::cout << kRoundHeader;
      for (const auto& info : r->rounds()) PrintRoundRow(info);
      return 0;
    }
    if (rounds->got_subcommand("cancel")) {
      auto r = admin.CancelRound(round, cancel_reason);
      if (!r.ok()) return Fail(r.status());
      if (json) {
        std::cout << Json(*r) << "\n";
      } else {
        std::cout << absl::StrFormat("round %d cancelled (%d updates kept, not aggregated)\n",
                                     r->round(), r->updates_accepted());
      }
      return 0;
    }
    if (rounds->got_subcommand("show")) {
      auto r = admin.GetRound(round);
      if (!r.ok()) return Fail(r.status());
      if (json) {
        std::cout << Json(*r) << "\n";
        return 0;
      }
      std::cout << kRoundHeader;
      PrintRoundRow(r->round());
      std::cout << "\ndevice  status     strategy  wbits  loss     train_acc  compute_s  detail\n";
      std::map<uint64_t, const av1::ReportInfo*> reports;
      for (const auto& rep : r->reports()) reports[rep.device_id()] = &rep;
      for (const auto& p : r->participants()) {
        const av1::ReportInfo* rep = reports.count(p.device_id()) ? reports[p.device_id()] : nullptr;
        std::cout << absl::StrFormat("%-7d %-10s %-9s %-6d %-8.4f %-10.4f %-10.2f %s\n",
                                     p.device_id(), p.status(), p.strategy(), p.weight_bits(),
                                     rep ? rep->train_loss() : 0.0,
                                     rep ? rep->train_accuracy() : 0.0,
                                     rep ? rep->compute_seconds() : 0.0, p.detail());
      }
      return 0;
    }
    if (!eval_methods.empty()) {
      for (absl::string_view m : absl::StrSplit(eval_methods, ',', absl::SkipEmpty())) {
        campaign.add_eval_methods(std::string(m));
      }
      if (start->count("--rounds") == 0) n_rounds = static_cast<uint32_t>(campaign.eval_methods_size());
      campaign.set_budget_bits(budget_bits);
    }
    campaign.set_rounds(n_rounds);
    campaign.set_aggregator(aggregator);
    campaign.set_trim_fraction(trim_fraction);
    campaign.set_clip_norm(clip_norm);
    campaign.set_max_update_share(max_update_share);
    campaign.set_clients_per_round(clients);
    campaign.set_min_devices(min_devices);
    campaign.set_round_deadline_s(deadline_s);
    campaign.set_strategy(strategy);
    campaign.set_weight_bits(wbits);
    campaign.set_local_epochs(epochs);
    auto r = admin.StartRounds(campaign);
    if (!r.ok()) return Fail(r.status());
    if (json) {
      std::cout << Json(*r) << "\n";
    } else {
      std::cout << absl::StrFormat("planned rounds %d..%d\n", r->first_round(), r->last_round());
    }
    return 0;
  }
  if (plans->parsed()) {
    auto r = admin.GetPlan(plan_device);
    if (!r.ok()) return Fail(r.status());
    if (json) {
      std::cout << Json(*r) << "\n";
    } else if (r->plan().empty()) {
      std::cout << absl::StrFormat("device %d has no precision plan\n", plan_device);
    } else {
      std::cout << absl::StrFormat("device %d plan v%d: %d bytes, created %s\n", plan_device,
                                   r->plan_version(), r->plan().size(), Time(r->created_ms()));
    }
    return 0;
  }
  if (models_list->parsed()) {
    auto r = admin.ListModels();
    if (!r.ok()) return Fail(r.status());
    if (json) {
      std::cout << Json(*r) << "\n";
      return 0;
    }
    std::cout << absl::StrFormat("%-8s %-6s %-9s %-9s %-10s %s\n", "VERSION", "ROUND", "ACC_FP32",
                                 "ACC_Q8", "BYTES", "KEPT");
    for (const av1::ModelVersionInfo& m : r->models()) {
      std::cout << absl::StrFormat("%-8d %-6d %-9.4f %-9.4f %-10d %s\n", m.version(), m.round(),
                                   m.acc_fp32(), m.acc_q8(), m.bytes(),
                                   m.pinned()             ? "pinned"
                                   : m.pruned_ms() != 0 ? "pruned " + Time(m.pruned_ms())
                                                        : "yes");
    }
    return 0;
  }
  if (pin->parsed() || unpin->parsed()) {
    auto m = admin.PinModel(pin_version, pin->parsed());
    if (!m.ok()) return Fail(m.status());
    std::cout << absl::StrFormat("model version %d is %s\n", m->version(),
                                 m->pinned() ? "pinned" : "not pinned");
    return 0;
  }
  if (models->parsed()) {
    uint64_t actual = 0;
    auto bytes = admin.ExportModel(version, &actual);
    if (!bytes.ok()) return Fail(bytes.status());
    std::ofstream out(out_path, std::ios::binary);
    out.write(bytes->data(), bytes->size());
    out.close();
    if (!out) return Fail(absl::UnavailableError("cannot write " + out_path));
    std::cout << absl::StrFormat("model version %d: %d bytes written to %s\n", actual, bytes->size(),
                                 out_path);
    return 0;
  }
  auto r = admin.GetStatus();
  if (!r.ok()) return Fail(r.status());
  if (json) {
    std::cout << Json(*r) << "\n";
    return 0;
  }
  std::cout << absl::StrFormat(
      "devices       %d (%d online)\nrounds done   %d (planned through %d)\n"
      "current round %d (%s)\nmodel         v%d, acc fp32 %.4f, q8 %.4f\nuptime        %ds\n",
      r->devices(), r->devices_online(), r->rounds_done(), r->rounds_planned(), r->current_round(),
      r->current_round_state().empty() ? "-" : r->current_round_state(), r->latest_model_version(),
      r->latest_acc_fp32(), r->latest_acc_q8(), r->uptime_s());
  return 0;
}

}  // namespace

// The command's work runs in Run, whose channel is closed when it returns;
// the process then ends without running static destructors. A CLI run that
// gave up on a coordinator mid-TLS-handshake (a loaded CI machine) once
// segfaulted on the way out, as gRPC's background threads outlived the
// globals they use; nothing of qfleetctl's needs those destructors, and
// every stream is flushed first.
int main(int argc, char** argv) {
  const int rc = Run(argc, argv);
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  std::_Exit(rc);
}
