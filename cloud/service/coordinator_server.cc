#include "cloud/service/coordinator_server.h"

#include <chrono>

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace qfleet::cloud {

CoordinatorServer::CoordinatorServer(Coordinator* coordinator)
    : fleet_(coordinator), admin_(coordinator) {}

CoordinatorServer::~CoordinatorServer() { Shutdown(0); }

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Start(
    Coordinator* coordinator, const ServerOptions& options) {
  std::unique_ptr<CoordinatorServer> s(new CoordinatorServer(coordinator));
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(), &s->port_);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  builder.RegisterService(&s->fleet_);
  builder.RegisterService(&s->admin_);
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || s->port_ == 0) {
    return absl::UnavailableError("cannot listen on " + options.listen);
  }
  std::string host = options.listen.substr(0, options.listen.rfind(':'));
  s->address_ = absl::StrCat(host, ":", s->port_);
  return s;
}

void CoordinatorServer::Shutdown(int64_t grace_ms) {
  if (shut_down_ || server_ == nullptr) return;
  shut_down_ = true;
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(grace_ms));
}

void CoordinatorServer::Wait() {
  if (server_ != nullptr) server_->Wait();
}

}  // namespace qfleet::cloud
