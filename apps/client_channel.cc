#include "apps/client_channel.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/file_io.h"
#include "common/security/pki.h"
#include "common/status_macros.h"

namespace qfleet::apps {

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target,
                                           const ChannelSecurity& security) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxReceiveMessageSize(8 << 20);
  // A model (about a megabyte) arrives in one flow-control window instead
  // of a window update per 64 KiB.
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 4 << 20);
  // A restarted coordinator is found within a few seconds: gRPC's own
  // reconnect backoff (1 s, x1.6, up to 120 s by default) is capped here;
  // the callers' retries (common/retry_backoff.h) decide when to give up.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  // Not a backoff despite its name: gRPC gives each connection attempt (TCP,
  // TLS handshake, HTTP/2 settings) at least this long. Lowered with the
  // backoff above, a TLS handshake with a coordinator still busy starting
  // on a loaded machine was cut off at every attempt ("tcp handshaker
  // shutdown") and agents never reconnected; it stays at gRPC's 20 s.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 20000);
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (security.insecure) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = security.ca_pem;
    ssl.pem_cert_chain = security.cert_pem;
    ssl.pem_private_key = security.key_pem;
    credentials = grpc::SslCredentials(ssl);
  }
  return grpc::CreateCustomChannel(target, credentials, args);
}

void ClientTlsFlags::AddTo(CLI::App& app) {
  app.add_option("--tls-ca", ca_file,
                 "CA certificate (PEM) the coordinator's certificate must chain to "
                 "(default: the system's CAs)");
  app.add_option("--tls-cert", cert_file, "client certificate (PEM) for mutual TLS");
  app.add_option("--tls-key", key_file, "private key (PEM) of --tls-cert");
  app.add_flag("--insecure", insecure,
               "plaintext connection to a coordinator running --insecure (local development)");
}

absl::StatusOr<ChannelSecurity> ClientTlsFlags::Load() const {
  ChannelSecurity out;
  out.insecure = insecure;
  if (insecure) {
    if (!ca_file.empty() || !cert_file.empty() || !key_file.empty()) {
      return absl::InvalidArgumentError("--insecure cannot be combined with --tls-* files");
    }
    return out;
  }
  if (cert_file.empty() != key_file.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (!ca_file.empty()) {
    ASSIGN_OR_RETURN(out.ca_pem, ReadFileToString(ca_file));
    if (absl::Status s = CheckCertificates(out.ca_pem); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--tls-ca ", ca_file, ": ", s.message()));
    }
  }
  if (!cert_file.empty()) {
    ASSIGN_OR_RETURN(out.cert_pem, ReadFileToString(cert_file));
    ASSIGN_OR_RETURN(out.key_pem, ReadFileToString(key_file));
    if (absl::Status s = CheckTlsIdentity(out.cert_pem, out.key_pem); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--tls-cert ", cert_file, " / --tls-key ", key_file, ": ", s.message()));
    }
  }
  return out;
}

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, 64 << 10));
  std::string token(absl::StripAsciiWhitespace(text));
  if (token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("token file '", path, "' is empty"));
  }
  return token;
}

absl::StatusOr<ClientAccess> LoadClientAccess(const ClientTlsFlags& tls,
                                              const std::string& admin_token_file) {
  ClientAccess access;
  ASSIGN_OR_RETURN(access.security, tls.Load());
  if (!admin_token_file.empty()) {
    ASSIGN_OR_RETURN(access.admin_token, ReadTokenFile(admin_token_file));
  }
  return access;
}

}  // namespace qfleet::apps
