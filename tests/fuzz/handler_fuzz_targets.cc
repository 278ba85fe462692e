#include "tests/fuzz/handler_fuzz_targets.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>

#include <google/protobuf/stubs/logging.h>
#include <grpcpp/test/server_context_test_spouse.h>

#include "cloud/coordinator.h"
#include "cloud/service/admin_service_impl.h"
#include "cloud/service/fleet_service_impl.h"
#include "common/clock.h"
#include "common/container_quant.h"
#include "common/crc32c.h"
#include "common/plan_codec.h"
#include "common/status_macros.h"
#include "common/sha256.h"
#include "qfleet/admin/v1/admin.pb.h"
#include "qfleet/fleet/v1/fleet.pb.h"
#include "tests/cloud/fake_backend.h"

namespace qfleet::cloud::fuzz {
namespace {

namespace fv1 = qfleet::fleet::v1;
namespace av1 = qfleet::admin::v1;

constexpr char kAdminToken[] = "fuzz-admin-token";
// The coordinator is rebuilt after this many inputs, so state (devices
// registered by the fuzzer, rounds) stays small.
constexpr int kInputsPerCoordinator = 2000;

int64_t ok_calls = 0;

// Counts handler calls that succeeded, so the replay can tell the inputs
// got past decoding and authentication.
grpc::Status Count(grpc::Status s) {
  ok_calls += s.ok() ? 1 : 0;
  return s;
}

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    std::abort();
  }
}

// CHORD plans for the fuzzed RequestPlan calls: one 8-channel layer, codes
// from the embedding's signs; a fleet-wide plan for "chord-mean" only.
class FuzzPlanner final : public PlanGenerator {
 public:
  std::string Id() const override { return "fuzz-planner"; }
  int64_t EmbedDim() const override { return 4; }
  absl::StatusOr<std::vector<std::string>> Generate(const std::vector<float>& e,
                                                    const std::vector<uint64_t>& versions) override {
    Check(e.size() == versions.size() * 4, "the coordinator batches whole embeddings");
    std::vector<std::string> out;
    for (size_t i = 0; i < versions.size(); ++i) {
      PrecisionPlan p = Layer();
      p.version = versions[i];
      for (int c = 0; c < 8; ++c) p.codes.push_back(e[i * 4 + c % 4] > 0 ? 0 : 3);
      ASSIGN_OR_RETURN(std::string bytes, EncodePlan(p));
      out.push_back(std::move(bytes));
    }
    return out;
  }
  absl::StatusOr<FleetPlan> FleetPlanFor(const std::string& method) override {
    if (method != "chord-mean") return absl::NotFoundError("no fleet plan for " + method);
    PrecisionPlan p = Layer();
    p.codes.assign(8, 1);
    ASSIGN_OR_RETURN(std::string bytes, EncodePlan(p));
    return FleetPlan{std::move(bytes), {4, 3, 3, 2}};
  }

 private:
  static PrecisionPlan Layer() {
    PrecisionPlan p;
    p.layer_names = {"w"};
    p.channels = {8};
    return p;
  }
};

// One coordinator on ":memory:" with the fake backend and a fake clock:
// devices A and B registered, a one-round campaign started, round 1 open
// with a task for each.
struct Fleet {
  FakeClock clock{1'000'000};
  std::string blob_dir;
  std::unique_ptr<Coordinator> coordinator;
  std::unique_ptr<FleetServiceImpl> fleet;
  std::unique_ptr<AdminServiceImpl> admin;
  uint64_t device_id[2] = {0, 0};
  std::string token[2];
  uint64_t task_id[2] = {0, 0};
  std::string good_update;  // a valid update container for the model
  int inputs = 0;

