// lamin-serve over HTTPS and the REST client verifying it: a certificate made for the test (OpenSSL), served on
// 127.0.0.1; the client trusts it only through LAMIN_CA_BUNDLE / RestOptions::ca_bundle. With --tls-client-ca the
// server also verifies the client's certificate (mutual TLS).
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "serve_util.hpp"

namespace lamin::test {
namespace {

/// Writes a self-signed certificate for 127.0.0.1 and localhost (its own CA) and its P-256 key, as PEM.
void write_self_signed(const fs::path& cert_path, const fs::path& key_path, const std::string& common_name) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  ASSERT_TRUE(key);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                             -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  for (const auto& [nid, value] : {std::pair<int, const char*>{NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost"},
                                   {NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    ASSERT_NE(ext, nullptr);
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  ASSERT_GT(X509_sign(cert.get(), key.get(), EVP_sha256()), 0);
  FILE* c = std::fopen(cert_path.c_str(), "wb");
  ASSERT_NE(c, nullptr);
  PEM_write_X509(c, cert.get());
  std::fclose(c);
  FILE* k = std::fopen(key_path.c_str(), "wb");
  ASSERT_NE(k, nullptr);
  PEM_write_PrivateKey(k, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(k);
}

/// Writes a client certificate (and its P-256 key) that the CA in `ca_cert_path` / `ca_key_path` signed.
void write_client_certificate(const fs::path& cert_path, const fs::path& key_path, const std::string& common_name,
                              const fs::path& ca_cert_path, const fs::path& ca_key_path) {
  FILE* f = std::fopen(ca_cert_path.c_str(), "rb");
  ASSERT_NE(f, nullptr);
  std::unique_ptr<X509, decltype(&X509_free)> ca(PEM_read_X509(f, nullptr, nullptr, nullptr), X509_free);
  std::fclose(f);
  f = std::fopen(ca_key_path.c_str(), "rb");
  ASSERT_NE(f, nullptr);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> ca_key(PEM_read_PrivateKey(f, nullptr, nullptr, nullptr),
                                                               EVP_PKEY_free);
  std::fclose(f);
  ASSERT_TRUE(ca && ca_key);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 2);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca.get()));
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, ca.get(), cert.get(), nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_ext_key_usage, "clientAuth");
  ASSERT_NE(ext, nullptr);
  X509_add_ext(cert.get(), ext, -1);
  X509_EXTENSION_free(ext);
  ASSERT_GT(X509_sign(cert.get(), ca_key.get(), EVP_sha256()), 0);
  FILE* c = std::fopen(cert_path.c_str(), "wb");
  ASSERT_NE(c, nullptr);
  PEM_write_X509(c, cert.get());
  std::fclose(c);
  FILE* k = std::fopen(key_path.c_str(), "wb");
  ASSERT_NE(k, nullptr);
  PEM_write_PrivateKey(k, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(k);
}

fs::path token_file(const TempDir& tmp) { return write_file(tmp / "token", std::string(kToken) + "\n"); }

class Tls : public ::testing::Test {
 protected:
  void SetUp() override {
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
    GTEST_SKIP() << "cpp-httplib was built without OpenSSL: lamin-serve cannot serve HTTPS";
#endif
    write_self_signed(tmp / "cert.pem", tmp / "key.pem", "lamin-serve test");
    write_self_signed(tmp / "other.pem", tmp / "other-key.pem", "someone else");
  }
  std::vector<std::string> tls_args(const std::string& cert = "cert.pem", const std::string& key = "key.pem") {
    return {"--tls-cert", (tmp / cert).string(), "--tls-key", (tmp / key).string()};
  }
  TempDir tmp;
};

TEST_F(Tls, ClientsTrustTheServerThroughTheirCaBundle) {
  ServeProcess server(tmp / "served", token_file(tmp), tls_args());
  server.start();
  ASSERT_EQ(server.url().rfind("https://127.0.0.1:", 0), 0u) << server.url();

  RestOptions trusting = rest_options();
  trusting.ca_bundle = (tmp / "cert.pem").string();
  auto remote = connect_rest(server.url(), trusting);
  remote->create_feature(FeatureOptions("val_loss", "float"));
  auto a = remote->create_artifact(write_file(tmp / "files" / "m.ckpt", "weights over TLS"),
                                   ArtifactOptions("ckpt/m.ckpt").kind("model"));
  remote->add_values(a, {{"val_loss", 0.25}});
  EXPECT_EQ(remote->artifacts().where(feature("val_loss") < 0.5).count(), 1);
  download_file(remote, a, tmp / "back.ckpt");
  EXPECT_EQ(read_all(tmp / "back.ckpt"), "weights over TLS");
  EXPECT_EQ(connect(tmp / "served")->artifacts().key("ckpt/m.ckpt").count(), 1);  // on the server's disk

  // The same through the environment, as lamin::connect(url) and the CLI resolve it.
  ::setenv("LAMIN_API_KEY", kToken, 1);
  ::setenv("LAMIN_CA_BUNDLE", (tmp / "cert.pem").c_str(), 1);
  EXPECT_EQ(connect(server.url())->artifacts().count(), 1);
  ::unsetenv("LAMIN_CA_BUNDLE");
  ::unsetenv("LAMIN_API_KEY");
}

TEST_F(Tls, AnUntrustedCertificateIsRefusedByDefault) {
  ServeProcess server(tmp / "served", token_file(tmp), tls_args());
  server.start();
  // Verification is on by default: the system's CAs do not know this certificate, nor does another one.
  for (const std::string& bundle : {std::string(), (tmp / "other.pem").string()}) {
    RestOptions o = rest_options();
    o.ca_bundle = bundle;
    try {
      connect_rest(server.url(), o);
      ADD_FAILURE() << "connected with CA bundle '" << bundle << "'";
    } catch (const NetworkError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("certificate"), std::string::npos) << what;
      EXPECT_NE(what.find("LAMIN_CA_BUNDLE"), std::string::npos) << what;
      EXPECT_EQ(what.find(kToken), std::string::npos) << what;  // the key is never in a message
      EXPECT_EQ(what.find("after"), std::string::npos) << "a refused certificate is not retried: " << what;
    }
  }
  RestOptions missing = rest_options();
  missing.ca_bundle = (tmp / "no-such.pem").string();
  try {
    connect_rest(server.url(), missing);
    ADD_FAILURE() << "connected with a missing CA bundle";
  } catch (const NetworkError& e) {
    EXPECT_NE(std::string(e.what()).find("no-such.pem"), std::string::npos) << e.what();
  }
  // Turned off explicitly (tests against throwaway servers), the connection is made.
  RestOptions insecure = rest_options();
  insecure.verify_tls = false;
  EXPECT_EQ(connect_rest(server.url(), insecure)->artifacts().count(), 0);
  // Plain HTTP to the HTTPS port gets no answer.
  httplib::Client plain("127.0.0.1", server.port());
  plain.set_connection_timeout(2);
  plain.set_read_timeout(2);
  auto r = plain.Get("/health");
  EXPECT_TRUE(!r || r->status != 200);
}

TEST_F(Tls, WithAClientCaOnlyClientsWithACertificateItSignedGetIn) {
  // cert.pem is its own CA: it serves, and it signs the trainer's client certificate.
  write_client_certificate(tmp / "client.pem", tmp / "client-key.pem", "trainer", tmp / "cert.pem", tmp / "key.pem");
  std::vector<std::string> args = tls_args();
  args.insert(args.end(), {"--tls-client-ca", (tmp / "cert.pem").string()});
  ServeProcess server(tmp / "served", token_file(tmp), args);
  server.start();

  RestOptions mine = rest_options();
  mine.ca_bundle = (tmp / "cert.pem").string();
  mine.client_cert = (tmp / "client.pem").string();
  mine.client_key = (tmp / "client-key.pem").string();
  auto remote = connect_rest(server.url(), mine);
  remote->create_feature(FeatureOptions("val_loss", "float"));
  auto a = remote->create_artifact(write_file(tmp / "files" / "m.ckpt", "weights over mutual TLS"),
                                   ArtifactOptions("ckpt/m.ckpt").kind("model"));
  remote->add_values(a, {{"val_loss", 0.25}});
  EXPECT_EQ(remote->artifacts().where(feature("val_loss") < 0.5).count(), 1);

  // No certificate, or one another CA signed: answered 403 with a message saying which, at once, never the key.
  RestOptions none = mine, foreign = mine;
  none.client_cert.clear();
  none.client_key.clear();
  foreign.client_cert = (tmp / "other.pem").string();
  foreign.client_key = (tmp / "other-key.pem").string();
  for (const auto& [options, words] :
       {std::pair<RestOptions, std::vector<std::string>>{none, {"none was presented", "LAMIN_CLIENT_CERT"}},
        {foreign, {"is not accepted", "other.pem"}}}) {
    try {
      connect_rest(server.url(), options);
      ADD_FAILURE() << "connected without an accepted client certificate";
    } catch (const ConfigurationError& e) {
      const std::string what = e.what();
      for (const auto& w : words) EXPECT_NE(what.find(w), std::string::npos) << what;
      EXPECT_EQ(what.find(kToken), std::string::npos) << what;
    }
  }
  // Raw requests without a certificate: 403 JSON, except the health check.
  httplib::SSLClient raw("127.0.0.1", server.port());
  raw.enable_server_certificate_verification(false);
  auto r = raw.Get("/instances/settings");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_NE(r->body.find("\"client_certificate\""), std::string::npos) << r->body;
  auto health = raw.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);

