#include "common/security/pki.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/file_io.h"
#include "common/status_matchers.h"

namespace qfleet {
namespace {

using ::testing::HasSubstr;

X509* Parse(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return cert;
}

// Verifies `leaf_pem` against `ca_pem` for `purpose`; with `host`/`ip`,
// also checks the name the way a TLS client does.
bool Verifies(const std::string& ca_pem, const std::string& leaf_pem, int purpose,
              const char* host = nullptr, const char* ip = nullptr) {
  X509* ca = Parse(ca_pem);
  X509* leaf = Parse(leaf_pem);
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, nullptr);
  X509_STORE_CTX_set_purpose(ctx, purpose);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx);
  if (host != nullptr) X509_VERIFY_PARAM_set1_host(param, host, 0);
  if (ip != nullptr) X509_VERIFY_PARAM_set1_ip_asc(param, ip);
  const bool ok = X509_verify_cert(ctx) == 1;
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  X509_free(leaf);
  X509_free(ca);
  return ok;
}

TEST(PkiTest, ServerAndClientCertificatesChainToTheCaWithTheRightNames) {
  PkiOptions o;
  o.extra_server_names = {"coord.example", "10.1.2.3"};
  ASSERT_OK_AND_ASSIGN(Pki pki, GeneratePki(o));
  EXPECT_TRUE(Verifies(pki.ca_cert, pki.server_cert, X509_PURPOSE_SSL_SERVER, "localhost"));
  EXPECT_TRUE(
      Verifies(pki.ca_cert, pki.server_cert, X509_PURPOSE_SSL_SERVER, nullptr, "127.0.0.1"));
  EXPECT_TRUE(Verifies(pki.ca_cert, pki.server_cert, X509_PURPOSE_SSL_SERVER, "coord.example"));
  EXPECT_TRUE(Verifies(pki.ca_cert, pki.server_cert, X509_PURPOSE_SSL_SERVER, nullptr, "10.1.2.3"));
  EXPECT_FALSE(Verifies(pki.ca_cert, pki.server_cert, X509_PURPOSE_SSL_SERVER, "other.example"));
  EXPECT_TRUE(Verifies(pki.ca_cert, pki.client_cert, X509_PURPOSE_SSL_CLIENT));
  // The client certificate is not a server certificate.
  EXPECT_FALSE(Verifies(pki.ca_cert, pki.client_cert, X509_PURPOSE_SSL_SERVER));
  EXPECT_OK(CheckTlsIdentity(pki.server_cert, pki.server_key));
  EXPECT_OK(CheckTlsIdentity(pki.client_cert, pki.client_key));
  EXPECT_OK(CheckCertificates(pki.ca_cert));
}

TEST(PkiTest, TwoPkisAreIndependent) {
  ASSERT_OK_AND_ASSIGN(Pki a, GeneratePki());
  ASSERT_OK_AND_ASSIGN(Pki b, GeneratePki());
  EXPECT_NE(a.ca_cert, b.ca_cert);
  EXPECT_FALSE(Verifies(a.ca_cert, b.server_cert, X509_PURPOSE_SSL_SERVER, "localhost"));
}

TEST(PkiTest, WritePkiWritesTheFiveFilesWithPrivateKeys) {
  ASSERT_OK_AND_ASSIGN(Pki pki, GeneratePki());
  const auto dir =
      std::filesystem::temp_directory_path() / ("qfleet-pki-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  ASSERT_OK(WritePki(pki, dir.string()));
  EXPECT_EQ(*ReadFileToString((dir / "ca.crt").string()), pki.ca_cert);
  EXPECT_EQ(*ReadFileToString((dir / "server.key").string()), pki.server_key);
  EXPECT_EQ(*ReadFileToString((dir / "client.crt").string()), pki.client_cert);
  EXPECT_EQ(std::filesystem::status(dir / "client.key").permissions() &
                std::filesystem::perms::group_read,
            std::filesystem::perms::none);
  EXPECT_FALSE(std::filesystem::exists(dir / "ca.key"));
  std::filesystem::remove_all(dir);
}

// --- Error paths -------------------------------------------------------------

TEST(PkiTest, ChecksRejectGarbageAndMismatchedKeys) {
  ASSERT_OK_AND_ASSIGN(Pki pki, GeneratePki());
  EXPECT_THAT(CheckTlsIdentity("garbage", pki.server_key),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("certificate")));
  EXPECT_THAT(CheckTlsIdentity(pki.server_cert, "garbage"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("private key")));
  EXPECT_THAT(CheckTlsIdentity(pki.server_cert, pki.client_key),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not match")));
  // Truncated PEM.
  EXPECT_THAT(CheckCertificates(pki.ca_cert.substr(0, pki.ca_cert.size() / 2)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CheckCertificates(""), StatusIs(absl::StatusCode::kInvalidArgument));
  PkiOptions bad;
  bad.extra_server_names = {"a,DNS:evil"};
  EXPECT_THAT(GeneratePki(bad).status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace qfleet
