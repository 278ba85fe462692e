#include "common/security/pki.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/file_io.h"
#include "common/status_macros.h"

namespace qfleet {
namespace {

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Free>;
using CertPtr = std::unique_ptr<X509, Free>;

absl::Status OpensslError(absl::string_view what) {
  char buf[256] = {0};
  ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
  ERR_clear_error();
  return absl::InternalError(absl::StrCat("openssl: ", what, ": ", buf));
}

absl::StatusOr<KeyPtr> NewKey() {
  KeyPtr key(EVP_EC_gen("P-256"));
  if (key == nullptr) return OpensslError("EC key generation");
  return key;
}

// True for a literal IPv4 or IPv6 address.
bool LooksLikeIp(const std::string& name) {
  ASN1_OCTET_STRING* ip = a2i_IPADDRESS(name.c_str());
  const bool ok = ip != nullptr;
  ASN1_OCTET_STRING_free(ip);
  return ok;
}

absl::Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, Free> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (ext == nullptr) return OpensslError(absl::StrCat("extension ", OBJ_nid2sn(nid), "=", value));
  if (X509_add_ext(cert, ext.get(), -1) != 1) return OpensslError("X509_add_ext");
  return absl::OkStatus();
}

struct CertSpec {
  std::string common_name;
  bool is_ca = false;
  std::string extended_usage;  // "serverAuth" / "clientAuth" / empty
  std::string san;             // "DNS:localhost,IP:127.0.0.1" / empty
  int valid_days = 825;
};

// Makes a certificate for `key`, signed by `issuer_key` (self-signed when
// `issuer` is null).
absl::StatusOr<CertPtr> MakeCert(const CertSpec& spec, EVP_PKEY* key, X509* issuer,
                                 EVP_PKEY* issuer_key) {
  CertPtr cert(X509_new());
  if (cert == nullptr) return OpensslError("X509_new");
  X509* c = cert.get();
  if (X509_set_version(c, 2) != 1) return OpensslError("X509_set_version");
  unsigned char serial_bytes[16];
  if (RAND_bytes(serial_bytes, sizeof(serial_bytes)) != 1) return OpensslError("RAND_bytes");
  serial_bytes[0] &= 0x7f;  // positive
  std::unique_ptr<BIGNUM, Free> serial(BN_bin2bn(serial_bytes, sizeof(serial_bytes), nullptr));
  if (serial == nullptr || BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(c)) == nullptr) {
    return OpensslError("serial number");
  }
  X509_gmtime_adj(X509_getm_notBefore(c), -3600);
  X509_gmtime_adj(X509_getm_notAfter(c), static_cast<long>(spec.valid_days) * 86400);
  if (X509_set_pubkey(c, key) != 1) return OpensslError("X509_set_pubkey");
  X509_NAME* name = X509_get_subject_name(c);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("qfleet"), -1, -1, 0);
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(spec.common_name.c_str()),
                                 -1, -1, 0) != 1) {
    return OpensslError("subject name");
  }
  X509* issuer_cert = issuer != nullptr ? issuer : c;
  if (X509_set_issuer_name(c, X509_get_subject_name(issuer_cert)) != 1) {
    return OpensslError("issuer name");
  }
  if (spec.is_ca) {
    RETURN_IF_ERROR(AddExtension(c, issuer_cert, NID_basic_constraints, "critical,CA:TRUE"));
    RETURN_IF_ERROR(AddExtension(c, issuer_cert, NID_key_usage, "critical,keyCertSign,cRLSign"));
  } else {
    RETURN_IF_ERROR(AddExtension(c, issuer_cert, NID_basic_constraints, "critical,CA:FALSE"));
    RETURN_IF_ERROR(
        AddExtension(c, issuer_cert, NID_key_usage, "critical,digitalSignature,keyAgreement"));
  }
  if (!spec.extended_usage.empty()) {
    RETURN_IF_ERROR(AddExtension(c, issuer_cert, NID_ext_key_usage, spec.extended_usage));
  }
  if (!spec.san.empty()) {
    RETURN_IF_ERROR(AddExtension(c, issuer_cert, NID_subject_alt_name, spec.san));
  }
  RETURN_IF_ERROR(AddExtension(c, issuer_cert, NID_subject_key_identifier, "hash"));
  if (issuer != nullptr) {
    RETURN_IF_ERROR(AddExtension(c, issuer_cert, NID_authority_key_identifier, "keyid:always"));
  }
  if (X509_sign(c, issuer_key != nullptr ? issuer_key : key, EVP_sha256()) == 0) {
    return OpensslError("X509_sign");
  }
  return cert;
}

