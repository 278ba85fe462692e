#ifndef QFLEET_CLOUD_SERVICE_FLEET_SERVICE_IMPL_H_
#define QFLEET_CLOUD_SERVICE_FLEET_SERVICE_IMPL_H_

#include <cstddef>

#include "cloud/coordinator.h"
#include "cloud/service/upload_gate.h"
#include "qfleet/fleet/v1/fleet.grpc.pb.h"

namespace qfleet::cloud {

// gRPC adapter of the device API: authenticates, converts messages
// (fleet_conversions.h) and calls Coordinator. Holds no state of its own
// beyond the coordinator pointer (not owned; must outlive the service).
class FleetServiceImpl final : public qfleet::fleet::v1::FleetService::Service {
 public:
  // `chunk_bytes`: size of DownloadModel chunks. `max_chunk_bytes`: largest
  // upload chunk accepted. `checkpoint_bytes`: an upload stream stores its
  // verified prefix (for resuming) each time this much more has arrived, and
  // when it breaks.
  // Upload streams pass an UploadGate: one per device at a time, at most
  // `max_inflight_upload_bytes` announced bytes over all of them, each
  // cancelled after `upload_stream_timeout_ms`.
  explicit FleetServiceImpl(Coordinator* coordinator, size_t chunk_bytes = 1 << 20,
                            size_t max_chunk_bytes = 4 << 20, size_t checkpoint_bytes = 8 << 20,
                            uint64_t max_inflight_upload_bytes = 512ull << 20,
                            int64_t upload_stream_timeout_ms = 300000);

  grpc::Status Register(grpc::ServerContext* ctx, const fleet::v1::RegisterRequest* req,
                        fleet::v1::RegisterResponse* resp) override;
  grpc::Status Heartbeat(grpc::ServerContext* ctx, const fleet::v1::HeartbeatRequest* req,
                         fleet::v1::HeartbeatResponse* resp) override;
  grpc::Status PullTask(grpc::ServerContext* ctx, const fleet::v1::PullTaskRequest* req,
                        fleet::v1::PullTaskResponse* resp) override;
  grpc::Status DownloadModel(grpc::ServerContext* ctx, const fleet::v1::DownloadModelRequest* req,
                             grpc::ServerWriter<fleet::v1::ModelChunk>* writer) override;
  grpc::Status UploadUpdate(grpc::ServerContext* ctx,
                            grpc::ServerReader<fleet::v1::UpdateChunk>* reader,
                            fleet::v1::UploadUpdateResponse* resp) override;
  // The streaming handlers' bodies over the stream interfaces, so the
  // fuzzers (tests/fuzz) drive them without a transport. Same contract as
  // DownloadModel / UploadUpdate.
  grpc::Status SendModel(grpc::ServerContext* ctx, const fleet::v1::DownloadModelRequest* req,
                         grpc::ServerWriterInterface<fleet::v1::ModelChunk>* writer);
  grpc::Status ReceiveUpdate(grpc::ServerContext* ctx,
                             grpc::ServerReaderInterface<fleet::v1::UpdateChunk>* reader,
                             fleet::v1::UploadUpdateResponse* resp);
  grpc::Status UploadStatus(grpc::ServerContext* ctx, const fleet::v1::UploadStatusRequest* req,
                            fleet::v1::UploadStatusResponse* resp) override;
  grpc::Status RequestPlan(grpc::ServerContext* ctx, const fleet::v1::PlanRequest* req,
                           fleet::v1::PlanResponse* resp) override;
  grpc::Status SubmitReport(grpc::ServerContext* ctx, const fleet::v1::SubmitReportRequest* req,
                            fleet::v1::SubmitReportResponse* resp) override;

 private:
  absl::Status Authenticate(grpc::ServerContext* ctx, uint64_t device_id);

  Coordinator* coordinator_;
  size_t chunk_bytes_;
  size_t max_chunk_bytes_;
  size_t checkpoint_bytes_;
  UploadGate upload_gate_;
};

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_SERVICE_FLEET_SERVICE_IMPL_H_
