#include "device/fleet_client.h"

#include <chrono>
#include <thread>


#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/crc32c.h"
#include "common/sha256.h"
#include "common/status_matchers.h"
#include "tests/device/loopback_server.h"

namespace qfleet::device {
namespace {

namespace fv1 = qfleet::fleet::v1;

// A scripted FleetService: serves `model_` in chunks, optionally corrupting
// the stream the way a broken network or server would.
class ScriptedService final : public fv1::FleetService::Service {
 public:
  enum class Fault { kNone, kBadCrc, kTruncate, kBadSha, kGap, kBreakOnce };
  std::string model_ = std::string(5000, 'm');
  Fault fault_ = Fault::kNone;
  int downloads_ = 0;
  std::string last_auth_;
  // Upload side: what arrived (kept across broken streams), and where each
  // stream's header said it started.
  std::string uploaded_;
  std::vector<uint64_t> upload_starts_;
  int status_calls_ = 0;
  bool upload_done_ = false;

  grpc::Status Register(grpc::ServerContext*, const fv1::RegisterRequest* req,
                        fv1::RegisterResponse* resp) override {
    if (req->device_name().empty()) return {grpc::StatusCode::INVALID_ARGUMENT, "no name"};
    resp->set_device_id(7);
    resp->set_token("tok");
    return grpc::Status::OK;
  }
  grpc::Status PullTask(grpc::ServerContext* ctx, const fv1::PullTaskRequest*,
                        fv1::PullTaskResponse* resp) override {
    auto it = ctx->client_metadata().find("authorization");
    last_auth_ = it == ctx->client_metadata().end() ? "" : std::string(it->second.data(), it->second.size());
    auto* t = resp->mutable_task();
    t->set_task_id(3);
    t->set_strategy(fv1::STRATEGY_PTQ);
    t->set_weight_bits(4);
    t->mutable_train()->set_batch_size(16);
    return grpc::Status::OK;
  }
  grpc::Status DownloadModel(grpc::ServerContext*, const fv1::DownloadModelRequest* req,
                             grpc::ServerWriter<fv1::ModelChunk>* w) override {
    ++downloads_;
    size_t off = req->offset();
    const size_t step = 1000;
    int sent = 0;
    while (off < model_.size()) {
      size_t n = std::min(step, model_.size() - off);
      fv1::ModelChunk c;
      c.set_offset(fault_ == Fault::kGap && sent == 1 ? off + 1 : off);
      c.set_data(model_.substr(off, n));
      c.set_crc32c(Crc32c(model_.data() + off, n) ^ (fault_ == Fault::kBadCrc ? 1 : 0));
      c.set_total_bytes(model_.size());
      c.set_sha256(fault_ == Fault::kBadSha ? std::string(64, '0') : Sha256Hex(model_));
      w->Write(c);
      off += n;
      ++sent;
      if (fault_ == Fault::kTruncate && sent == 2) return grpc::Status::OK;
      if (fault_ == Fault::kBreakOnce && sent == 2 && downloads_ == 1) {
        return {grpc::StatusCode::UNAVAILABLE, "connection reset"};
      }
    }
    return grpc::Status::OK;
  }
  // Keeps what arrives; under kBreakOnce the first stream breaks after two
  // data chunks.
  grpc::Status UploadUpdate(grpc::ServerContext*, grpc::ServerReader<fv1::UpdateChunk>* r,
                            fv1::UploadUpdateResponse* resp) override {
    fv1::UpdateChunk c;
    if (!r->Read(&c) || !c.has_header()) return {grpc::StatusCode::INVALID_ARGUMENT, "header"};
    upload_starts_.push_back(c.offset());
    if (c.offset() != uploaded_.size()) return {grpc::StatusCode::OUT_OF_RANGE, "offset"};
    int chunks = 0;
    do {
      if (c.data().empty()) continue;
      if (c.offset() != uploaded_.size()) return {grpc::StatusCode::INVALID_ARGUMENT, "gap"};
      if (Crc32c(c.data().data(), c.data().size()) != c.crc32c()) {
        return {grpc::StatusCode::DATA_LOSS, "crc"};
      }
      uploaded_ += c.data();
      if (fault_ == Fault::kBreakOnce && ++chunks == 2 && upload_starts_.size() == 1) {
        return {grpc::StatusCode::UNAVAILABLE, "connection reset"};
      }
    } while (r->Read(&c));
    upload_done_ = true;
    resp->set_update_id(1);
    return grpc::Status::OK;
  }
  grpc::Status UploadStatus(grpc::ServerContext*, const fv1::UploadStatusRequest*,
                            fv1::UploadStatusResponse* resp) override {
    ++status_calls_;
    resp->set_accepted(upload_done_);
    resp->set_committed_bytes(upload_done_ ? 0 : uploaded_.size());
    resp->set_total_bytes(upload_total_);
    resp->set_sha256(upload_sha_);
    return grpc::Status::OK;
  }
  uint64_t upload_total_ = 0;
  std::string upload_sha_;
};

class FleetClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FleetClientOptions options;
    options.chunk_bytes = 1000;
    options.upload_retry_delay_ms = 1;
    LoopbackServer loopback = StartLoopbackServer(&service_, options);
    server_ = std::move(loopback.server);
    client_ = std::move(loopback.client);
  }
  void TearDown() override { server_->Shutdown(); }
  void Register() {
    RegisterInfo info;
    info.device_name = "d";
    ASSERT_OK(client_->Register(info));
  }

  ScriptedService service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<FleetClient> client_;
};

