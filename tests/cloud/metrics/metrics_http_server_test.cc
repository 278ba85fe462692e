#include "cloud/metrics/metrics_http_server.h"

#include <atomic>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/status_matchers.h"
#include "tests/cloud/metrics/http_get.h"

namespace qfleet::cloud {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(MetricsHttpServerTest, ServesMetricsAndShutsDownCleanly) {
  std::atomic<int> scrapes{0};
  ASSERT_OK_AND_ASSIGN(auto server, MetricsHttpServer::Start("127.0.0.1:0", [&] {
                         ++scrapes;
                         return std::string("qfleet_up 1\n");
                       }));
  ASSERT_GT(server->port(), 0);
  std::string r = HttpGet(server->port(), "/metrics");
  EXPECT_THAT(r, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(r, HasSubstr("Content-Type: text/plain; version=0.0.4"));
  EXPECT_THAT(r, HasSubstr("Content-Length: 12\r\n"));
  EXPECT_THAT(r, EndsWith("\r\n\r\nqfleet_up 1\n"));
  // A query string is ignored.
  EXPECT_THAT(HttpGet(server->port(), "/metrics?x=1"), StartsWith("HTTP/1.1 200 OK"));
  EXPECT_EQ(scrapes.load(), 2);
  const int port = server->port();
  server->Shutdown();
  server->Shutdown();                        // idempotent
  EXPECT_EQ(HttpGet(port, "/metrics"), "");  // nothing listens any more
}

// --- Error paths -------------------------------------------------------------

TEST(MetricsHttpServerTest, OtherPathsAndMethodsAre404AndGarbageIs400) {
  ASSERT_OK_AND_ASSIGN(auto server,
                       MetricsHttpServer::Start("127.0.0.1:0", [] { return std::string("x\n"); }));
  EXPECT_THAT(HttpGet(server->port(), "/"), StartsWith("HTTP/1.1 404 Not Found"));
  EXPECT_THAT(HttpGet(server->port(), "/metricsx"), StartsWith("HTTP/1.1 404 Not Found"));
  EXPECT_THAT(HttpExchange(server->port(), "POST /metrics HTTP/1.1\r\n\r\n"),
              StartsWith("HTTP/1.1 404 Not Found"));
  EXPECT_THAT(HttpExchange(server->port(), "hello\r\n\r\n"), StartsWith("HTTP/1.1 400"));
  EXPECT_THAT(HttpExchange(server->port(), std::string(8300, 'a')), StartsWith("HTTP/1.1 431"));
  // Still serving afterwards.
  EXPECT_THAT(HttpGet(server->port(), "/metrics"), StartsWith("HTTP/1.1 200 OK"));
}

TEST(MetricsHttpServerTest, ShutdownDoesNotWaitForAnIdleClient) {
  ASSERT_OK_AND_ASSIGN(auto server,
                       MetricsHttpServer::Start("127.0.0.1:0", [] { return std::string("x\n"); }));
  // A client that connects and sends nothing.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(server->port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ::usleep(50000);  // let the server pick it up
  const auto t0 = std::chrono::steady_clock::now();
  server->Shutdown();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  ::close(fd);
}

TEST(MetricsHttpServerTest, BadAddressesAreRefused) {
  auto render = [] { return std::string(); };
  EXPECT_THAT(MetricsHttpServer::Start("no-port", render).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(MetricsHttpServer::Start("127.0.0.1:99999", render).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_OK_AND_ASSIGN(auto first, MetricsHttpServer::Start("127.0.0.1:0", render));
  EXPECT_THAT(
      MetricsHttpServer::Start("127.0.0.1:" + std::to_string(first->port()), render).status(),
      StatusIs(absl::StatusCode::kUnavailable));
}

}  // namespace
}  // namespace qfleet::cloud
