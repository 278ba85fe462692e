// Coordinator: retention. Old model versions (--keep-models), the update
// blobs of finished rounds, old plan rows, and blobs nothing refers to are
// deleted on a schedule, so a long-running coordinator's disk stays bounded
// (issue 23). Pinned versions and everything an open round needs are kept.

#include "absl/strings/str_cat.h"
#include "cloud/coordinator.h"
#include "common/status_macros.h"

namespace qfleet::cloud {

absl::StatusOr<RetentionResult> Coordinator::RunRetention() {
  RetentionResult out;
  absl::flat_hash_set<std::string> live;
  {
    // The marks see rounds and uploads still: no round opens or closes
    // and no update is accepted meanwhile.
    absl::MutexLock round_lock(&round_mu_);
    const int64_t now = clock_->NowMs();
    ASSIGN_OR_RETURN(std::vector<ModelVersionRecord> pruned,
                     store_->PruneModelVersions(options_.keep_models, now));
    out.model_versions = pruned.size();
    ASSIGN_OR_RETURN(out.updates, store_->PruneUpdateBlobs(options_.keep_update_rounds, now));
    ASSIGN_OR_RETURN(out.plans, store_->PrunePlans(options_.keep_plans_per_device));
    // Read after the marks: a blob that a kept row and a pruned row both
    // name stays.
    ASSIGN_OR_RETURN(live, store_->LiveBlobHashes());
  }
  // Outside the lock (the walk may be long): a blob stored after `live`
  // was read is younger than blob_gc_min_age_s and spared.
  const BlobStore::Removed removed = blobs_->RemoveUnreferenced(live, options_.blob_gc_min_age_s);
  out.blobs = removed.blobs;
  out.blob_bytes = removed.bytes;
  return out;
}

absl::Status Coordinator::MaybeRunRetention() {
  const int64_t now = clock_->NowMs();
  if (options_.retention_interval_ms <= 0) return absl::OkStatus();
  if (last_retention_ms_ != 0 && now - last_retention_ms_ < options_.retention_interval_ms) {
    return absl::OkStatus();
  }
  last_retention_ms_ = now;
  return RunRetention().status();
}

absl::StatusOr<ModelVersionRecord> Coordinator::PinModel(uint64_t version, bool pinned) {
  ASSIGN_OR_RETURN(ModelVersionRecord rec, store_->GetModelVersion(version));
  if (pinned && rec.pruned_ms != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "model version ", version,
        " was already removed by the retention policy (--keep-models); it cannot be pinned"));
  }
  return store_->SetModelPinned(version, pinned);
}

}  // namespace qfleet::cloud