TEST_F(FleetClientTest, RegisterThenCallsCarryTheBearerToken) {
  Register();
  EXPECT_EQ(client_->device_id(), 7u);
  ASSERT_OK_AND_ASSIGN(PullResult r, client_->PullTask());
  ASSERT_TRUE(r.task.has_value());
  EXPECT_EQ(r.task->strategy, "ptq");
  EXPECT_EQ(r.task->weight_bits, 4u);
  EXPECT_EQ(r.task->batch_size, 16u);
  EXPECT_EQ(service_.last_auth_, "Bearer tok");
}

TEST_F(FleetClientTest, DownloadVerifiesAndReassemblesChunks) {
  Register();
  ASSERT_OK_AND_ASSIGN(std::string m, client_->DownloadModel(1, Sha256Hex(service_.model_)));
  EXPECT_EQ(m, service_.model_);
}

TEST_F(FleetClientTest, BrokenDownloadResumesFromLastGoodOffset) {
  Register();
  service_.fault_ = ScriptedService::Fault::kBreakOnce;
  ASSERT_OK_AND_ASSIGN(std::string m, client_->DownloadModel(1, ""));
  EXPECT_EQ(m, service_.model_);
  EXPECT_EQ(service_.downloads_, 2);
}

TEST_F(FleetClientTest, BrokenUploadResumesFromTheCommittedOffset) {
  Register();
  const std::string update(4500, 'u');
  service_.fault_ = ScriptedService::Fault::kBreakOnce;
  service_.upload_total_ = update.size();
  service_.upload_sha_ = Sha256Hex(update);
  ASSERT_OK_AND_ASSIGN(bool duplicate, client_->UploadUpdate(3, "req", 10, update));
  EXPECT_FALSE(duplicate);
  EXPECT_EQ(service_.uploaded_, update);
  EXPECT_THAT(service_.upload_starts_, ::testing::ElementsAre(0u, 2000u));
  EXPECT_EQ(service_.status_calls_, 1);
  // Asked again for a finished upload, the client learns it is done.
  service_.fault_ = ScriptedService::Fault::kNone;
  ASSERT_OK_AND_ASSIGN(duplicate, client_->UploadUpdate(3, "req", 10, update));
  EXPECT_TRUE(duplicate);  // refused at 0, then UploadStatus says accepted
}

TEST_F(FleetClientTest, KeptPrefixOfAnotherUpdateRestartsAtZero) {
  Register();
  const std::string update(4500, 'u');
  service_.fault_ = ScriptedService::Fault::kBreakOnce;
  service_.upload_total_ = update.size();
  service_.upload_sha_ = std::string(64, '0');  // not this update's
  // The scripted server refuses the restart at 0 (it kept 2000 bytes), so
  // the client gives up after its resumes with OUT_OF_RANGE.
  EXPECT_THAT(client_->UploadUpdate(3, "req", 10, update),
              StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(service_.upload_starts_, ::testing::Each(0u));
}

// --- Error paths -------------------------------------------------------------

TEST_F(FleetClientTest, CallsBeforeRegisterFail) {
  EXPECT_THAT(client_->PullTask(), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(client_->Heartbeat(), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(FleetClientTest, CorruptDownloadsAreDataLoss) {
  Register();
  for (auto fault : {ScriptedService::Fault::kBadCrc, ScriptedService::Fault::kTruncate,
                     ScriptedService::Fault::kBadSha, ScriptedService::Fault::kGap}) {
    service_.fault_ = fault;
    EXPECT_THAT(client_->DownloadModel(1, ""), StatusIs(absl::StatusCode::kDataLoss))
        << static_cast<int>(fault);
  }
  service_.fault_ = ScriptedService::Fault::kNone;
  EXPECT_THAT(client_->DownloadModel(1, std::string(64, 'f')),
              StatusIs(absl::StatusCode::kDataLoss));
}

TEST_F(FleetClientTest, UnreachableCoordinatorIsUnavailable) {
  FleetClientOptions o;
  o.rpc_timeout_ms = 300;
  FleetClient dead(grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials()), o);
  RegisterInfo info;
  info.device_name = "d";
  absl::Status s = dead.Register(info);
  EXPECT_TRUE(absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s)) << s;
}

TEST(FleetClientWaitTest, WaitForReadyRidesOutACoordinatorThatStartsLate) {
  // Take a free port, then let it go: nothing listens there for a while.
  ScriptedService service;
  LoopbackServer first = StartLoopbackServer(&service);
  const int port = first.port;
  first.server->Shutdown();
  first.server.reset();
  const std::string target = "127.0.0.1:" + std::to_string(port);
  RegisterInfo info;
  info.device_name = "d";
  FleetClientOptions fail_fast;
  fail_fast.rpc_timeout_ms = 2000;
  FleetClient quick(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()), fail_fast);
  absl::Status refused = quick.Register(info);
  EXPECT_TRUE(absl::IsUnavailable(refused) || absl::IsDeadlineExceeded(refused)) << refused;

  // Waiting: the first connection attempt is refused and gRPC backs off
  // (shortened here) before the next; the call must still succeed.
  FleetClientOptions waiting = fail_fast;
  waiting.rpc_timeout_ms = 15000;
  waiting.wait_for_ready = true;
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
  FleetClient patient(
      grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args), waiting);
  std::unique_ptr<grpc::Server> late;
  std::thread starter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    grpc::ServerBuilder b;
    b.AddListeningPort(target, grpc::InsecureServerCredentials());
    b.RegisterService(&service);
    late = b.BuildAndStart();
  });
  absl::Status s = patient.Register(info);
  starter.join();
  ASSERT_NE(late, nullptr);
  EXPECT_OK(s);
  EXPECT_EQ(patient.device_id(), 7u);
  late->Shutdown();
}

}  // namespace
}  // namespace qfleet::device
