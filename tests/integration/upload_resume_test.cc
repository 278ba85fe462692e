// End to end over gRPC: the agent's FleetClient uploads an update to a real
// coordinator, and the first UploadUpdate stream is cut after a few chunks
// (a client interceptor cancels it and reports UNAVAILABLE, as a dropped
// connection does). The client asks UploadStatus, resumes from the kept
// offset, and the coordinator records the update once, with the right bytes.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/client_interceptor.h>

#include "gtest/gtest.h"
#include "cloud/service/coordinator_server.h"
#include "common/container_quant.h"
#include "common/sha256.h"
#include "common/status_matchers.h"
#include "device/fleet_client.h"
#include "tests/cloud/fake_backend.h"
#include "tests/integration/test_util.h"

namespace qfleet {
namespace {

namespace fv1 = qfleet::fleet::v1;
using grpc::experimental::InterceptionHookPoints;

constexpr char kUploadMethod[] = "/qfleet.fleet.v1.FleetService/UploadUpdate";

// What the interceptors saw, shared with the test.
struct CutLog {
  std::mutex mu;
  std::vector<uint64_t> stream_starts;  // header offset of each upload stream
  int status_calls = 0;
  std::atomic<int> cuts_left{1};
};

// Cuts an UploadUpdate stream before its (cut_after + 1)-th message, after
// giving the ones sent time to arrive, and reports the call as UNAVAILABLE.
class CutInterceptor final : public grpc::experimental::Interceptor {
 public:
  CutInterceptor(grpc::experimental::ClientRpcInfo* info, CutLog* log, bool upload, bool cut,
                 int cut_after)
      : info_(info), log_(log), upload_(upload), cut_(cut), cut_after_(cut_after) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (upload_ && methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      const auto* chunk = static_cast<const fv1::UpdateChunk*>(methods->GetSendMessage());
      if (chunk != nullptr && chunk->has_header()) {
        std::lock_guard<std::mutex> lock(log_->mu);
        log_->stream_starts.push_back(chunk->offset());
      }
      if (cut_ && ++sent_ == cut_after_ + 1) {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        info_->client_context()->TryCancel();
      }
    }
    if (cut_ && methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_STATUS)) {
      *methods->GetRecvStatus() =
          grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection reset (injected)");
    }
    methods->Proceed();
  }

 private:
  grpc::experimental::ClientRpcInfo* info_;
  CutLog* log_;
  bool upload_;  // an UploadUpdate call (its messages are UpdateChunks)
  bool cut_;
  int cut_after_;
  int sent_ = 0;
};

class CutFactory final : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  CutFactory(CutLog* log, int cut_after) : log_(log), cut_after_(cut_after) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    const std::string method = info->method();
    if (method == "/qfleet.fleet.v1.FleetService/UploadStatus") {
      std::lock_guard<std::mutex> lock(log_->mu);
      ++log_->status_calls;
    }
    const bool upload = method == kUploadMethod;
    const bool cut = upload && log_->cuts_left.fetch_sub(1) > 0;
    return new CutInterceptor(info, log_, upload, cut, cut_after_);
  }

 private:
  CutLog* log_;
  int cut_after_;
};

TEST(UploadResumeTest, ClientResumesAStreamCutMidUploadAndTheUpdateIsRecordedOnce) {
  const auto dir = testing_util::MakeTempDir("qfleet-upload-resume");
  cloud::CoordinatorOptions o;
  o.db_path = (dir / "state.db").string();
  o.open_enrollment = true;
  ASSERT_OK_AND_ASSIGN(auto coordinator,
                       cloud::Coordinator::Open(o, std::make_unique<cloud::FakeBackend>()));
  cloud::ServerOptions server_options;
  server_options.insecure = true;
  ASSERT_OK_AND_ASSIGN(auto server,
                       cloud::CoordinatorServer::Start(coordinator.get(), server_options));

  CutLog log;
  constexpr size_t kChunk = 16;
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> factories;
  factories.push_back(std::make_unique<CutFactory>(&log, /*cut_after=*/4));  // header + 3 chunks
  auto channel = grpc::experimental::CreateCustomChannelWithInterceptors(
      server->address(), grpc::InsecureChannelCredentials(), grpc::ChannelArguments(),
      std::move(factories));
  device::FleetClientOptions client_options;
  client_options.chunk_bytes = kChunk;
  client_options.upload_retry_delay_ms = 1;
  device::FleetClient client(channel, client_options);
  device::RegisterInfo info;
  info.device_name = "cut-device";
  info.sample_count = 10;
  ASSERT_OK(client.Register(info));

  cloud::CampaignConfig cfg;
  cfg.rounds = 1;
  ASSERT_OK(coordinator->StartCampaign(cfg).status());
  ASSERT_OK(coordinator->Step());
  ASSERT_OK_AND_ASSIGN(device::PullResult pulled, client.PullTask());
  ASSERT_TRUE(pulled.task.has_value());
  ASSERT_OK_AND_ASSIGN(TensorContainer model, DecodeContainer(*coordinator->GetModel(0)->bytes));
  ASSERT_OK_AND_ASSIGN(TensorContainer q, QuantizeContainer(model, 8));
  ASSERT_OK_AND_ASSIGN(std::string update, EncodeContainer(q));
  ASSERT_GT(update.size(), 6 * kChunk);

  ASSERT_OK_AND_ASSIGN(bool duplicate,
                       client.UploadUpdate(pulled.task->task_id, "cut-e2e", 10, update));
  EXPECT_FALSE(duplicate);
  {
    std::lock_guard<std::mutex> lock(log.mu);
    // Two streams: the cut one from 0, the resumed one from the 3 chunks kept.
    ASSERT_EQ(log.stream_starts.size(), 2u) << ::testing::PrintToString(log.stream_starts);
    EXPECT_EQ(log.stream_starts[0], 0u);
    EXPECT_EQ(log.stream_starts[1], 3 * kChunk);
    EXPECT_EQ(log.status_calls, 1);
  }
  ASSERT_OK_AND_ASSIGN(auto updates, coordinator->store().ListUpdates(pulled.task->round));
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0].blob_hash, Sha256Hex(update));
  EXPECT_EQ(updates[0].bytes, update.size());
  ASSERT_OK_AND_ASSIGN(auto kept, coordinator->store().GetPartialUpload(
                                      client.device_id(), pulled.task->task_id, "cut-e2e"));
  EXPECT_FALSE(kept.has_value());
  // Retried whole (as an agent that lost the answer would), it is not recorded again.
  ASSERT_OK_AND_ASSIGN(duplicate, client.UploadUpdate(pulled.task->task_id, "cut-e2e", 10, update));
  EXPECT_TRUE(duplicate);
  EXPECT_EQ(coordinator->store().ListUpdates(pulled.task->round)->size(), 1u);

  server.reset();
  coordinator.reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace qfleet
