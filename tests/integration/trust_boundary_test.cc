// Issue 23's adversarial tests: an attacker with network access and one
// valid enrollment, against a coordinator served over real gRPC with TLS on
// (in-process server on a loopback port, throw-away PKI).

#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "apps/client_channel.h"
#include "cloud/coordinator.h"
#include "cloud/metrics/metrics_http_server.h"
#include "cloud/service/coordinator_server.h"
#include "common/security/pki.h"
#include "common/status_matchers.h"
#include "common/tensor_container.h"
#include "device/fleet_client.h"
#include "qfleet/admin/v1/admin.grpc.pb.h"
#include "qfleet/fleet/v1/fleet.grpc.pb.h"
#include "tests/cloud/fake_backend.h"

namespace qfleet {
namespace {

using ::testing::HasSubstr;
namespace av1 = qfleet::admin::v1;
namespace fv1 = qfleet::fleet::v1;

constexpr char kJoinSecret[] = "fleet-join-secret-0123456789abcdef";
constexpr char kAdminToken[] = "0123456789abcdef0123456789abcdef-admin";

class TrustBoundaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("qfleet-trust-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    ASSERT_OK_AND_ASSIGN(pki_, GeneratePki());
  }
  void TearDown() override {
    server_.reset();
    coordinator_.reset();
    std::filesystem::remove_all(dir_);
  }
  // A coordinator with the fleet's join secret (or `secret`), TLS on; the
  // round engine is driven by Step() so every test decides when rounds close.
  void Start(const std::string& secret = kJoinSecret) {
    cloud::CoordinatorOptions o;
    o.db_path = (dir_ / "state.db").string();
    o.join_secret = secret;
    o.aggregation_backoff_ms = 1;
    auto c = cloud::Coordinator::Open(o, std::make_unique<cloud::FakeBackend>());
    ASSERT_OK(c.status());
    coordinator_ = *std::move(c);
    cloud::ServerOptions so;
    so.listen = "127.0.0.1:0";
    so.tls.cert_pem = pki_.server_cert;
    so.tls.key_pem = pki_.server_key;
    so.admin_token = kAdminToken;
    auto s = cloud::CoordinatorServer::Start(coordinator_.get(), so);
    ASSERT_OK(s.status());
    server_ = *std::move(s);
    address_ = "127.0.0.1:" + std::to_string(server_->port());
  }
  std::shared_ptr<grpc::Channel> Channel() {
    apps::ChannelSecurity sec;
    sec.ca_pem = pki_.ca_cert;
    return apps::MakeChannel(address_, sec);
  }
  std::unique_ptr<device::FleetClient> Client() {
    return std::make_unique<device::FleetClient>(Channel());
  }
  static device::RegisterInfo Info(const std::string& name, const std::string& secret,
                                   uint64_t samples = 100) {
    device::RegisterInfo info;
    info.device_name = name;
    info.join_secret = secret;
    info.sample_count = samples;
    return info;
  }
  grpc::Status Admin(const std::function<grpc::Status(av1::AdminService::Stub&,
                                                      grpc::ClientContext&)>& call) {
    auto stub = av1::AdminService::NewStub(Channel());
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", std::string("Bearer ") + kAdminToken);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return call(*stub, ctx);
  }
  std::string MintJoinToken(uint64_t max_uses) {
    av1::CreateJoinTokenResponse resp;
    av1::CreateJoinTokenRequest req;
    req.set_max_uses(max_uses);
    EXPECT_TRUE(Admin([&](auto& s, auto& ctx) { return s.CreateJoinToken(&ctx, req, &resp); }).ok());
    return resp.secret();
  }
  // An FP32 model upload: the fake backend's tensors with w filled by `w`.
  static std::string ModelWith(float w) {
    TensorContainer c;
    Tensor wt;
    wt.name = "w";
    wt.shape = {4, 3};
    wt.values.assign(12, w);
    Tensor b;
    b.name = "b";
    b.shape = {4};
    b.values.assign(4, 0);
    c.tensors = {wt, b};
    return EncodeContainer(c).value();
  }
  // Starts an fp32 campaign of one round over `n` devices and opens it.
  void OpenRound(uint32_t n) {
    cloud::CampaignConfig cfg;
    cfg.rounds = 1;
    cfg.min_devices = n;
    cfg.strategy = "fp32";
    ASSERT_OK(coordinator_->StartCampaign(cfg).status());
    ASSERT_OK(coordinator_->Step());
  }
  // Uploads `bytes` for the device's pulled task and reports, as an agent
  // finishing its task does.
  static void Contribute(device::FleetClient& client, const device::PullResult& pulled,
                         uint64_t samples, const std::string& bytes) {
    ASSERT_TRUE(pulled.task.has_value());
    ASSERT_OK(client.UploadUpdate(pulled.task->task_id, "u", samples, bytes).status());
    device::TaskReport report;
    report.task_id = pulled.task->task_id;
    report.request_id = "r";
    ASSERT_OK(client.SubmitReport(report).status());
  }
  // The w values of the latest model version.
  std::vector<float> LatestW() {
    auto blob = coordinator_->GetModel(0).value();
    TensorContainer c = DecodeContainer(*blob.bytes).value();
    return c.Find("w")->values;
  }

