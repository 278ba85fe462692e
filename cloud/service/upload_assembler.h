#ifndef QFLEET_CLOUD_SERVICE_UPLOAD_ASSEMBLER_H_
#define QFLEET_CLOUD_SERVICE_UPLOAD_ASSEMBLER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cloud/coordinator.h"
#include "qfleet/fleet/v1/fleet.pb.h"

namespace qfleet::cloud {

// One UploadUpdate stream, message by message, without gRPC: checks each
// chunk (offset, size, CRC-32C), keeps the verified prefix in the
// coordinator's store every `checkpoint_bytes` and when the stream breaks,
// and finishes the whole through Coordinator::FinishUpload. The service
// (and the fuzzer) feed it: Start, Add..., then Finish or Abandon. Not
// thread-safe; one per stream. `coordinator` is not owned.
class UploadAssembler {
 public:
  UploadAssembler(Coordinator* coordinator, size_t max_chunk_bytes, size_t checkpoint_bytes);

  // The stream's first message: must carry the header; its offset is where
  // the stream starts (Coordinator::BeginUpload's rules) and its data, if
  // any, is the first chunk. Errors as BeginUpload, or InvalidArgument for
  // a missing header. After OK, accepted() tells whether request_id was
  // already recorded (then nothing more is needed).
  absl::Status Start(const fleet::v1::UpdateChunk& first);
  // A following message. InvalidArgument for a repeated header, a chunk
  // over max_chunk_bytes, out of order, or past total_bytes; DataLoss when
  // its CRC-32C fails. The stream is over after an error: call Abandon.
  absl::Status Add(const fleet::v1::UpdateChunk& chunk);
  // The stream ended cleanly. All total_bytes arrived: verifies and records
  // the update (Coordinator::FinishUpload). Fewer: keeps them and returns
  // Aborted naming the offset to resume at.
  absl::StatusOr<std::pair<UpdateRecord, bool>> Finish();
  // The stream broke or failed with `why`: keeps the verified bytes not yet
  // kept and returns `why` (Aborted naming the resume offset when `why` is
  // OK, i.e. the transport broke).
  absl::Status Abandon(absl::Status why);

  const std::optional<UpdateRecord>& accepted() const { return accepted_; }
  uint64_t received_bytes() const { return bytes_.size(); }

 private:
  absl::Status AddData(const fleet::v1::UpdateChunk& chunk);
  // Stores bytes_[kept_, size) in the coordinator; kept_ = size on success.
  absl::Status Keep();
  absl::Status Incomplete() const;

  Coordinator* coordinator_;
  const size_t max_chunk_bytes_;
  const size_t checkpoint_bytes_;
  bool started_ = false;
  UploadHeader header_;
  std::optional<UpdateRecord> accepted_;
  // The update from offset 0: the kept prefix, then what this stream sent.
  std::string bytes_;
  // bytes_[0, kept_) are in the coordinator's store.
  uint64_t kept_ = 0;
};

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_SERVICE_UPLOAD_ASSEMBLER_H_
