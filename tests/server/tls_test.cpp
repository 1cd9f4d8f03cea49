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
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>

#include "common/files.hpp"
#include "common/process.hpp"
#include "common/serve.hpp"
#include "lamin/db.hpp"

namespace lamin::test {
namespace {

using Key = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using Certificate = std::unique_ptr<X509, decltype(&X509_free)>;

/// Writes a certificate for `common_name` with `extensions` and a new P-256 key, as PEM: signed by the CA whose
/// certificate and key files are `ca`, or by itself.
void write_certificate(const fs::path& cert_path, const fs::path& key_path, const std::string& common_name,
                       const std::vector<std::pair<int, const char*>>& extensions,
                       const std::optional<std::pair<fs::path, fs::path>>& ca = std::nullopt) {
  Key key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  ASSERT_TRUE(key);
  Certificate cert(X509_new(), X509_free);
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), ca ? 2 : 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0);
  Certificate ca_cert(nullptr, X509_free);
  Key ca_key(nullptr, EVP_PKEY_free);
  if (ca) {
    FILE* f = std::fopen(ca->first.c_str(), "rb");
    ASSERT_NE(f, nullptr);
    ca_cert.reset(PEM_read_X509(f, nullptr, nullptr, nullptr));
    std::fclose(f);
    f = std::fopen(ca->second.c_str(), "rb");
    ASSERT_NE(f, nullptr);
    ca_key.reset(PEM_read_PrivateKey(f, nullptr, nullptr, nullptr));
    std::fclose(f);
    ASSERT_TRUE(ca_cert && ca_key);
  }
  X509* issuer = ca ? ca_cert.get() : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer));
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert.get(), nullptr, nullptr, 0);
  for (const auto& [nid, value] : extensions) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    ASSERT_NE(ext, nullptr);
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  ASSERT_GT(X509_sign(cert.get(), ca ? ca_key.get() : key.get(), EVP_sha256()), 0);
  FILE* c = std::fopen(cert_path.c_str(), "wb");
  ASSERT_NE(c, nullptr);
  PEM_write_X509(c, cert.get());
  std::fclose(c);
  FILE* k = std::fopen(key_path.c_str(), "wb");
  ASSERT_NE(k, nullptr);
  PEM_write_PrivateKey(k, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(k);
}

/// A self-signed certificate for 127.0.0.1 and localhost that is its own CA.
void write_self_signed(const fs::path& cert_path, const fs::path& key_path, const std::string& common_name) {
  write_certificate(cert_path, key_path, common_name,
                    {{NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost"}, {NID_basic_constraints, "critical,CA:TRUE"}});
}

/// A client certificate that the CA in `ca_cert_path` / `ca_key_path` signed.
void write_client_certificate(const fs::path& cert_path, const fs::path& key_path, const std::string& common_name,
                              const fs::path& ca_cert_path, const fs::path& ca_key_path) {
  write_certificate(cert_path, key_path, common_name, {{NID_ext_key_usage, "clientAuth"}},
                    std::make_pair(ca_cert_path, ca_key_path));
}

/// The message of the error of type E that connecting with `options` fails with (a test failure if it connects).
template <typename E>
std::string refusal(const std::string& url, const RestOptions& options) {
  try {
    connect_rest(url, options);
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "connected to " << url;
  return "";
}

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
  /// A training's calls through `remote`: a feature, a checkpoint with its value, a query finding it.
  Artifact register_checkpoint(Instance& remote, const std::string& content) {
    remote->create_feature(FeatureOptions("val_loss", "float"));
    auto a = remote->create_artifact(write_file(tmp / "files" / "m.ckpt", content),
                                     ArtifactOptions("ckpt/m.ckpt").kind("model"));
    remote->add_values(a, {{"val_loss", 0.25}});
    EXPECT_EQ(remote->artifacts().where(feature("val_loss") < 0.5).count(), 1);
    return a;
  }
  TempDir tmp;
};

TEST_F(Tls, ClientsTrustTheServerThroughTheirCaBundle) {
  ServeProcess server(tmp / "served", token_file(tmp), tls_args());
  server.start();
  ASSERT_EQ(server.url().rfind("https://127.0.0.1:", 0), 0u) << server.url();

  RestOptions trusting = rest_options();
  trusting.ca_bundle((tmp / "cert.pem").string());
  auto remote = connect_rest(server.url(), trusting);
  const Artifact a = register_checkpoint(remote, "weights over TLS");
  download_file(remote, a, tmp / "back.ckpt");
  EXPECT_EQ(read_file(tmp / "back.ckpt"), "weights over TLS");
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
    o.ca_bundle(bundle);
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
  missing.ca_bundle((tmp / "no-such.pem").string());
  const std::string no_bundle = refusal<NetworkError>(server.url(), missing);
  EXPECT_NE(no_bundle.find("no-such.pem"), std::string::npos) << no_bundle;
  // Turned off explicitly (tests against throwaway servers), the connection is made.
  RestOptions insecure = rest_options();
  insecure.verify_tls(false);
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
  mine.ca_bundle((tmp / "cert.pem").string())
      .client_cert((tmp / "client.pem").string())
      .client_key((tmp / "client-key.pem").string());
  auto remote = connect_rest(server.url(), mine);
  register_checkpoint(remote, "weights over mutual TLS");

  // No certificate, or one another CA signed: answered 403 with a message saying which, at once, never the key.
  RestOptions none = mine, foreign = mine;
  none.client_cert("").client_key("");
  foreign.client_cert((tmp / "other.pem").string()).client_key((tmp / "other-key.pem").string());
  for (const auto& [options, words] :
       {std::pair<RestOptions, std::vector<std::string>>{none, {"none was presented", "LAMIN_CLIENT_CERT"}},
        {foreign, {"is not accepted", "other.pem"}}}) {
    const std::string what = refusal<ConfigurationError>(server.url(), options);
    for (const auto& w : words) EXPECT_NE(what.find(w), std::string::npos) << what;
    EXPECT_EQ(what.find(kToken), std::string::npos) << what;
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
  garbage.client_cert(write_file(tmp / "garbage.pem", "not a certificate").string());
  const std::string bad_cert = refusal<NetworkError>(server.url(), garbage);
  EXPECT_NE(bad_cert.find("the client certificate '" + garbage.client_cert()), std::string::npos) << bad_cert;
  RestOptions missing = mine;
  missing.client_key((tmp / "no-such-key.pem").string());
  const std::string no_key = refusal<ConfigurationError>(server.url(), missing);
  EXPECT_NE(no_key.find("no-such-key.pem"), std::string::npos) << no_key;
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
