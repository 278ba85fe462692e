#ifndef QFLEET_TESTS_DEVICE_LOOPBACK_SERVER_H_
#define QFLEET_TESTS_DEVICE_LOOPBACK_SERVER_H_

// A scripted FleetService on a plaintext loopback port and a FleetClient
// dialling it, for device tests.

#include <memory>
#include <string>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include "device/fleet_client.h"

namespace qfleet::device {

struct LoopbackServer {
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<FleetClient> client;
  int port = 0;
};

// Serves `service` (not owned; must outlive the server) on 127.0.0.1:0.
inline LoopbackServer StartLoopbackServer(grpc::Service* service,
                                          FleetClientOptions options = {}) {
  LoopbackServer out;
  int port = 0;
  grpc::ServerBuilder b;
  b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  b.RegisterService(service);
  out.server = b.BuildAndStart();
  out.port = port;
  out.client = std::make_unique<FleetClient>(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()),
      options);
  return out;
}

}  // namespace qfleet::device

#endif  // QFLEET_TESTS_DEVICE_LOOPBACK_SERVER_H_
