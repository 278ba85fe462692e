// TLS on the coordinator's listener: server authentication, mutual TLS and
// the refusal to start without either TLS or an explicit --insecure.

#include <grpcpp/security/credentials.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "cloud/service/coordinator_server.h"
#include "common/security/pki.h"
#include "common/status_matchers.h"
#include "tests/cloud/service/server_fixture.h"

namespace qfleet::cloud {
namespace {

using ::testing::HasSubstr;

class TlsTest : public ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    ASSERT_OK_AND_ASSIGN(pki_, GeneratePki());
    PkiOptions other;
    other.ca_name = "someone else's CA";
    ASSERT_OK_AND_ASSIGN(other_, GeneratePki(other));
  }
  ServerOptions Tls(bool mutual = false) {
    ServerOptions o;
    o.tls.cert_pem = pki_.server_cert;
    o.tls.key_pem = pki_.server_key;
    if (mutual) o.tls.client_ca_pem = pki_.ca_cert;
    return o;
  }
  static std::shared_ptr<grpc::ChannelCredentials> Ssl(const std::string& ca,
                                                       const std::string& cert = "",
                                                       const std::string& key = "") {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = ca;
    o.pem_cert_chain = cert;
    o.pem_private_key = key;
    return grpc::SslCredentials(o);
  }

  Pki pki_;
  Pki other_;
};

TEST_F(TlsTest, HandshakeSucceedsWithTheRightCaByIpAndName) {
  StartServer(Tls());
  fleet::v1::RegisterResponse resp;
  grpc::Status s = Register(Channel(Ssl(pki_.ca_cert)), "dev-ip", &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_FALSE(resp.token().empty());
  s = Register(Channel(Ssl(pki_.ca_cert), "localhost"), "dev-name", &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(TlsTest, MutualTlsAcceptsAClientCertificateFromTheCa) {
  StartServer(Tls(/*mutual=*/true));
  fleet::v1::RegisterResponse resp;
  grpc::Status s =
      Register(Channel(Ssl(pki_.ca_cert, pki_.client_cert, pki_.client_key)), "dev", &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

// --- Error paths -------------------------------------------------------------

TEST_F(TlsTest, HandshakeFailsWithAWrongCa) {
  StartServer(Tls());
  fleet::v1::RegisterResponse resp;
  EXPECT_EQ(Register(Channel(Ssl(other_.ca_cert)), "dev", &resp).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(coordinator_->store().ListDevices()->size(), 0u);
}

TEST_F(TlsTest, InsecureClientCannotTalkToATlsServer) {
  StartServer(Tls());
  fleet::v1::RegisterResponse resp;
  EXPECT_EQ(Register(Channel(grpc::InsecureChannelCredentials()), "dev", &resp).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(coordinator_->store().ListDevices()->size(), 0u);
}

TEST_F(TlsTest, MutualTlsRefusesClientsWithoutOrWithAForeignCertificate) {
  StartServer(Tls(/*mutual=*/true));
  fleet::v1::RegisterResponse resp;
  EXPECT_EQ(Register(Channel(Ssl(pki_.ca_cert)), "no-cert", &resp).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Register(Channel(Ssl(pki_.ca_cert, other_.client_cert, other_.client_key)),
                     "foreign-cert", &resp)
                .error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(coordinator_->store().ListDevices()->size(), 0u);
}

TEST_F(TlsTest, ServerRefusesToStartWithoutTlsOrInsecure) {
  EXPECT_THAT(CoordinatorServer::Start(coordinator_.get(), ServerOptions()).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("--insecure")));
  ServerOptions both = Tls();
  both.insecure = true;
  EXPECT_THAT(CoordinatorServer::Start(coordinator_.get(), both).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(TlsTest, ServerRefusesBadPemAndMismatchedKeys) {
  ServerOptions garbage = Tls();
  garbage.tls.cert_pem = "not a certificate";
  EXPECT_THAT(CoordinatorServer::Start(coordinator_.get(), garbage).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("certificate")));
  ServerOptions mismatched = Tls();
  mismatched.tls.key_pem = pki_.client_key;
  EXPECT_THAT(CoordinatorServer::Start(coordinator_.get(), mismatched).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not match")));
  ServerOptions bad_ca = Tls();
  bad_ca.tls.client_ca_pem = "junk";
  EXPECT_THAT(CoordinatorServer::Start(coordinator_.get(), bad_ca).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("client CA")));
}

}  // namespace
}  // namespace qfleet::cloud
