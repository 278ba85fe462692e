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
#include "sim/enrollment.h"
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
namespace {

namespace ch = ml::chord;
using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Runs fn(i) for every i in [0, n) on up to `workers` threads; returns the
// first error.
absl::Status ParallelFor(int64_t n, int workers, const std::function<absl::Status(int64_t)>& fn) {
  std::atomic<int64_t> next{0};
  absl::Mutex mu;
  absl::Status first;
  std::vector<std::thread> threads;
  const int64_t count = std::max<int64_t>(1, std::min<int64_t>(workers, n));
  for (int64_t w = 0; w < count; ++w) {
    threads.emplace_back([&] {
      for (int64_t i = next++; i < n; i = next++) {
        absl::Status s = fn(i);
        if (!s.ok()) {
          absl::MutexLock lock(&mu);
          if (first.ok()) first = s;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  return first;
}

struct VirtualDevice {
  std::unique_ptr<device::FleetClient> client;
  device::DeviceTask task;
  std::string last_plan;  // the chord plan it received (for the round-trip check)
};

// What one device measured for one method.
struct DeviceResult {
  std::map<std::string, double> metrics;
  ch::DecodedPlan plan;
  std::string plan_bytes;
};

// The device side shared by the virtual devices of this process: the
// downloaded bundle and its weights quantized once per width (a channel's
// quantized values depend only on that channel, so a per-channel gather
// from these tables equals quantizing the device's whole copy).
struct DeviceSide {
  std::string sha256;
  std::unique_ptr<ch::DeviceBundle> bundle;
  std::unique_ptr<ch::QuantTables> tables;
  std::unique_ptr<ch::PersonalizedBackbone> view;
  TensorContainer backbone_fp32;  // for the timed full-model apply
  std::shared_ptr<ml::SeqRecModel> apply_copy;
};

absl::StatusOr<std::unique_ptr<DeviceSide>> LoadDeviceSide(device::FleetClient& client,
                                                           const device::DeviceTask& task,
                                                           const std::string& backbone) {
  auto side = std::make_unique<DeviceSide>();
  ASSIGN_OR_RETURN(std::string bytes, client.DownloadModel(task.model_version, task.model_sha256));
  side->sha256 = task.model_sha256;
  ASSIGN_OR_RETURN(TensorContainer container, DecodeContainer(bytes));
  ASSIGN_OR_RETURN(const ml::Backbone kind, ml::ParseBackbone(backbone));
  ASSIGN_OR_RETURN(side->bundle,
                   ch::DeviceBundleFromContainer(container, ml::DefaultSeqRecConfig(kind)));
  std::vector<int> widths = {32};
  for (int b = 0; b <= 8; ++b) widths.push_back(b);
  ASSIGN_OR_RETURN(ch::QuantTables tables, ch::QuantTables::Create(side->bundle->catalog, widths));
  side->tables = std::make_unique<ch::QuantTables>(std::move(tables));
  ASSIGN_OR_RETURN(side->view,
                   ch::PersonalizedBackbone::Create(side->bundle->backbone, side->bundle->catalog));
  side->backbone_fp32 = ml::ModuleToContainer(*side->bundle->backbone);
  ASSIGN_OR_RETURN(side->apply_copy, ml::SeqRecModelFromContainer(
                                         side->backbone_fp32, side->bundle->backbone->config()));
  return side;
}

// The full device path on a copy of the backbone: plan bytes -> tiers ->
// bits -> every quantizable weight fake-quantized. Milliseconds.
absl::StatusOr<double> TimeFullApply(DeviceSide& side, const std::string& plan_bytes,
                                     const std::array<int, 4>& tier_bits) {
  RETURN_IF_ERROR(ml::LoadContainer(side.backbone_fp32, *side.apply_copy));
  const auto t0 = Clock::now();
  ASSIGN_OR_RETURN(PrecisionPlan plan, DecodePlan(plan_bytes));
  RETURN_IF_ERROR(ml::ApplyPlan(*side.apply_copy, plan, tier_bits));
  return 1e3 * Since(t0);
}

}  // namespace

void ApplySeqRecQuick(SeqRecSimOptions& o, bool explicit_epochs, bool explicit_chord_epochs,
                      bool explicit_devices) {
  ch::ChordSetupOptions& s = o.setup;
  if (s.data_path.empty()) {
    s.synthetic.num_users = 300;
    s.synthetic.num_items = 200;
  }
  if (!explicit_epochs) s.epochs = 10;
  if (!explicit_chord_epochs) s.train.epochs = 1;
  if (!explicit_devices) o.devices = 64;
  s.sensitivity_users = 64;
  s.hessian_samples = 1;
  o.batch_devices = 32;
}

absl::StatusOr<SeqRecSimResult> RunSeqRecSim(const SeqRecSimOptions& o, std::ostream& progress) {
  if (o.devices < 1) return absl::InvalidArgumentError("--devices must be >= 1");
  if (o.methods.empty()) return absl::InvalidArgumentError("no methods to evaluate");
  for (const std::string& m : o.methods) {
    if (!cloud::IsKnownEvalMethod(m)) {
      return absl::InvalidArgumentError("unknown method '" + m + "'");
    }
  }
  const auto t_start = Clock::now();
  auto say = [&](const std::string& s) {
    if (o.progress) progress << s << std::endl;
  };
  SeqRecSimResult result;

  // --- cloud: backbone, CHORD, static allocation ------------------------------
  ch::ChordSetupOptions so = o.setup;
  so.say = say;
  ASSIGN_OR_RETURN(std::unique_ptr<ch::ChordSetup> setup, ch::PrepareChord(so));
  const seqrec::LeaveOneOutSplit& split = setup->split;
  seqrec::EvalSampleOptions eo;
  eo.max_users = o.devices;
  eo.seed = o.eval_seed;
  ASSIGN_OR_RETURN(seqrec::EvalSample sample,
                   seqrec::BuildEvalSample(split, seqrec::EvalStage::kTest, eo));
  const int64_t n = sample.NumUsers();
  ASSIGN_OR_RETURN(ch::ChordServing serving, ch::MakeChordServing(*setup));
  result.prepare_seconds = Since(t_start);
  result.devices = static_cast<int>(n);
  result.channels = setup->chord->catalog().total_channels();
  result.layers = setup->chord->catalog().num_layers();

  // --- the coordinator ----------------------------------------------------------
  LocalCoordinatorOptions lo;
  lo.db = o.db;
  lo.model_seed = so.seed;
  lo.insecure = o.insecure;
  ASSIGN_OR_RETURN(std::unique_ptr<LocalCoordinator> local,
                   StartLocalCoordinator(lo, std::move(serving.backend)));
  local->coordinator->SetPlanGenerator(std::move(serving.planner));
  const std::string address = local->server->address();
  AdminClient admin(MakeChannel(address, local->security), 30000, local->admin_token);
  RETURN_IF_ERROR(admin.WaitConnected(address));
  ASSIGN_OR_RETURN(const std::string join_secret,
                   EnrollmentSecret(admin, "", static_cast<int>(sample.users.size()),
                                    "qfleet-sim --task seqrec"));
  say(absl::StrFormat("coordinator %s serving %d channels; %d virtual devices", address,
                      result.channels, n));

  // --- devices enroll -------------------------------------------------------------
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int c = 0; c < std::max(1, o.channels); ++c) channels.push_back(MakeChannel(address, local->security));
  device::FleetClientOptions fopts;
  fopts.rpc_timeout_ms = 60000;
  // The coordinator is up; under load a fresh channel's TLS handshake may
  // fail once, which must not fail the run.
  fopts.wait_for_ready = true;
  std::vector<VirtualDevice> devices(static_cast<size_t>(n));
  const auto t_reg = Clock::now();
  RETURN_IF_ERROR(ParallelFor(n, o.workers, [&](int64_t i) -> absl::Status {
    devices[i].client = std::make_unique<device::FleetClient>(channels[i % channels.size()], fopts);
    device::RegisterInfo info;
    info.device_name = absl::StrFormat("seqrec-%06d", sample.users[i]);
    info.profile.compute_gflops = 1.0;
    info.profile.memory_mib = 256;
    info.sample_count = seqrec::EvalHistory(split, sample.users[i], sample.stage).size();
    info.agent_version = "qfleet-sim --task seqrec";
    info.join_secret = join_secret;
    return devices[i].client->Register(info);
  }));
  result.register_seconds = Since(t_reg);
  say(absl::StrFormat("registered %d devices in %.1f s", n, result.register_seconds));

  admin::v1::CampaignConfig campaign;
  campaign.set_rounds(static_cast<uint32_t>(o.methods.size()));
  campaign.set_min_devices(static_cast<uint32_t>(n));
  campaign.set_round_deadline_s(o.round_deadline_s);
  campaign.set_strategy("eval");
  campaign.set_seed(so.seed);
  campaign.set_budget_bits(so.chord.budget_bits);
  for (const std::string& m : o.methods) campaign.add_eval_methods(m);
  ASSIGN_OR_RETURN(auto started, admin.StartRounds(campaign));

  std::unique_ptr<DeviceSide> side;
  const BudgetDecodeOptions decode = so.decode;
  for (size_t k = 0; k < o.methods.size(); ++k) {
    const std::string& method = o.methods[k];
    const uint64_t round = started.first_round() + k;
    const auto t_round = Clock::now();
    // Every device pulls its task for this round: passes over the devices
    // still waiting, one PullTask each (which also keeps them fresh as
    // candidates for the round), until all have it.
    {
      const auto give_up = Clock::now() + std::chrono::duration<double>(o.round_deadline_s);
      std::vector<int64_t> waiting(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) waiting[i] = i;
      while (!waiting.empty()) {
        std::vector<char> got(waiting.size(), 0);
        std::atomic<uint32_t> retry_ms{1000};
        RETURN_IF_ERROR(ParallelFor(static_cast<int64_t>(waiting.size()), o.workers,
                                    [&](int64_t w) -> absl::Status {
          VirtualDevice& d = devices[waiting[w]];
          ASSIGN_OR_RETURN(device::PullResult pulled, d.client->PullTask());
          if (!pulled.task.has_value() || pulled.task->round != round) {
            uint32_t cur = retry_ms.load();
            while (pulled.retry_after_ms < cur && !retry_ms.compare_exchange_weak(cur, pulled.retry_after_ms)) {
            }
            return absl::OkStatus();
          }
          if (pulled.task->strategy != "eval" || pulled.task->eval_method != method) {
            return absl::InternalError(absl::StrFormat("round %d handed out %s/%s, expected eval/%s",
                                                       round, pulled.task->strategy,
                                                       pulled.task->eval_method, method));
          }
          d.task = *pulled.task;
          got[w] = 1;
          return absl::OkStatus();
        }));
        std::vector<int64_t> still;
        for (size_t w = 0; w < waiting.size(); ++w) {
          if (!got[w]) still.push_back(waiting[w]);
        }
        waiting.swap(still);
        if (waiting.empty()) break;
        if (Clock::now() > give_up) {
          return absl::DeadlineExceededError(
              absl::StrFormat("%d devices got no task for round %d", waiting.size(), round));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(std::clamp<uint32_t>(retry_ms.load(), 20, 1000)));
      }
    }
    // The model: downloaded and verified once per version for this host;
    // every device checks its task names the same bytes.
    if (side == nullptr || side->sha256 != devices[0].task.model_sha256) {
      ASSIGN_OR_RETURN(side, LoadDeviceSide(*devices[0].client, devices[0].task, so.backbone));
    }
    for (const VirtualDevice& d : devices) {
      if (d.task.model_sha256 != side->sha256) {
        return absl::InternalError("devices were handed different models in one round");
      }
    }
    const ch::DeviceBundle& bundle = *side->bundle;
    const int64_t n_channels = bundle.catalog.total_channels();
    const bool needs_plan = cloud::EvalMethodNeedsPlan(method);
    int64_t reported = 0;
    std::vector<double> device_ndcg10, device_hr10;
    device_ndcg10.reserve(static_cast<size_t>(n));
    device_hr10.reserve(static_cast<size_t>(n));
    for (int64_t b0 = 0; b0 < n; b0 += o.batch_devices) {
      const int64_t b1 = std::min(n, b0 + o.batch_devices), b = b1 - b0;
      absl::Span<const int32_t> users(sample.users.data() + b0, b);
      std::vector<DeviceResult> results(static_cast<size_t>(b));
      // Each device encodes its own recent items (one batched call here;
      // rows are independent).
      torch::Tensor emb;
      if (method == "chord") {
        torch::Tensor uid = torch::empty({b}, torch::kLong);
        for (int64_t j = 0; j < b; ++j) uid[j] = static_cast<int64_t>(users[j]);
        ASSIGN_OR_RETURN(emb, ch::DeviceUserEmbeddings(*side->bundle,
                                                       ml::MakeEvalHistories(split, users, sample.stage,
                                                                                 bundle.EmbeddingHistory()),
                                                       uid));
        emb = emb.contiguous();
      }
      torch::Tensor bits = torch::empty({b, n_channels}, torch::kLong);
      // Each device's window: the only rows of an input-only item table
      // (Caser's item_emb) it reads (KeepWindowRows).
      torch::Tensor windows;
      if (needs_plan) {
        windows = ml::MakeEvalHistories(split, users, sample.stage,
                                            bundle.backbone->HistoryLength())
                      .contiguous();
      }
      RETURN_IF_ERROR(ParallelFor(b, o.workers, [&](int64_t j) -> absl::Status {
        VirtualDevice& d = devices[b0 + j];
        DeviceResult& r = results[j];
        int64_t* row = bits[j].data_ptr<int64_t>();
        if (!needs_plan) {
          const int width = static_cast<int>(d.task.weight_bits);
          std::fill(row, row + n_channels, width);
          r.metrics["avg_bits"] = width;
          r.metrics["plan_bytes"] = 0;
          return absl::OkStatus();
        }
        std::vector<float> e;
        if (emb.defined()) {
          const float* p = emb[j].data_ptr<float>();
          e.assign(p, p + emb.size(1));
        }
        ASSIGN_OR_RETURN(device::DevicePlan plan, d.client->RequestPlan(method, e));
        const double budget = d.task.budget_bits > 0 ? d.task.budget_bits : so.chord.budget_bits;
        ASSIGN_OR_RETURN(const BudgetDecodeOptions own, ch::WithTierImportance(decode, plan.tier_importance));
        ASSIGN_OR_RETURN(r.plan, ch::DecodeDevicePlan(bundle, plan.bytes, plan.tier_bits, budget, own, users[j],
                                                      absl::MakeConstSpan(windows[j].data_ptr<int64_t>(),
                                                                          static_cast<size_t>(windows.size(1)))));
        for (int64_t c = 0; c < n_channels; ++c) row[c] = r.plan.channel_bits[c];
        r.plan_bytes = plan.bytes;
        r.metrics["avg_bits"] = r.plan.avg_bits;
        r.metrics["low_bits"] = r.plan.tier_bits[3];
        r.metrics["plan_bytes"] = static_cast<double>(plan.bytes.size());
        r.metrics["plan_cached"] = plan.cached ? 1 : 0;
        if (!plan.cached && method == "chord") r.metrics["plan_gen_ms"] = plan.generation_us / 1e3;
        if (method == "chord") d.last_plan = plan.bytes;
        return absl::OkStatus();
      }));
      // Rank each device's held-out item with its own weights.
      {
        torch::NoGradGuard no_grad;
        const int64_t neg = sample.num_negatives;
        torch::Tensor histories = ml::MakeEvalHistories(split, users, sample.stage,
                                                            side->view->HistoryLength());
        torch::Tensor cand = torch::empty({b, neg + 1}, torch::kLong);
        auto ca = cand.accessor<int64_t, 2>();
        torch::Tensor uid = torch::empty({b}, torch::kLong);
        auto ua = uid.accessor<int64_t, 1>();
        for (int64_t i = 0; i < b; ++i) {
          ca[i][0] = sample.targets[b0 + i];
          for (int64_t j = 0; j < neg; ++j) ca[i][j + 1] = sample.negatives[(b0 + i) * neg + j];
          ua[i] = users[i];
        }
        ASSIGN_OR_RETURN(torch::Tensor index, ch::WidthIndexForBits(*side->tables, bits));
        ch::UserWeights w = ch::UserWeights::Hard(bundle.catalog, *side->tables, index);
        torch::Tensor scores = side->view->Score(w, histories, uid, cand).contiguous();
        auto sa = scores.accessor<float, 2>();
        std::vector<float> negs(static_cast<size_t>(neg));
        for (int64_t i = 0; i < b; ++i) {
          for (int64_t j = 0; j < neg; ++j) negs[j] = sa[i][j + 1];
          const double rank = seqrec::RankAmongNegatives(sa[i][0], negs);
          seqrec::AddRankMetrics(rank, results[i].metrics);
          device_ndcg10.push_back(results[i].metrics["ndcg10"]);
          device_hr10.push_back(results[i].metrics["hr10"]);
          results[i].metrics["model_bytes"] = side->bundle->fp32_bytes;
        }
      }
      // A few devices also time the full-model apply.
      if (needs_plan) {
        for (int64_t i = 0; i < b && b0 + i < o.timing_devices; ++i) {
          ASSIGN_OR_RETURN(double ms, TimeFullApply(*side, results[i].plan_bytes, results[i].plan.tier_bits));
          results[i].metrics["apply_ms"] = ms;
        }
      }
      RETURN_IF_ERROR(ParallelFor(b, o.workers, [&](int64_t j) -> absl::Status {
        VirtualDevice& d = devices[b0 + j];
        device::TaskReport report;
        report.task_id = d.task.task_id;
        report.request_id = absl::StrFormat("eval-%d-%d", d.task.task_id, d.client->device_id());
        report.metrics = results[j].metrics;
        return d.client->SubmitReport(report).status();
      }));
      reported += b;
      if (o.progress && (b1 == n || (b0 / o.batch_devices) % 8 == 7)) {
        say(absl::StrFormat("round %d (%s): %d/%d devices reported", round, method, reported, n));
      }
    }
    // The coordinator's summary of what the devices reported.
    admin::v1::GetRoundResponse info;
    for (;;) {
      ASSIGN_OR_RETURN(info, admin.GetRound(round));
      if (info.round().state() == "done" || info.round().state() == "failed" ||
          info.round().state() == "cancelled") {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (info.round().state() != "done") {
      return absl::InternalError(absl::StrFormat("round %d (%s) ended %s: %s", round, method,
                                                 info.round().state(), info.round().detail()));
    }
    nlohmann::json j = nlohmann::json::parse(info.round().detail(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      return absl::InternalError("round summary is not JSON: " + info.round().detail());
    }
    SeqRecMethodRow row;
    row.name = method;
    row.device_ndcg10 = std::move(device_ndcg10);
    row.device_hr10 = std::move(device_hr10);
    row.round = round;
    row.reports = j.value("reports", uint64_t{0});
    row.avg_bits = j.value("avg_bits", 32.0);
    row.low_bits = j.value("low_bits", row.avg_bits);
    row.hr5 = j.value("hr5", 0.0);
    row.hr10 = j.value("hr10", 0.0);
    row.ndcg5 = j.value("ndcg5", 0.0);
    row.ndcg10 = j.value("ndcg10", 0.0);
    row.plan_bytes = j.value("plan_bytes", 0.0);
    row.model_bytes = j.value("model_bytes", 0.0);
    row.plan_gen_ms = j.value("plan_gen_ms", 0.0);
    row.apply_ms = j.value("apply_ms", 0.0);
    row.cached_share = j.value("plan_cached", 0.0);
    row.seconds = Since(t_round);
    result.rows.push_back(row);
    say(absl::StrFormat("round %d (%s) done: %d reports, avg bits %.3f, NDCG@10 %.4f (%.1f s)", round,
                        method, row.reports, row.avg_bits, row.ndcg10, row.seconds));
  }
  // Personal plans against the mean plan, device by device.
  const SeqRecMethodRow* chord_row = nullptr;
  const SeqRecMethodRow* mean_row = nullptr;
  for (const SeqRecMethodRow& r : result.rows) {
    if (r.name == "chord") chord_row = &r;
    if (r.name == "chord-mean") mean_row = &r;
  }
  if (chord_row != nullptr && mean_row != nullptr) {
    ASSIGN_OR_RETURN(result.chord_vs_mean_ndcg10,
                     seqrec::ComparePaired(chord_row->device_ndcg10, mean_row->device_ndcg10));
    ASSIGN_OR_RETURN(result.chord_vs_mean_hr10,
                     seqrec::ComparePaired(chord_row->device_hr10, mean_row->device_hr10));
  }
  // Round trip: the coordinator's stored plan is what the device received.
  for (int64_t i = 0; i < std::min<int64_t>(n, 16); ++i) {
    if (devices[i].last_plan.empty()) continue;
    ASSIGN_OR_RETURN(auto stored, admin.GetPlan(devices[i].client->device_id()));
    if (stored.plan() != devices[i].last_plan) {
      return absl::InternalError(absl::StrFormat("device %d's stored plan differs from the one it got",
                                                 devices[i].client->device_id()));
    }
    ++result.plans_stored;
  }
  result.total_seconds = Since(t_start);
  return result;
}

}  // namespace qfleet::apps