  std::filesystem::path dir_;
  Pki pki_;
  std::unique_ptr<cloud::Coordinator> coordinator_;
  std::unique_ptr<cloud::CoordinatorServer> server_;
  std::string address_;
};

// Hole 1: the fleet's shared secret no longer rotates another device's token.
TEST_F(TrustBoundaryTest, TakeoverWithTheSharedSecretIsRefusedAndTheVictimKeepsWorking) {
  Start();
  auto victim = Client();
  ASSERT_OK(victim->Register(Info("phone-7", kJoinSecret)));
  auto attacker = Client();
  absl::Status takeover = attacker->Register(Info("phone-7", kJoinSecret));
  EXPECT_THAT(takeover, StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(std::string(takeover.message()), HasSubstr("devices reset"));
  EXPECT_OK(victim->Heartbeat());
  EXPECT_OK(victim->PullTask().status());
  // The victim itself rotates with its current token; the old one dies.
  const std::string old_token = victim->token();
  ASSERT_OK(victim->Register(Info("phone-7", "")));
  EXPECT_NE(victim->token(), old_token);
  auto stale = Client();
  device::RegisterInfo replay = Info("phone-7", "");
  replay.current_token = old_token;
  EXPECT_THAT(stale->Register(replay), StatusIs(absl::StatusCode::kPermissionDenied));
}

// A join token re-enrolls only the names it enrolled (even used up); another
// token, or the shared secret, cannot.
TEST_F(TrustBoundaryTest, AJoinTokenReenrollsOnlyTheNamesItEnrolled) {
  Start();
  const std::string mine = MintJoinToken(1);
  const std::string other = MintJoinToken(5);
  ASSERT_OK(Client()->Register(Info("sensor-1", mine)));
  EXPECT_OK(Client()->Register(Info("sensor-1", mine)));  // used up, still its own name
  EXPECT_THAT(Client()->Register(Info("sensor-1", other)),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Client()->Register(Info("sensor-1", kJoinSecret)),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Client()->Register(Info("sensor-2", mine)),
              StatusIs(absl::StatusCode::kPermissionDenied));  // used up for new names
}

// After an admin reset the next valid enrollment takes the name; the old
// token stops working at once.
TEST_F(TrustBoundaryTest, AdminResetLetsALostDeviceEnrollAgain) {
  Start();
  auto lost = Client();
  ASSERT_OK(lost->Register(Info("kiosk", kJoinSecret)));
  av1::ResetDeviceRequest req;
  req.set_device_id(lost->device_id());
  av1::ResetDeviceResponse resp;
  ASSERT_TRUE(Admin([&](auto& s, auto& ctx) { return s.ResetDevice(&ctx, req, &resp); }).ok());
  EXPECT_EQ(resp.device().state(), "offline");
  EXPECT_THAT(lost->Heartbeat(), StatusIs(absl::StatusCode::kUnauthenticated));
  auto again = Client();
  ASSERT_OK(again->Register(Info("kiosk", kJoinSecret)));
  EXPECT_EQ(again->device_id(), lost->device_id());
  EXPECT_THAT(Client()->Register(Info("kiosk", kJoinSecret)),
              StatusIs(absl::StatusCode::kPermissionDenied));
  // A revoked device is not reset (enable does that), and unknown ids are NotFound.
  req.set_device_id(999);
  EXPECT_EQ(Admin([&](auto& s, auto& ctx) { return s.ResetDevice(&ctx, req, &resp); }).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

// No enrollment credential configured: Register says how to configure one.
TEST_F(TrustBoundaryTest, ClosedEnrollmentSaysHowToOpenIt) {
  Start(/*secret=*/"");
  absl::Status s = Client()->Register(Info("d", ""));
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(std::string(s.message()), HasSubstr("--join-secret-file"));
  EXPECT_THAT(Client()->Register(Info("d", "guess")), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_OK(Client()->Register(Info("d", MintJoinToken(1))));
}

// A per-device (single-use) join token is revoked with its device, so the
// revoked device's own token cannot bring it back after an enable either.
TEST_F(TrustBoundaryTest, PerDeviceJoinTokenIsRevokedWithItsDevice) {
  Start();
  const std::string token = MintJoinToken(1);
  auto d = Client();
  ASSERT_OK(d->Register(Info("cam-3", token)));
  av1::RevokeDeviceRequest req;
  req.set_device_id(d->device_id());
  av1::RevokeDeviceResponse resp;
  ASSERT_TRUE(Admin([&](auto& s, auto& ctx) { return s.RevokeDevice(&ctx, req, &resp); }).ok());
  av1::ListJoinTokensResponse tokens;
  ASSERT_TRUE(Admin([&](auto& s, auto& ctx) {
                return s.ListJoinTokens(&ctx, av1::ListJoinTokensRequest(), &tokens);
              }).ok());
  ASSERT_EQ(tokens.tokens_size(), 1);
  EXPECT_EQ(tokens.tokens(0).state(), "revoked");
  av1::EnableDeviceRequest en;
  en.set_device_id(d->device_id());
  av1::EnableDeviceResponse en_resp;
  ASSERT_TRUE(Admin([&](auto& s, auto& ctx) { return s.EnableDevice(&ctx, en, &en_resp); }).ok());
  EXPECT_THAT(Client()->Register(Info("cam-3", token)), StatusIs(absl::StatusCode::kPermissionDenied));
}

// Hole 2: a device claiming 10^9 samples weighs what it registered.
TEST_F(TrustBoundaryTest, ClaimingABillionSamplesMovesTheModelOnlyByItsRegisteredShare) {
  Start();
  std::vector<std::unique_ptr<device::FleetClient>> fleet;
  for (int i = 0; i < 4; ++i) {
    fleet.push_back(Client());
    ASSERT_OK(fleet.back()->Register(Info("d" + std::to_string(i), kJoinSecret, 100)));
  }
  OpenRound(4);
  for (int i = 0; i < 4; ++i) {
    ASSERT_OK_AND_ASSIGN(device::PullResult pulled, fleet[i]->PullTask());
    const bool attacker = i == 3;
    Contribute(*fleet[i], pulled, attacker ? 1000000000ull : 100,
               ModelWith(attacker ? 100.0f : 0.0f));
  }
  ASSERT_OK(coordinator_->Step());  // every participant uploaded: aggregate
  // Equal registered counts: the attacker's model is a quarter of the mean.
  for (float w : LatestW()) EXPECT_NEAR(w, 25.0f, 1e-3);
}

// Hole 2, second half: a device that also *registered* 10^9 samples is
// held to its share of the round (default 4 / participants = 1/2 here).
TEST_F(TrustBoundaryTest, ADeviceThatRegisteredABillionSamplesGetsAtMostItsShare) {
  Start();
  std::vector<std::unique_ptr<device::FleetClient>> fleet;
  for (int i = 0; i < 8; ++i) {
    fleet.push_back(Client());
    ASSERT_OK(fleet.back()->Register(
        Info("d" + std::to_string(i), kJoinSecret, i == 7 ? 1000000000ull : 100)));
  }
  OpenRound(8);
  for (int i = 0; i < 8; ++i) {
    ASSERT_OK_AND_ASSIGN(device::PullResult pulled, fleet[i]->PullTask());
    Contribute(*fleet[i], pulled, i == 7 ? 1000000000ull : 100, ModelWith(i == 7 ? 100.0f : 0.0f));
  }
  ASSERT_OK(coordinator_->Step());
  // Uncapped it would be ~100 (10^9 against 700); capped, exactly half.
  for (float w : LatestW()) EXPECT_NEAR(w, 50.0f, 1e-3);
}

// With the median aggregator one device sending a 1000x update leaves the
// model within the honest devices' spread.
TEST_F(TrustBoundaryTest, TheMedianAggregatorIgnoresAThousandfoldUpdate) {
  Start();
  std::vector<std::unique_ptr<device::FleetClient>> fleet;
  for (int i = 0; i < 5; ++i) {
    fleet.push_back(Client());
    ASSERT_OK(fleet.back()->Register(Info("d" + std::to_string(i), kJoinSecret)));
  }
  cloud::CampaignConfig cfg;
  cfg.rounds = 1;
  cfg.min_devices = 5;
  cfg.strategy = "fp32";
  cfg.aggregator = "median";
  ASSERT_OK(coordinator_->StartCampaign(cfg).status());
  ASSERT_OK(coordinator_->Step());
  const float honest[] = {0.9f, 0.95f, 1.0f, 1.05f};
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK_AND_ASSIGN(device::PullResult pulled, fleet[i]->PullTask());
    Contribute(*fleet[i], pulled, 100, ModelWith(i == 4 ? 1000.0f : honest[i]));
  }
  ASSERT_OK(coordinator_->Step());
  for (float w : LatestW()) {
    EXPECT_GE(w, 0.9f);
    EXPECT_LE(w, 1.05f);
  }
}

// Hole 3: an update of a device revoked mid-round is not aggregated, and
// the round says which updates were left out.
TEST_F(TrustBoundaryTest, DeviceRevokedMidRoundContributesNothing) {
  Start();
  auto honest = Client();
  auto revoked = Client();
  ASSERT_OK(honest->Register(Info("honest", kJoinSecret)));
  ASSERT_OK(revoked->Register(Info("revoked", kJoinSecret)));
  OpenRound(2);
  ASSERT_OK_AND_ASSIGN(device::PullResult a, honest->PullTask());
  ASSERT_OK_AND_ASSIGN(device::PullResult b, revoked->PullTask());
  ASSERT_OK(revoked->UploadUpdate(b.task->task_id, "r", 100, ModelWith(1000.0f)).status());
  av1::RevokeDeviceRequest req;
  req.set_device_id(revoked->device_id());
  av1::RevokeDeviceResponse resp;
  ASSERT_TRUE(Admin([&](auto& s, auto& ctx) { return s.RevokeDevice(&ctx, req, &resp); }).ok());
  Contribute(*honest, a, 100, ModelWith(1.0f));
  ASSERT_OK(coordinator_->Step());
  for (float w : LatestW()) EXPECT_NEAR(w, 1.0f, 1e-6);
  av1::GetRoundRequest rq;
  rq.set_round(1);
  av1::GetRoundResponse round;
  ASSERT_TRUE(Admin([&](auto& s, auto& ctx) { return s.GetRound(&ctx, rq, &round); }).ok());
  EXPECT_EQ(round.round().state(), "done");
  EXPECT_THAT(round.round().detail(), HasSubstr("\"aggregated\":1"));
  EXPECT_THAT(round.round().detail(), HasSubstr("participant dropped"));
}

// Hole 4: 100 concurrent upload streams from one device: only one is
// admitted, nothing of the others is buffered, memory stays bounded.
TEST_F(TrustBoundaryTest, HundredConcurrentUploadStreamsFromOneDeviceAreRefusedBeyondTheFirst) {
  Start();
  auto d = Client();
  ASSERT_OK(d->Register(Info("flood", kJoinSecret)));
  OpenRound(1);
  ASSERT_OK_AND_ASSIGN(device::PullResult pulled, d->PullTask());
  const std::string update = ModelWith(2.0f);
  auto stub = fv1::FleetService::NewStub(Channel());
  fv1::UpdateChunk first;
  auto* h = first.mutable_header();
  h->set_device_id(d->device_id());
  h->set_task_id(pulled.task->task_id);
  h->set_sample_count(100);
  h->set_total_bytes(update.size());
  h->set_sha256(std::string(64, 'a'));
  struct Stream {
    grpc::ClientContext ctx;
    fv1::UploadUpdateResponse resp;
    std::unique_ptr<grpc::ClientWriter<fv1::UpdateChunk>> writer;
  };
  std::vector<std::unique_ptr<Stream>> streams;
  for (int i = 0; i < 100; ++i) {
    auto s = std::make_unique<Stream>();
    s->ctx.AddMetadata("authorization", "Bearer " + d->token());
    s->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    h->set_request_id("flood-" + std::to_string(i));
    s->writer = stub->UploadUpdate(&s->ctx, &s->resp);
    s->writer->Write(first);  // the header only: the first stream stays open
    streams.push_back(std::move(s));
    if (i == 0) std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  int refused = 0, other = 0;
  for (size_t i = 1; i < streams.size(); ++i) {
    streams[i]->writer->WritesDone();
    grpc::Status st = streams[i]->writer->Finish();
    if (st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++refused;
      EXPECT_THAT(st.error_message(), HasSubstr("already has an upload in flight"));
    } else {
      ++other;
    }
  }
  EXPECT_EQ(refused, 99) << other << " streams ended otherwise";
  streams[0]->ctx.TryCancel();
  (void)streams[0]->writer->Finish();
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  EXPECT_LT(usage.ru_maxrss, 1024 * 1024);  // KiB: the whole test process under 1 GiB
}

// Hole 5: a client that connects to /metrics and sends nothing delays no
// other scrape.
TEST_F(TrustBoundaryTest, ASlowClientDoesNotBlockMetrics) {
  Start();
  ASSERT_OK_AND_ASSIGN(auto metrics, cloud::MetricsHttpServer::Start("127.0.0.1:0", [this] {
                         return server_->MetricsText();
                       }));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(metrics->port()));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  int slow = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(::connect(slow, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto t0 = std::chrono::steady_clock::now();
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const std::string get = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::send(fd, get.data(), get.size(), 0), static_cast<ssize_t>(get.size()));
  std::string reply;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof(buf), 0)) > 0;) reply.append(buf, n);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ::close(fd);
  ::close(slow);
  EXPECT_THAT(reply, HasSubstr("200 OK"));
  EXPECT_THAT(reply, HasSubstr("qfleet_devices_registered"));
  EXPECT_LT(ms, 1000.0);
}

// Safe defaults: weak admin tokens are refused; a plaintext listener that
// is not loopback gets no open admin API.
TEST_F(TrustBoundaryTest, WeakAdminTokensAndAnOpenPlaintextAdminApiAreRefused) {
  Start();
  for (const char* weak : {"short-token", "CHANGE-ME-placeholder-admin-token-0123456789"}) {
    cloud::ServerOptions so;
    so.listen = "127.0.0.1:0";
    so.insecure = true;
    so.admin_token = weak;
    EXPECT_THAT(cloud::CoordinatorServer::Start(coordinator_.get(), so).status(),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << weak;
  }
  cloud::ServerOptions so;
  so.listen = "0.0.0.0:0";
  so.insecure = true;
  ASSERT_OK_AND_ASSIGN(auto open, cloud::CoordinatorServer::Start(coordinator_.get(), so));
  auto stub = av1::AdminService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(open->port()), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  av1::StatusResponse resp;
  EXPECT_EQ(stub->GetStatus(&ctx, av1::StatusRequest(), &resp).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

}  // namespace
}  // namespace qfleet