  Fleet() {
    blob_dir = (std::filesystem::temp_directory_path() /
                ("qfleet-fuzz-blobs-" + std::to_string(::getpid())))
                   .string();
    std::filesystem::remove_all(blob_dir);
    CoordinatorOptions o;
    o.db_path = ":memory:";
    o.open_enrollment = true;
    o.blob_dir = blob_dir;
    o.clock = &clock;
    o.max_update_bytes = 1 << 20;
    o.plan_batch_wait_us = 0;
    auto c = Coordinator::Open(o, std::make_unique<FakeBackend>());
    Check(c.ok(), "coordinator opens");
    coordinator = *std::move(c);
    coordinator->SetPlanGenerator(std::make_shared<FuzzPlanner>());
    // Small chunks so model downloads stream several of them.
    fleet = std::make_unique<FleetServiceImpl>(coordinator.get(), 64, 1 << 16, 256);
    admin = std::make_unique<AdminServiceImpl>(coordinator.get(),
                                               AdminAuthorizer(kAdminToken, false), 64);
    for (int i = 0; i < 2; ++i) {
      DeviceRecord d;
      d.name = i == 0 ? "fuzz-a" : "fuzz-b";
      d.sample_count = 10;
      auto reg = coordinator->Register(d, "");
      Check(reg.ok(), "devices register");
      device_id[i] = reg->device_id;
      token[i] = reg->token;
    }
    CampaignConfig cfg;
    cfg.rounds = 1;
    Check(coordinator->StartCampaign(cfg).ok(), "campaign starts");
    Check(coordinator->Step().ok(), "round opens");
    for (int i = 0; i < 2; ++i) {
      auto t = coordinator->PullTask(device_id[i]);
      Check(t.ok() && t->task.has_value(), "tasks handed out");
      task_id[i] = t->task->task_id;
    }
    auto model = DecodeContainer(*coordinator->GetModel(0)->bytes);
    Check(model.ok(), "model decodes");
    good_update = *EncodeContainer(*QuantizeContainer(*model, 8));
  }
  ~Fleet() {
    admin.reset();
    fleet.reset();
    coordinator.reset();
    std::filesystem::remove_all(blob_dir);
  }
};

std::unique_ptr<Fleet>& FleetSlot() {
  static std::unique_ptr<Fleet> fleet;
  return fleet;
}

Fleet& GetFleet() {
  // Malformed strings make protobuf log each parse failure: keep quiet.
  static const bool quiet = (google::protobuf::SetLogHandler(nullptr), true);
  (void)quiet;
  std::unique_ptr<Fleet>& fleet = FleetSlot();
  if (fleet == nullptr || ++fleet->inputs > kInputsPerCoordinator) {
    fleet.reset();
    fleet = std::make_unique<Fleet>();
  }
  return *fleet;
}

// A server context carrying "authorization: Bearer <token>".
class AuthedContext {
 public:
  explicit AuthedContext(const std::string& token) : spouse_(&ctx_) {
    if (!token.empty()) spouse_.AddClientMetadata("authorization", "Bearer " + token);
  }
  grpc::ServerContext* get() { return &ctx_; }

 private:
  grpc::ServerContext ctx_;
  grpc::testing::ServerContextTestSpouse spouse_;
};

// Collects a streamed model's chunks (DownloadModel's ModelChunk or
// ExportModel's ExportModelChunk) and checks they reassemble the model.
template <typename Chunk>
class ChunkCollector final : public grpc::ServerWriterInterface<Chunk> {
 public:
  void SendInitialMetadata() override {}
  bool Write(const Chunk& chunk, grpc::WriteOptions) override {
    if (chunks_++ == 0) offset_ = chunk.offset();
    Check(chunk.offset() == offset_ + bytes_.size(), "model chunks are consecutive");
    Check(Crc32c(chunk.data().data(), chunk.data().size()) == chunk.crc32c(), "model chunk CRC");
    bytes_ += chunk.data();
    total_ = chunk.total_bytes();
    sha_ = chunk.sha256();
    return true;
  }
  // A stream from offset 0 must be the whole object, matching its hash.
  void CheckWhole() const {
    if (offset_ != 0 || total_ == 0) return;
    Check(bytes_.size() == total_ && Sha256Hex(bytes_) == sha_, "model reassembles");
  }
  int chunks() const { return chunks_; }

 private:
  int chunks_ = 0;
  uint64_t offset_ = 0;  // of the first chunk
  uint64_t total_ = 0;
  std::string bytes_, sha_;
};

