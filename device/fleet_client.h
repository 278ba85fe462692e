#ifndef QFLEET_DEVICE_FLEET_CLIENT_H_
#define QFLEET_DEVICE_FLEET_CLIENT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <grpcpp/channel.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "device/device_types.h"
#include "qfleet/fleet/v1/fleet.grpc.pb.h"

namespace qfleet::device {

struct FleetClientOptions {
  // Deadline of unary calls and of each streaming transfer, milliseconds.
  int64_t rpc_timeout_ms = 10000;
  int64_t transfer_timeout_ms = 120000;
  // Upload chunk size, bytes.
  size_t chunk_bytes = 1 << 20;
  // Times a broken model download resumes from the last verified offset.
  int download_resumes = 3;
  // Times a broken upload resumes from the offset the coordinator reports
  // (UploadStatus), waiting upload_retry_delay_ms, doubled each time, first.
  int upload_resumes = 3;
  int64_t upload_retry_delay_ms = 200;
  // Calls wait (within their deadline) for the channel to connect instead of
  // failing at once while it is connecting or in transient failure. For
  // callers that know the coordinator is up (the simulators' virtual
  // devices); an agent daemon keeps fail-fast and retries with backoff.
  bool wait_for_ready = false;
};

// The device's gRPC adapter to FleetService: every call has a deadline,
// transfers are verified chunk by chunk (CRC-32C) and whole (SHA-256), and
// generated types stay inside. Register() must succeed before other calls
// (FailedPrecondition otherwise). Thread-safe.
class FleetClient {
 public:
  FleetClient(std::shared_ptr<grpc::Channel> channel, FleetClientOptions options = {});

  // Enrolls and keeps the returned id and token for later calls.
  absl::Status Register(const RegisterInfo& info);
  absl::Status Heartbeat();
  // The device's next task. `wait_ms` > 0 asks the coordinator to hold the
  // call (long-poll) until a task comes, the fleet goes idle or busy, or
  // wait_ms passes; the call's deadline is rpc_timeout_ms + wait_ms.
  absl::StatusOr<PullResult> PullTask(int64_t wait_ms = 0);
  // Cancels a PullTask long-poll in flight (it returns Cancelled) and makes
  // every later PullTask ask for no wait: the device is stopping.
  // Irreversible. Thread-safe.
  void CancelWaits();
  // Downloads a model version and checks every chunk's CRC, the offsets and
  // the SHA-256 of the whole (DataLoss on a mismatch). `expected_sha256`
  // may be empty. Resumes from the last good offset on a broken stream.
  absl::StatusOr<std::string> DownloadModel(uint64_t version, const std::string& expected_sha256);
  // Streams an update in chunks; returns true when the coordinator had
  // already accepted this request_id. A stream that breaks (Unavailable,
  // DeadlineExceeded, Aborted) resumes from the bytes the coordinator kept,
  // as do later calls with the same request_id after such a failure.
  absl::StatusOr<bool> UploadUpdate(uint64_t task_id, const std::string& request_id,
                                    uint64_t sample_count, const std::string& bytes);
  absl::StatusOr<bool> SubmitReport(const TaskReport& report);
  // CHORD: sends the user embedding (method "chord"; ignored for the
  // fleet-wide "chord-mean" / "static") and returns the plan.
  absl::StatusOr<DevicePlan> RequestPlan(const std::string& method,
                                         const std::vector<float>& embedding);

  uint64_t device_id() const;
  // The bearer token from the last successful Register ("" before one).
  std::string token() const;
  int64_t heartbeat_interval_ms() const;

 private:
  void Prepare(grpc::ClientContext* ctx, int64_t timeout_ms) const;
  // One upload stream starting at `offset` (0 or the committed bytes).
  absl::StatusOr<bool> UploadFrom(const fleet::v1::UpdateChunk::Header& header,
                                  const std::string& bytes, uint64_t offset);
  // Where the coordinator stands on an upload: the offset to resume `header`'s
  // update at (0 when it kept nothing of it), or nullopt when it already
  // recorded the update.
  absl::StatusOr<std::optional<uint64_t>> ResumeOffset(
      const fleet::v1::UpdateChunk::Header& header);
  absl::Status RequireRegistered() const;

  std::unique_ptr<fleet::v1::FleetService::Stub> stub_;
  FleetClientOptions options_;
  mutable absl::Mutex mu_;
  uint64_t device_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::string token_ ABSL_GUARDED_BY(mu_);
  int64_t heartbeat_interval_ms_ ABSL_GUARDED_BY(mu_) = 10000;
  // request_id of the last upload that failed on a broken stream: a later
  // call with it asks UploadStatus before sending.
  std::string broken_upload_ ABSL_GUARDED_BY(mu_);
  // The context of the PullTask in flight, for CancelWaits().
  grpc::ClientContext* pull_ctx_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool waits_cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace qfleet::device

#endif  // QFLEET_DEVICE_FLEET_CLIENT_H_