absl::StatusOr<std::string> CertPem(X509* cert) {
  std::unique_ptr<BIO, Free> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return OpensslError("PEM_write_bio_X509");
  }
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

absl::StatusOr<std::string> KeyPem(EVP_PKEY* key) {
  std::unique_ptr<BIO, Free> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpensslError("PEM_write_bio_PrivateKey");
  }
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

}  // namespace

absl::StatusOr<Pki> GeneratePki(const PkiOptions& options) {
  std::vector<std::string> sans = {"DNS:localhost", "IP:127.0.0.1"};
  for (const std::string& name : options.extra_server_names) {
    if (name.empty() || name.find_first_of(",\n") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("bad server name '", name, "'"));
    }
    sans.push_back(absl::StrCat(LooksLikeIp(name) ? "IP:" : "DNS:", name));
  }
  ASSIGN_OR_RETURN(KeyPtr ca_key, NewKey());
  ASSIGN_OR_RETURN(KeyPtr server_key, NewKey());
  ASSIGN_OR_RETURN(KeyPtr client_key, NewKey());

  CertSpec ca_spec;
  ca_spec.common_name = options.ca_name;
  ca_spec.is_ca = true;
  ca_spec.valid_days = options.valid_days;
  ASSIGN_OR_RETURN(CertPtr ca, MakeCert(ca_spec, ca_key.get(), nullptr, nullptr));

  CertSpec server_spec;
  server_spec.common_name = "localhost";
  server_spec.extended_usage = "serverAuth";
  server_spec.san = absl::StrJoin(sans, ",");
  server_spec.valid_days = options.valid_days;
  ASSIGN_OR_RETURN(CertPtr server, MakeCert(server_spec, server_key.get(), ca.get(), ca_key.get()));

  CertSpec client_spec;
  client_spec.common_name = "qfleet-client";
  client_spec.extended_usage = "clientAuth";
  client_spec.valid_days = options.valid_days;
  ASSIGN_OR_RETURN(CertPtr client, MakeCert(client_spec, client_key.get(), ca.get(), ca_key.get()));

  Pki pki;
  ASSIGN_OR_RETURN(pki.ca_cert, CertPem(ca.get()));
  ASSIGN_OR_RETURN(pki.ca_key, KeyPem(ca_key.get()));
  ASSIGN_OR_RETURN(pki.server_cert, CertPem(server.get()));
  ASSIGN_OR_RETURN(pki.server_key, KeyPem(server_key.get()));
  ASSIGN_OR_RETURN(pki.client_cert, CertPem(client.get()));
  ASSIGN_OR_RETURN(pki.client_key, KeyPem(client_key.get()));
  return pki;
}

absl::Status WritePki(const Pki& pki, const std::string& dir) {
  RETURN_IF_ERROR(WriteStringToFile(dir + "/ca.crt", pki.ca_cert, 0644));
  RETURN_IF_ERROR(WriteStringToFile(dir + "/server.crt", pki.server_cert, 0644));
  RETURN_IF_ERROR(WriteStringToFile(dir + "/server.key", pki.server_key, 0600));
  RETURN_IF_ERROR(WriteStringToFile(dir + "/client.crt", pki.client_cert, 0644));
  RETURN_IF_ERROR(WriteStringToFile(dir + "/client.key", pki.client_key, 0600));
  return absl::OkStatus();
}

namespace {

std::unique_ptr<BIO, Free> MemBio(const std::string& pem) {
  return std::unique_ptr<BIO, Free>(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

}  // namespace

absl::Status CheckCertificates(const std::string& pem) {
  auto bio = MemBio(pem);
  CertPtr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  ERR_clear_error();
  if (cert == nullptr) return absl::InvalidArgumentError("no PEM certificate found");
  return absl::OkStatus();
}

absl::Status CheckTlsIdentity(const std::string& cert_pem, const std::string& key_pem) {
  auto cert_bio = MemBio(cert_pem);
  CertPtr cert(cert_bio ? PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (cert == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError("no PEM certificate found in the certificate file");
  }
  auto key_bio = MemBio(key_pem);
  // A refusing password callback: never prompt on the terminal.
  pem_password_cb* no_password = [](char*, int, int, void*) { return 0; };
  KeyPtr key(key_bio ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr, no_password, nullptr)
                     : nullptr);
  if (key == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        "no PEM private key found in the key file (encrypted keys are not supported)");
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("the private key does not match the certificate");
  }
  return absl::OkStatus();
}

}  // namespace qfleet