// Feeds parsed UpdateChunks, then reports the end of the stream.
class ChunkFeeder final : public grpc::ServerReaderInterface<fv1::UpdateChunk> {
 public:
  explicit ChunkFeeder(std::vector<fv1::UpdateChunk> chunks) : chunks_(std::move(chunks)) {}
  void SendInitialMetadata() override {}
  bool NextMessageSize(uint32_t* sz) override {
    if (next_ >= chunks_.size()) return false;
    *sz = static_cast<uint32_t>(chunks_[next_].ByteSizeLong());
    return true;
  }
  bool Read(fv1::UpdateChunk* msg) override {
    if (next_ >= chunks_.size()) return false;
    *msg = chunks_[next_++];
    return true;
  }

 private:
  std::vector<fv1::UpdateChunk> chunks_;
  size_t next_ = 0;
};

template <typename Message>
bool Parse(const uint8_t* data, size_t size, Message* msg) {
  return msg->ParseFromArray(data, static_cast<int>(size));
}

// The caller of a fleet call: device A, device B, or a wrong token.
std::string TokenFor(const Fleet& f, uint8_t who) {
  switch (who % 3) {
    case 0: return f.token[0];
    case 1: return f.token[1];
    default: return "not-a-token";
  }
}
uint64_t DeviceFor(const Fleet& f, uint8_t who, uint64_t fuzzed) {
  if (who & 0x80) return fuzzed;  // keep the fuzzed id: cross-device attempts
  return f.device_id[(who % 3) == 1 ? 1 : 0];
}

// The store never holds two updates of one device in a round.
void CheckUpdatesUnique(Fleet& f) {
  auto updates = f.coordinator->store().ListUpdates(1);
  Check(updates.ok(), "updates list");
  for (size_t i = 1; i < updates->size(); ++i) {
    Check((*updates)[i - 1].device_id != (*updates)[i].device_id, "one update per device");
  }
}

}  // namespace

