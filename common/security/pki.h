#ifndef QFLEET_COMMON_SECURITY_PKI_H_
#define QFLEET_COMMON_SECURITY_PKI_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace qfleet {

// What GeneratePki makes.
struct PkiOptions {
  // Subject alternative names of the server certificate besides the
  // always-present DNS:localhost and IP:127.0.0.1. Entries that parse as an
  // IPv4/IPv6 address become IP SANs, the rest DNS SANs.
  std::vector<std::string> extra_server_names;
  // Validity of every certificate, days from now (backdated one hour).
  int valid_days = 825;
  // Common name of the CA (distinct names keep two CAs apart in tests).
  std::string ca_name = "qfleet local CA";
};

// A small private PKI, all PEM: a self-signed CA, a server certificate
// (serverAuth, the SANs above) and a client certificate (clientAuth, CN
// "qfleet-client"), both signed by the CA. Keys are ECDSA P-256.
struct Pki {
  std::string ca_cert;
  std::string ca_key;
  std::string server_cert;
  std::string server_key;
  std::string client_cert;
  std::string client_key;
};

// Generates a fresh PKI with OpenSSL (a few milliseconds; keys and serial
// numbers are random). Internal if OpenSSL fails. Thread-safe.
absl::StatusOr<Pki> GeneratePki(const PkiOptions& options = {});

// Writes ca.crt, server.crt, server.key, client.crt and client.key into the
// existing directory `dir` (keys with mode 0600; the CA key is not
// written). Unavailable naming the file that could not be written.
absl::Status WritePki(const Pki& pki, const std::string& dir);

// Checks a TLS identity before a server or client is built with it:
// InvalidArgument if `cert_pem` holds no X.509 certificate, `key_pem` no
// private key, or the key does not belong to the (first) certificate.
// Thread-safe.
absl::Status CheckTlsIdentity(const std::string& cert_pem, const std::string& key_pem);

// InvalidArgument unless `pem` holds at least one X.509 certificate (a CA
// bundle). Thread-safe.
absl::Status CheckCertificates(const std::string& pem);

}  // namespace qfleet

#endif  // QFLEET_COMMON_SECURITY_PKI_H_