  // Through the environment, as lamin::connect(url) and the CLI resolve it.
  ::setenv("LAMIN_API_KEY", kToken, 1);
  ::setenv("LAMIN_CA_BUNDLE", (tmp / "cert.pem").c_str(), 1);
  ::setenv("LAMIN_CLIENT_CERT", (tmp / "client.pem").c_str(), 1);
  ::setenv("LAMIN_CLIENT_KEY", (tmp / "client-key.pem").c_str(), 1);
  EXPECT_EQ(connect(server.url())->artifacts().count(), 1);
  ::unsetenv("LAMIN_CLIENT_KEY");
  EXPECT_THROW(connect(server.url()), ConfigurationError);  // a certificate without its key
  ::unsetenv("LAMIN_CLIENT_CERT");
  ::unsetenv("LAMIN_CA_BUNDLE");
  ::unsetenv("LAMIN_API_KEY");
  RestOptions garbage = mine;
  garbage.client_cert = write_file(tmp / "garbage.pem", "not a certificate").string();
  try {
    connect_rest(server.url(), garbage);
    ADD_FAILURE() << "connected with a client certificate that is no certificate";
  } catch (const NetworkError& e) {
    EXPECT_NE(std::string(e.what()).find("the client certificate '" + garbage.client_cert), std::string::npos)
        << e.what();
  }
  RestOptions missing = mine;
  missing.client_key = (tmp / "no-such-key.pem").string();
  try {
    connect_rest(server.url(), missing);
    ADD_FAILURE() << "connected with a missing client key";
  } catch (const ConfigurationError& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-key.pem"), std::string::npos) << e.what();
  }
}

TEST_F(Tls, BadCertificateFilesStopTheServerWithAMessage) {
  const std::string serve = std::string(LAMIN_SERVE_PATH) + " --instance " + (tmp / "served").string() + " --init --port 0";
  auto [rc, out] = run_command(serve + " --tls-cert " + (tmp / "cert.pem").string());
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("--tls-cert and --tls-key go together"), std::string::npos) << out;
  std::tie(rc, out) = run_command(serve + " --tls-cert " + (tmp / "missing.pem").string() + " --tls-key " +
                                  (tmp / "key.pem").string());
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("missing.pem"), std::string::npos) << out;
  // A key that is not the certificate's.
  std::tie(rc, out) = run_command(serve + " --tls-cert " + (tmp / "cert.pem").string() + " --tls-key " +
                                  (tmp / "other-key.pem").string());
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("do not match"), std::string::npos) << out;
  EXPECT_EQ(out.find("listening"), std::string::npos) << out;
  // A client CA without a certificate to serve, and one that is missing.
  std::tie(rc, out) = run_command(serve + " --tls-client-ca " + (tmp / "cert.pem").string());
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("--tls-client-ca needs --tls-cert and --tls-key"), std::string::npos) << out;
  std::tie(rc, out) = run_command(serve + " --tls-cert " + (tmp / "cert.pem").string() + " --tls-key " +
                                  (tmp / "key.pem").string() + " --tls-client-ca " + (tmp / "no-ca.pem").string());
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("no-ca.pem"), std::string::npos) << out;
  EXPECT_EQ(out.find("listening"), std::string::npos) << out;
}

}  // namespace
}  // namespace lamin::test