int FuzzFleetRequest(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  Fleet& f = GetFleet();
  const uint8_t rpc = data[0], who = data[1];
  data += 2;
  size -= 2;
  AuthedContext ctx(TokenFor(f, who));
  switch (rpc % 7) {
    case 0: {
      fv1::RegisterRequest req;
      fv1::RegisterResponse resp;
      if (!Parse(data, size, &req)) return 0;
      // Re-registering A or B would rotate the tokens the other cases use.
      if (req.device_name().rfind("fuzz-", 0) == 0) return 0;
      grpc::Status s = Count(f.fleet->Register(ctx.get(), &req, &resp));
      if (s.ok()) {
        Check(resp.device_id() != 0 && !resp.token().empty(), "registration answers id+token");
        Check(f.coordinator->Authenticate(resp.device_id(), resp.token()).ok(),
              "new token authenticates");
      }
      break;
    }
    case 1: {
      fv1::HeartbeatRequest req;
      fv1::HeartbeatResponse resp;
      if (!Parse(data, size, &req)) return 0;
      req.set_device_id(DeviceFor(f, who, req.device_id()));
      Count(f.fleet->Heartbeat(ctx.get(), &req, &resp));
      break;
    }
    case 2: {
      fv1::PullTaskRequest req;
      fv1::PullTaskResponse resp;
      if (!Parse(data, size, &req)) return 0;
      req.set_device_id(DeviceFor(f, who, req.device_id()));
      grpc::Status s = Count(f.fleet->PullTask(ctx.get(), &req, &resp));
      if (s.ok() && resp.has_task()) {
        auto task = f.coordinator->store().GetTask(resp.task().task_id());
        Check(task.ok() && task->device_id == req.device_id(), "a device pulls only its task");
      }
      break;
    }
    case 3: {
      fv1::DownloadModelRequest req;
      if (!Parse(data, size, &req)) return 0;
      req.set_device_id(DeviceFor(f, who, req.device_id()));
      ChunkCollector<fv1::ModelChunk> out;
      if (Count(f.fleet->SendModel(ctx.get(), &req, &out)).ok()) out.CheckWhole();
      break;
    }
    case 4: {
      fv1::SubmitReportRequest req;
      fv1::SubmitReportResponse resp;
      if (!Parse(data, size, &req)) return 0;
      req.mutable_report()->set_device_id(DeviceFor(f, who, req.report().device_id()));
      Count(f.fleet->SubmitReport(ctx.get(), &req, &resp));
      auto reports = f.coordinator->store().ListReports(1);
      Check(reports.ok() && reports->size() <= 2, "at most one report per device");
      break;
    }
    case 6: {
      fv1::PlanRequest req;
      fv1::PlanResponse resp;
      if (!Parse(data, size, &req)) return 0;
      req.set_device_id(DeviceFor(f, who, req.device_id()));
      if (Count(f.fleet->RequestPlan(ctx.get(), &req, &resp)).ok()) {
        auto plan = DecodePlan(resp.plan());
        Check(plan.ok() && plan->codes.size() == 8, "a served plan decodes");
        if (req.method() == "chord") {
          auto stored = f.coordinator->store().LatestPlanForDevice(req.device_id());
          Check(stored.ok() && stored->has_value() && (*stored)->bytes == resp.plan(),
                "a device's chord plan is its latest stored plan");
        }
      }
      break;
    }
    case 5: {
      fv1::UploadStatusRequest req;
      fv1::UploadStatusResponse resp;
      if (!Parse(data, size, &req)) return 0;
      req.set_device_id(DeviceFor(f, who, req.device_id()));
      Count(f.fleet->UploadStatus(ctx.get(), &req, &resp));
      break;
    }
  }
  // Now and then let the round engine move (deadlines, aggregation).
  if (rpc & 0x80) {
    f.clock.Advance(static_cast<int64_t>(rpc & 0x7f) * 10'000);
    (void)f.coordinator->Step();
  }
  return 0;
}

int FuzzUploadStream(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  Fleet& f = GetFleet();
  const uint8_t flags = data[0];
  std::vector<fv1::UpdateChunk> chunks;
  size_t pos = 1;
  while (pos + 2 <= size && chunks.size() < 64) {
    const size_t n = data[pos] | (static_cast<size_t>(data[pos + 1]) << 8);
    pos += 2;
    if (n > size - pos) break;
    fv1::UpdateChunk c;
    if (!c.ParseFromArray(data + pos, static_cast<int>(n))) return 0;
    chunks.push_back(std::move(c));
    pos += n;
  }
  if (chunks.empty()) return 0;
  const int dev = (flags & 0x10) ? 1 : 0;
  fv1::UpdateChunk::Header* h = chunks[0].mutable_header();
  if (flags & 0x01) {  // the caller's own ids and task
    h->set_device_id(f.device_id[dev]);
    h->set_task_id(f.task_id[dev]);
  }
  if (flags & 0x02) {  // good CRCs
    for (auto& c : chunks) c.set_crc32c(Crc32c(c.data().data(), c.data().size()));
  }
  std::string sent;
  for (const auto& c : chunks) sent += c.data();
  if (flags & 0x04) {  // a header that matches what is sent (from its offset)
    h->set_total_bytes(chunks[0].offset() + sent.size());
    h->set_sha256(Sha256Hex(sent));
  }
  if (flags & 0x08) {  // the data is a real update, cut at the chunks' sizes
    size_t off = 0;
    for (size_t i = 0; i < chunks.size(); ++i) {
      fv1::UpdateChunk& c = chunks[i];
      const size_t rest = f.good_update.size() - off;
      const size_t n = i + 1 == chunks.size() ? rest : std::min(c.data().size(), rest);
      c.set_offset(off);
      c.set_data(f.good_update.substr(off, n));
      c.set_crc32c(Crc32c(c.data().data(), c.data().size()));
      off += n;
    }
    h->set_total_bytes(f.good_update.size());
    h->set_sha256(Sha256Hex(f.good_update));
  }
  AuthedContext ctx(f.token[dev]);
  ChunkFeeder reader(chunks);
  fv1::UploadUpdateResponse resp;
  grpc::Status s = Count(f.fleet->ReceiveUpdate(ctx.get(), &reader, &resp));
  if (s.ok()) {
    auto update = f.coordinator->store().FindUpdate(f.device_id[dev], h->request_id());
    Check(update.ok() && update->has_value() && (*update)->update_id == resp.update_id(),
          "an accepted upload is recorded under its request_id");
    Check((*update)->blob_hash == h->sha256() || resp.duplicate(),
          "the recorded update is the announced one");
  }
  CheckUpdatesUnique(f);
  return 0;
}

int FuzzAdminRequest(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  Fleet& f = GetFleet();
  const uint8_t rpc = data[0];
  ++data;
  --size;
  AuthedContext ctx((rpc & 0x80) ? "wrong" : kAdminToken);
  // Parses the request, lets `fix` adjust it, and calls the handler.
  auto call = [&](auto method, auto req, auto resp, auto fix) {
    if (!Parse(data, size, &req)) return;
    fix(req);
    Count((f.admin.get()->*method)(ctx.get(), &req, &resp));
  };
  auto as_is = [](auto&) {};
  auto real_device = [](auto& req) { req.set_device_id(req.device_id() % 4); };
  using A = AdminServiceImpl;
  switch ((rpc & 0x7f) % 15) {
    case 0:
      call(&A::ListDevices, av1::ListDevicesRequest(), av1::ListDevicesResponse(), as_is);
      break;
    case 1:
      call(&A::GetDevice, av1::GetDeviceRequest(), av1::GetDeviceResponse(), real_device);
      break;
    case 2:
      call(&A::ListRounds, av1::ListRoundsRequest(), av1::ListRoundsResponse(), as_is);
      break;
    case 3:
      call(&A::GetRound, av1::GetRoundRequest(), av1::GetRoundResponse(), as_is);
      break;
    case 4:
      call(&A::GetPlan, av1::GetPlanRequest(), av1::GetPlanResponse(), real_device);
      break;
    case 5: {
      av1::StartRoundsRequest req;
      av1::StartRoundsResponse resp;
      if (!Parse(data, size, &req)) return 0;
      if (Count(f.admin->StartRounds(ctx.get(), &req, &resp)).ok()) {
        Check(resp.first_round() <= resp.last_round(), "a campaign plans rounds in order");
        // Run the engine a little: a config it accepted must not break it.
        for (int i = 0; i < 3; ++i) {
          f.clock.Advance(1000);
          (void)f.coordinator->Step();
        }
      }
      break;
    }
    case 6:
      call(&A::GetStatus, av1::StatusRequest(), av1::StatusResponse(), as_is);
      break;
    case 7:
      call(&A::RevokeDevice, av1::RevokeDeviceRequest(), av1::RevokeDeviceResponse(), real_device);
      break;
    case 8:
      call(&A::DrainDevice, av1::DrainDeviceRequest(), av1::DrainDeviceResponse(), real_device);
      break;
    case 9:
      call(&A::EnableDevice, av1::EnableDeviceRequest(), av1::EnableDeviceResponse(), real_device);
      break;
    case 10:
      call(&A::CreateJoinToken, av1::CreateJoinTokenRequest(), av1::CreateJoinTokenResponse(),
           as_is);
      break;
    case 11:
      call(&A::ListJoinTokens, av1::ListJoinTokensRequest(), av1::ListJoinTokensResponse(), as_is);
      break;
    case 12:
      call(&A::RevokeJoinToken, av1::RevokeJoinTokenRequest(), av1::RevokeJoinTokenResponse(),
           as_is);
      break;
    case 13:
      call(&A::CancelRound, av1::CancelRoundRequest(), av1::CancelRoundResponse(), as_is);
      break;
    default: {
      av1::ExportModelRequest req;
      if (!Parse(data, size, &req)) return 0;
      ChunkCollector<av1::ExportModelChunk> out;
      if (Count(f.admin->SendExport(ctx.get(), &req, &out)).ok()) {
        Check(out.chunks() > 0, "an export streams at least one chunk");
        out.CheckWhole();
      }
      break;
    }
  }
  return 0;
}

int64_t SucceededCalls() { return ok_calls; }

void ResetFleet() { FleetSlot().reset(); }

}  // namespace qfleet::cloud::fuzz
