#include "cloud/service/upload_assembler.h"

#include "absl/strings/str_format.h"
#include "cloud/service/fleet_conversions.h"
#include "common/crc32c.h"
#include "common/status_macros.h"

namespace qfleet::cloud {

UploadAssembler::UploadAssembler(Coordinator* coordinator, size_t max_chunk_bytes,
                                 size_t checkpoint_bytes)
    : coordinator_(coordinator),
      max_chunk_bytes_(max_chunk_bytes),
      checkpoint_bytes_(checkpoint_bytes) {}

absl::Status UploadAssembler::Start(const fleet::v1::UpdateChunk& first) {
  if (!first.has_header()) {
    return absl::InvalidArgumentError("first upload message must carry the header");
  }
  header_ = UploadHeaderFromProto(first.header());
  ASSIGN_OR_RETURN(UploadStart start, coordinator_->BeginUpload(header_, first.offset()));
  started_ = true;
  accepted_ = std::move(start.accepted);
  if (accepted_.has_value()) return absl::OkStatus();
  bytes_ = std::move(start.prefix);
  kept_ = bytes_.size();
  bytes_.reserve(header_.total_bytes);
  return AddData(first);
}

absl::Status UploadAssembler::Add(const fleet::v1::UpdateChunk& chunk) {
  if (!started_ || accepted_.has_value()) {
    return absl::FailedPreconditionError("upload chunk outside a started upload");
  }
  if (chunk.has_header()) return absl::InvalidArgumentError("header repeated mid-stream");
  return AddData(chunk);
}

absl::Status UploadAssembler::AddData(const fleet::v1::UpdateChunk& chunk) {
  if (chunk.data().empty()) return absl::OkStatus();
  if (chunk.data().size() > max_chunk_bytes_) {
    return absl::InvalidArgumentError(
        absl::StrFormat("chunk of %d bytes exceeds %d", chunk.data().size(), max_chunk_bytes_));
  }
  if (chunk.offset() != bytes_.size()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("chunk at offset %d, expected %d", chunk.offset(), bytes_.size()));
  }
  if (Crc32c(chunk.data().data(), chunk.data().size()) != chunk.crc32c()) {
    return absl::DataLossError(
        absl::StrFormat("chunk at offset %d fails its CRC-32C", chunk.offset()));
  }
  if (chunk.data().size() > header_.total_bytes - bytes_.size()) {
    return absl::InvalidArgumentError("upload longer than total_bytes");
  }
  bytes_.append(chunk.data());
  if (bytes_.size() < header_.total_bytes && bytes_.size() - kept_ >= checkpoint_bytes_) {
    return Keep();
  }
  return absl::OkStatus();
}

absl::Status UploadAssembler::Keep() {
  if (bytes_.size() == kept_) return absl::OkStatus();
  RETURN_IF_ERROR(coordinator_->KeepUploadPrefix(
      header_, kept_, absl::string_view(bytes_).substr(kept_)));
  kept_ = bytes_.size();
  return absl::OkStatus();
}

absl::Status UploadAssembler::Incomplete() const {
  return absl::AbortedError(
      absl::StrFormat("upload incomplete: %d of %d bytes kept; resume at offset %d", kept_,
                      header_.total_bytes, kept_));
}

absl::StatusOr<std::pair<UpdateRecord, bool>> UploadAssembler::Finish() {
  if (!started_) return absl::FailedPreconditionError("upload finished before it started");
  if (accepted_.has_value()) return std::make_pair(*accepted_, true);
  if (bytes_.size() != header_.total_bytes) return Abandon(absl::OkStatus());
  return coordinator_->FinishUpload(header_, bytes_);
}

absl::Status UploadAssembler::Abandon(absl::Status why) {
  if (!started_ || accepted_.has_value()) return why;
  // A kept prefix is worth something only if the stream can continue it.
  absl::Status kept = bytes_.size() < header_.total_bytes ? Keep() : absl::OkStatus();
  if (!why.ok()) return why;
  if (!kept.ok()) return kept;
  return Incomplete();
}

}  // namespace qfleet::cloud
