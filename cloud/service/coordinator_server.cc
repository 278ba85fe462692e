#include "cloud/service/coordinator_server.h"

#include <chrono>

#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/security/pki.h"
#include "common/status_macros.h"

namespace qfleet::cloud {
namespace {

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(const ServerOptions& o) {
  const bool has_tls = !o.tls.cert_pem.empty() || !o.tls.key_pem.empty();
  if (o.insecure) {
    if (has_tls || !o.tls.client_ca_pem.empty()) {
      return absl::InvalidArgumentError("--insecure cannot be combined with --tls-* files");
    }
    return grpc::InsecureServerCredentials();
  }
  if (!has_tls) {
    return absl::FailedPreconditionError(
        "TLS is required: pass --tls-cert FILE and --tls-key FILE (deploy/gen-certs.sh makes a "
        "local CA and certificates), or --insecure for a plaintext local-development listener");
  }
  if (absl::Status s = CheckTlsIdentity(o.tls.cert_pem, o.tls.key_pem); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("server TLS identity: ", s.message()));
  }
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  ssl.pem_key_cert_pairs.push_back({o.tls.key_pem, o.tls.cert_pem});
  if (!o.tls.client_ca_pem.empty()) {
    if (absl::Status s = CheckCertificates(o.tls.client_ca_pem); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("client CA: ", s.message()));
    }
    ssl.pem_root_certs = o.tls.client_ca_pem;
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

bool AdminOpenWithoutToken(const ServerOptions& o) {
  // Plaintext and no token: only a listener this machine alone can reach
  // keeps an open admin API (local development).
  return o.insecure && IsLoopbackHost(o.listen.substr(0, o.listen.rfind(':')));
}

}  // namespace

CoordinatorServer::CoordinatorServer(Coordinator* coordinator, const ServerOptions& options)
    : coordinator_(coordinator),
      gauge_cache_ms_(options.gauge_cache_ms),
      fleet_(coordinator),
      admin_(coordinator, AdminAuthorizer(options.admin_token, AdminOpenWithoutToken(options))) {}

CoordinatorServer::~CoordinatorServer() { Shutdown(0); }

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Start(
    Coordinator* coordinator, const ServerOptions& options) {
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials, Credentials(options));
  if (!options.admin_token.empty()) RETURN_IF_ERROR(CheckAdminTokenStrength(options.admin_token));
  if (options.max_concurrent_streams < 1 || options.max_threads < 2 ||
      options.memory_quota_bytes < (16 << 20) || options.keepalive_time_ms < 1000 ||
      options.keepalive_timeout_ms < 1000) {
    return absl::InvalidArgumentError("server resource bounds out of range");
  }
  std::unique_ptr<CoordinatorServer> s(new CoordinatorServer(coordinator, options));
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, credentials, &s->port_);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  // An update (about a megabyte) arrives in one flow-control window instead
  // of a window update per 64 KiB.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 4 << 20);
  // Bounds no client can raise: streams per connection, threads, memory.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options.max_concurrent_streams);
  grpc::ResourceQuota quota("qfleet-coordinator");
  quota.SetMaxThreads(options.max_threads);
  quota.Resize(static_cast<size_t>(options.memory_quota_bytes));
  builder.SetResourceQuota(quota);
  // Dead peers are found and their streams released.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, options.keepalive_time_ms);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, options.keepalive_timeout_ms);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.RegisterService(&s->fleet_);
  builder.RegisterService(&s->admin_);
  // Readiness for load balancers and orchestrators: grpc.health.v1.Health.
  builder.RegisterService(&s->health_);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<MetricsInterceptorFactory>(&s->metrics_));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || s->port_ == 0) {
    return absl::UnavailableError("cannot listen on " + options.listen);
  }
  s->SetServing(options.serving_at_start);
  std::string host = options.listen.substr(0, options.listen.rfind(':'));
  s->address_ = absl::StrCat(host, ":", s->port_);
  return s;
}

void CoordinatorServer::SetServing(bool serving) { health_.SetServing(serving); }

void CoordinatorServer::Shutdown(int64_t grace_ms) {
  if (shut_down_ || server_ == nullptr) return;
  shut_down_ = true;
  SetServing(false);
  coordinator_->ShutdownWaiters();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(grace_ms));
}

void CoordinatorServer::Wait() {
  if (server_ != nullptr) server_->Wait();
}

std::string CoordinatorServer::MetricsText() {
  FleetGauges gauges;
  {
    // One store scan per gauge_cache_ms however often /metrics is scraped.
    absl::MutexLock lock(&gauges_mu_);
    const int64_t now = coordinator_->NowMs();
    if (gauges_read_ms_ < 0 || now - gauges_read_ms_ >= gauge_cache_ms_) {
      if (absl::StatusOr<FleetGauges> g = coordinator_->Gauges(); g.ok()) gauges_ = *g;
      gauges_read_ms_ = now;
    }
    gauges = gauges_;
  }
  return metrics_.Render(gauges);
}

}  // namespace qfleet::cloud
