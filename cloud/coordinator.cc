#include "cloud/coordinator.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "absl/strings/str_cat.h"
#include "common/container_quant.h"
#include "common/file_io.h"
#include <chrono>
#include <nlohmann/json.hpp>
#include "cloud/aggregator.h"
#include "common/security/random_token.h"
#include "common/security/constant_time.h"
#include "common/sha256.h"
#include "common/status_macros.h"

namespace qfleet::cloud {

Coordinator::Coordinator(CoordinatorOptions options, std::unique_ptr<CoordinatorStore> store,
                         std::unique_ptr<BlobStore> blobs, std::unique_ptr<ModelBackend> backend)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : Clock::Real()),
      store_(std::move(store)),
      blobs_(std::move(blobs)),
      backend_(std::move(backend)) {
  started_ms_ = clock_->NowMs();
  last_retention_ms_ = started_ms_;  // the first pass one interval after start
  absl::MutexLock lock(&wait_mu_);
  state_version_ = static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()));
}

Coordinator::~Coordinator() {
  StopEngine();
  StopPlanThread();
}

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Open(
    const CoordinatorOptions& options, std::unique_ptr<ModelBackend> backend) {
  if (backend == nullptr) return absl::InvalidArgumentError("coordinator needs a model backend");
  if (options.db_path.empty()) return absl::InvalidArgumentError("coordinator needs --db");
  std::string blob_dir = options.blob_dir;
  if (blob_dir.empty()) {
    if (options.db_path == ":memory:") {
      blob_dir = (std::filesystem::temp_directory_path() /
                  absl::StrFormat("qfleet-blobs-%d-%p", ::getpid(), &options))
                     .string();
    } else {
      blob_dir = options.db_path + ".blobs";
    }
  }
  ASSIGN_OR_RETURN(std::unique_ptr<CoordinatorStore> store, CoordinatorStore::Open(options.db_path, CoordinatorStoreOptions{options.durable_store}));
  ASSIGN_OR_RETURN(std::unique_ptr<BlobStore> blobs, BlobStore::Open(blob_dir));
  // Nothing writes yet: every temp file is a leftover of a crash.
  blobs->RemoveStaleTemps(0);
  std::unique_ptr<Coordinator> c(
      new Coordinator(options, std::move(store), std::move(blobs), std::move(backend)));
  RETURN_IF_ERROR(c->LoadOrCreateModel());
  return c;
}

absl::Status Coordinator::LoadOrCreateModel() {
  ASSIGN_OR_RETURN(std::optional<ModelVersionRecord> latest, store_->LatestModelVersion());
  std::string bytes;
  ModelVersionRecord rec;
  if (latest.has_value()) {
    rec = *latest;
    ASSIGN_OR_RETURN(bytes, blobs_->Get(rec.blob_hash));
  } else {
    ASSIGN_OR_RETURN(TensorContainer initial, backend_->InitialModel(options_.model_seed));
    if (!options_.initial_model_path.empty()) {
      // The file must have the seeded model's tensors, names and shapes,
      // with finite values (what an accepted update must have).
      const std::string& path = options_.initial_model_path;
      ASSIGN_OR_RETURN(std::string file, ReadFileToString(path, 1ull << 30));
      absl::StatusOr<TensorContainer> loaded = DecodeContainer(file);
      absl::Status fits = loaded.ok() ? ValidateUpdate(initial, *loaded) : loaded.status();
      if (!fits.ok()) {
        return absl::Status(fits.code(),
                            absl::StrCat("initial model ", path, ": ", fits.message()));
      }
      initial = *std::move(loaded);
    }
    ASSIGN_OR_RETURN(bytes, EncodeContainer(initial));
    ASSIGN_OR_RETURN(rec.blob_hash, blobs_->Put(bytes));
    rec.version = 1;
    rec.bytes = bytes.size();
    rec.round = 0;
    rec.created_ms = clock_->NowMs();
    // Evaluated by FinishStartup(), after the coordinator serves.
    rec.acc_fp32 = -1;
    rec.acc_q8 = -1;
    RETURN_IF_ERROR(store_->InsertModelVersion(rec));
  }
  ASSIGN_OR_RETURN(TensorContainer container, DecodeContainer(bytes));
  absl::MutexLock lock(&model_mu_);
  latest_.version = rec.version;
  latest_.sha256 = rec.blob_hash;
  latest_.bytes = std::make_shared<const std::string>(std::move(bytes));
  latest_container_ = std::make_shared<const TensorContainer>(std::move(container));
  return absl::OkStatus();
}

