#include "cloud/service/metrics_interceptor.h"

#include <grpcpp/impl/codegen/client_unary_call.h>
#include <grpcpp/impl/codegen/rpc_method.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "cloud/metrics/metrics_http_server.h"
#include "tests/cloud/metrics/http_get.h"
#include "tests/cloud/service/server_fixture.h"

namespace qfleet::cloud {
namespace {

namespace fv1 = qfleet::fleet::v1;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class MetricsInterceptorTest : public ServerFixture {};

// The value of the unlabelled sample `name` in `text`; 0 when absent.
uint64_t SampleValue(const std::string& text, const std::string& name) {
  const size_t at = text.find("\n" + name + " ");
  if (at == std::string::npos) return 0;
  return std::stoull(text.substr(at + name.size() + 2));
}

// Real RPCs through the server's interceptor, scraped over HTTP.
TEST_F(MetricsInterceptorTest, MetricsCountRpcsBytesAndFleetAfterRealCalls) {
  ServerOptions o;
  o.insecure = true;
  StartServer(o);
  auto channel = Channel(grpc::InsecureChannelCredentials());
  fv1::RegisterResponse reg;
  ASSERT_TRUE(Register(channel, "dev-a", &reg).ok());
  auto stub = fv1::FleetService::NewStub(channel);
  for (int i = 0; i < 2; ++i) {  // one bad token, one good
    grpc::ClientContext ctx;
    Deadline(&ctx);
    ctx.AddMetadata("authorization", "Bearer " + (i == 0 ? std::string("nope") : reg.token()));
    fv1::PullTaskRequest req;
    req.set_device_id(reg.device_id());
    fv1::PullTaskResponse resp;
    stub->PullTask(&ctx, req, &resp);
  }
  {  // a server stream: the whole model goes out
    grpc::ClientContext ctx;
    Deadline(&ctx);
    ctx.AddMetadata("authorization", "Bearer " + reg.token());
    fv1::DownloadModelRequest req;
    req.set_device_id(reg.device_id());
    req.set_model_version(1);
    auto r = stub->DownloadModel(&ctx, req);
    fv1::ModelChunk c;
    while (r->Read(&c)) {
    }
    ASSERT_TRUE(r->Finish().ok());
  }
  ASSERT_OK_AND_ASSIGN(auto http, MetricsHttpServer::Start(
                                      "127.0.0.1:0", [this] { return server_->MetricsText(); }));
  const std::string response = HttpGet(http->port(), "/metrics");
  ASSERT_THAT(response, StartsWith("HTTP/1.1 200 OK"));
  const std::string text = response.substr(response.find("\r\n\r\n") + 4);
  std::string bad;
  EXPECT_TRUE(IsPrometheusText(text, &bad)) << bad;
  const std::string fleet = "method=\"qfleet.fleet.v1.FleetService/";
  EXPECT_THAT(text, HasSubstr("qfleet_rpc_total{" + fleet + "Register\",code=\"OK\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("qfleet_rpc_total{" + fleet + "PullTask\",code=\"OK\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("qfleet_rpc_total{" + fleet + "PullTask\",code=\"UNAUTHENTICATED\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("qfleet_rpc_total{" + fleet + "DownloadModel\",code=\"OK\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("qfleet_rpc_latency_seconds_count{" + fleet + "PullTask\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("qfleet_devices_registered 1\n"));
  EXPECT_THAT(text, HasSubstr("qfleet_devices_online 1\n"));
  EXPECT_THAT(text, HasSubstr("qfleet_rounds_completed_total 0\n"));
  // Every byte of the model left through the interceptor.
  const uint64_t model_bytes = coordinator_->GetModel(1)->bytes->size();
  EXPECT_GT(SampleValue(text, "qfleet_bytes_sent_total"), model_bytes);
  EXPECT_GT(SampleValue(text, "qfleet_bytes_received_total"), 0u);
  EXPECT_THAT(HttpGet(http->port(), "/other"), StartsWith("HTTP/1.1 404"));
}

// --- Error paths -------------------------------------------------------------

TEST_F(MetricsInterceptorTest, ClientChosenMethodNamesNeverBecomeLabels) {
  ServerOptions o;
  o.insecure = true;
  StartServer(o);
  auto channel = Channel(grpc::InsecureChannelCredentials());
  for (const char* path : {"/random/xyz", "/qfleet.fleet.v1.FleetService/Nope"}) {
    grpc::internal::RpcMethod method(path, grpc::internal::RpcMethod::NORMAL_RPC, channel);
    grpc::ClientContext ctx;
    Deadline(&ctx);
    fv1::PullTaskRequest req;
    fv1::PullTaskResponse resp;
    grpc::Status s = grpc::internal::BlockingUnaryCall(channel.get(), method, &ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  }
  const std::string text = server_->MetricsText();
  std::string bad;
  EXPECT_TRUE(IsPrometheusText(text, &bad)) << bad;
  EXPECT_THAT(text, testing::Not(HasSubstr("random")));
  EXPECT_THAT(text, testing::Not(HasSubstr("Nope")));
}

}  // namespace
}  // namespace qfleet::cloud
