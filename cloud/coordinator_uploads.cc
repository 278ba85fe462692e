// Coordinator: resumable uploads. The service streams chunks; this file
// decides where a stream may start, keeps the verified prefix of a broken
// one in the store, and records the finished whole once.

#include "absl/strings/str_format.h"
#include "cloud/coordinator.h"
#include "common/sha256.h"
#include "common/status_macros.h"

namespace qfleet::cloud {
namespace {

PartialUploadRecord PartialFromHeader(const UploadHeader& h) {
  PartialUploadRecord r;
  r.device_id = h.device_id;
  r.task_id = h.task_id;
  r.request_id = h.request_id;
  r.total_bytes = h.total_bytes;
  r.sha256 = h.sha256;
  r.sample_count = h.sample_count;
  return r;
}

}  // namespace

absl::StatusOr<UploadProgress> Coordinator::UploadStatus(uint64_t device_id, uint64_t task_id,
                                                         const std::string& request_id) {
  RETURN_IF_ERROR(OwnTask(device_id, task_id).status());
  UploadProgress out;
  ASSIGN_OR_RETURN(out.accepted, store_->FindUpdate(device_id, request_id));
  if (out.accepted.has_value() && out.accepted->task_id != task_id) out.accepted.reset();
  ASSIGN_OR_RETURN(std::optional<PartialUploadRecord> kept,
                   store_->GetPartialUpload(device_id, task_id, request_id));
  if (kept.has_value()) {
    out.committed_bytes = kept->committed_bytes;
    out.total_bytes = kept->total_bytes;
    out.sha256 = kept->sha256;
  }
  return out;
}

absl::StatusOr<UploadStart> Coordinator::BeginUpload(const UploadHeader& h, uint64_t offset) {
  if (h.total_bytes == 0) return absl::InvalidArgumentError("upload header: total_bytes is 0");
  if (!IsSha256Hex(h.sha256)) {
    return absl::InvalidArgumentError("upload header: sha256 is not 64 hex digits");
  }
  if (h.total_bytes > options_.max_update_bytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "upload of %d bytes exceeds the limit of %d", h.total_bytes, options_.max_update_bytes));
  }
  RETURN_IF_ERROR(CheckRequestId(h.request_id));
  // Checks the task is the device's and finds a finished upload.
  ASSIGN_OR_RETURN(UploadProgress progress, UploadStatus(h.device_id, h.task_id, h.request_id));
  UploadStart start;
  if (progress.accepted.has_value()) {
    start.accepted = std::move(progress.accepted);
    return start;
  }
  // Before a byte is buffered: the round is open and the device and its
  // participation may still contribute.
  ASSIGN_OR_RETURN(const TaskRecord task, OwnTask(h.device_id, h.task_id));
  if (task.strategy == "eval") {
    return absl::FailedPreconditionError(
        absl::StrFormat("task %d is an evaluation; it takes a report, not an update", h.task_id));
  }
  RETURN_IF_ERROR(CheckMayContribute(h.device_id, task));
  if (offset == 0) return start;
  ASSIGN_OR_RETURN(std::optional<PartialUploadRecord> kept,
                   store_->GetPartialUpload(h.device_id, h.task_id, h.request_id));
  if (!kept.has_value() || kept->total_bytes != h.total_bytes || kept->sha256 != h.sha256 ||
      kept->sample_count != h.sample_count) {
    return absl::OutOfRangeError(absl::StrFormat(
        "upload '%s' resumes at offset %d but no prefix of this update is kept; start at 0",
        h.request_id, offset));
  }
  if (kept->committed_bytes != offset) {
    return absl::OutOfRangeError(absl::StrFormat(
        "upload '%s' resumes at offset %d but %d bytes are kept; resume at %d", h.request_id,
        offset, kept->committed_bytes, kept->committed_bytes));
  }
  ASSIGN_OR_RETURN(start.prefix, store_->ReadPartialUpload(kept->id));
  return start;
}

absl::Status Coordinator::KeepUploadPrefix(const UploadHeader& h, uint64_t offset,
                                           absl::string_view data) {
  return store_
      ->AppendPartialUpload(PartialFromHeader(h), offset, data, clock_->NowMs(),
                            options_.max_partial_uploads_per_device)
      .status();
}

absl::StatusOr<std::pair<UpdateRecord, bool>> Coordinator::FinishUpload(const UploadHeader& h,
                                                                        const std::string& bytes) {
  if (bytes.size() != h.total_bytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("upload holds %d of %d bytes", bytes.size(), h.total_bytes));
  }
  if (Sha256Hex(bytes) != h.sha256) {
    RETURN_IF_ERROR(store_->DeletePartialUpload(h.device_id, h.task_id, h.request_id));
    return absl::DataLossError("upload fails its SHA-256; its kept prefix is discarded");
  }
  auto accepted = AcceptUpdate(h.device_id, h.task_id, h.request_id, h.sample_count, bytes);
  if (!absl::IsUnavailable(accepted.status())) {
    RETURN_IF_ERROR(store_->DeletePartialUpload(h.device_id, h.task_id, h.request_id));
  }
  return accepted;
}

absl::Status Coordinator::MaybePrunePartialUploads() {
  const int64_t now = clock_->NowMs();
  if (last_prune_ms_ != 0 && now - last_prune_ms_ < 1000) return absl::OkStatus();
  last_prune_ms_ = now;
  if (now - last_temp_gc_ms_ >= 3600 * 1000) {
    // Temp files of failed blob writes (e.g. a full disk) older than an hour.
    last_temp_gc_ms_ = now;
    blobs_->RemoveStaleTemps(3600);
  }
  return store_->PrunePartialUploads(now - options_.partial_upload_ttl_ms).status();
}

}  // namespace qfleet::cloud