absl::Status Coordinator::FinishStartup() {
  RETURN_IF_ERROR(backend_->Prepare());
  ASSIGN_OR_RETURN(std::vector<ModelVersionRecord> versions, store_->ListModelVersions());
  for (const ModelVersionRecord& v : versions) {
    // A pruned version (retention) has no container left to evaluate.
    if (v.round != 0 || v.acc_fp32 >= 0 || v.pruned_ms != 0) continue;
    ASSIGN_OR_RETURN(std::string bytes, blobs_->Get(v.blob_hash));
    ASSIGN_OR_RETURN(TensorContainer model, DecodeContainer(bytes));
    ASSIGN_OR_RETURN(Evaluation eval, backend_->Evaluate(model, ServeSpec()));
    RETURN_IF_ERROR(store_->SetModelVersionAccuracy(v.version, eval.acc_fp32, eval.acc_q8));
  }
  return absl::OkStatus();
}

std::shared_ptr<const TensorContainer> Coordinator::current_model() const {
  absl::MutexLock lock(&model_mu_);
  return latest_container_;
}

// --- Admin ----------------------------------------------------------------------

absl::StatusOr<CampaignRecord> Coordinator::StartCampaign(const CampaignConfig& config) {
  RETURN_IF_ERROR(config.Validate());
  absl::MutexLock lock(&round_mu_);
  ASSIGN_OR_RETURN(std::optional<CampaignRecord> active, store_->ActiveCampaign());
  if (active.has_value()) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "campaign %d (rounds %d..%d) is still running", active->id, active->first_round,
        active->last_round));
  }
  if (config.IsEval()) {
    for (const std::string& m : config.eval_methods) {
      if (!EvalMethodNeedsPlan(m)) continue;
      std::shared_ptr<PlanGenerator> generator = CurrentPlanGenerator();
      if (generator == nullptr) {
        return absl::FailedPreconditionError("eval method '" + m +
                                             "' needs CHORD hypernetworks, which this "
                                             "coordinator does not serve");
      }
      if (m != "chord") {
        absl::StatusOr<FleetPlan> fleet = generator->FleetPlanFor(m);
        if (!fleet.ok()) {
          return absl::FailedPreconditionError("eval method '" + m + "' has no fleet-wide plan: " +
                                               std::string(fleet.status().message()));
        }
      }
    }
  }
  ASSIGN_OR_RETURN(uint64_t max_round, store_->MaxRoundNumber());
  CampaignRecord rec;
  rec.config_json = config.ToJson();
  rec.first_round = max_round + 1;
  rec.last_round = max_round + config.rounds;
  rec.state = "running";
  rec.created_ms = clock_->NowMs();
  ASSIGN_OR_RETURN(rec.id, store_->InsertCampaign(rec));
  NotifyStateChanged();
  return rec;
}


// --- Engine thread ---------------------------------------------------------------

void Coordinator::StartEngine(int64_t period_ms) {
  if (engine_.joinable()) return;
  stop_engine_ = std::make_unique<absl::Notification>();
  engine_ = std::thread([this, period_ms] {
    while (!stop_engine_->WaitForNotificationWithTimeout(absl::Milliseconds(period_ms))) {
      absl::Status s = Step();
      if (!s.ok()) std::fprintf(stderr, "qfleet: round engine: %s\n", s.ToString().c_str());
    }
  });
}

void Coordinator::StopEngine() {
  if (!engine_.joinable()) return;
  stop_engine_->Notify();
  engine_.join();
}

}  // namespace qfleet::cloud
