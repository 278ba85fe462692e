#ifndef QFLEET_APPS_CLIENT_CHANNEL_H_
#define QFLEET_APPS_CLIENT_CHANNEL_H_

#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <grpcpp/channel.h>

#include "absl/status/statusor.h"

namespace qfleet::apps {

// How a client reaches the coordinator. PEM text, not file names.
struct ChannelSecurity {
  // Plaintext (the coordinator runs --insecure). Local development only.
  bool insecure = false;
  // CA certificates the server must chain to; empty = the system's roots.
  std::string ca_pem;
  // Client certificate and key for mutual TLS; both or neither.
  std::string cert_pem;
  std::string key_pem;
};

// A channel to `target` (host:port) with TLS, or plaintext when
// `security.insecure`. TLS checks the server certificate against the CA and
// the host part of `target` (a SAN DNS name or IP address). Each call makes
// a new connection (no subchannel sharing), so simulated devices are
// distinct clients. Never fails here: a bad CA or a failed handshake shows
// up as Unavailable on the first call.
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target,
                                           const ChannelSecurity& security);

// The TLS flags every client program shares:
//   --tls-ca FILE  --tls-cert FILE  --tls-key FILE  --insecure
struct ClientTlsFlags {
  bool insecure = false;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;

  // Adds the four flags to `app`.
  void AddTo(CLI::App& app);
  // Reads the files. InvalidArgument for --insecure with --tls-* files, a
  // certificate without its key (or the reverse), a key that does not
  // match, or a file that is not PEM; NotFound/PermissionDenied naming a
  // file that cannot be read.
  absl::StatusOr<ChannelSecurity> Load() const;
};

// Reads an admin token file: its contents with surrounding whitespace
// removed. InvalidArgument naming the file when that leaves nothing;
// file errors as ReadFileToString.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

// How a client program reaches the coordinator: TLS and the admin token.
struct ClientAccess {
  ChannelSecurity security;
  std::string admin_token;  // empty when no token file was given
};

// tls.Load() and, when `admin_token_file` is non-empty, ReadTokenFile; the
// first error as those return it.
absl::StatusOr<ClientAccess> LoadClientAccess(const ClientTlsFlags& tls,
                                              const std::string& admin_token_file);

}  // namespace qfleet::apps

#endif  // QFLEET_APPS_CLIENT_CHANNEL_H_
