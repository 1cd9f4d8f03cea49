// lamin-serve's transport: builds the httplib server (HTTP, HTTPS, mutual TLS) and judges client certificates.
#include "tls.hpp"

#include <filesystem>
#include <system_error>

#include "lamin/error.hpp"

namespace lamin::serve {

namespace fs = std::filesystem;

#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
namespace {

// The server asks for a client certificate but lets the handshake finish without an accepted one; such requests
// are answered 403 with a message (see client_certificate_refusal). Failing the handshake instead sends a TLS alert
// that, under TLS 1.3, a client may only see as a dropped connection once it has started sending its request.
std::unique_ptr<httplib::SSLServer> make_mutual_tls_server(const Config& config) {
  return std::make_unique<httplib::SSLServer>([&config](SSL_CTX& ctx) {
    SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION);
    SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(&ctx, config.tls_cert.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(&ctx, config.tls_key.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(&ctx) != 1 ||
        SSL_CTX_load_verify_locations(&ctx, config.tls_client_ca.c_str(), nullptr) != 1) {
      return false;
    }
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(config.tls_client_ca.c_str())) {
      SSL_CTX_set_client_CA_list(&ctx, names);
    }
    SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
    return true;
  });
}

}  // namespace
#endif

std::unique_ptr<httplib::Server> make_server(const Config& config) {
  if (!config.tls()) return std::make_unique<httplib::Server>();
#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
  for (const fs::path& f : {config.tls_cert, config.tls_key, config.tls_client_ca}) {
    std::error_code ec;
    if (!f.empty() && !fs::is_regular_file(f, ec))
      throw ConfigurationError("cannot read TLS file '" + f.string() + "'");
  }
  std::unique_ptr<httplib::SSLServer> server =
      config.tls_client_ca.empty()
          ? std::make_unique<httplib::SSLServer>(config.tls_cert.c_str(), config.tls_key.c_str())
          : make_mutual_tls_server(config);
  if (!server->is_valid()) {
    throw ConfigurationError(
        "the TLS certificate '" + config.tls_cert.string() + "' and key '" + config.tls_key.string() + "'" +
        (config.tls_client_ca.empty() ? "" : " or the client CA '" + config.tls_client_ca.string() + "'") +
        " cannot be loaded, or do not match");
  }
  return server;
#else
  throw ConfigurationError("this lamin-serve was built without TLS support (cpp-httplib without OpenSSL)");
#endif
}

std::string client_certificate_refusal(const Config& config, const httplib::Request& req) {
#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
  if (config.tls_client_ca.empty() || (req.method == "GET" && req.path == "/health")) return "";
  SSL* ssl = const_cast<SSL*>(req.ssl);
  X509* peer = ssl ? SSL_get_peer_certificate(ssl) : nullptr;
  if (!peer) return "this server requires a TLS client certificate that its client CA signed; none was presented";
  X509_free(peer);
  const long verdict = SSL_get_verify_result(ssl);
  if (verdict != X509_V_OK) {
    return std::string("the TLS client certificate is not accepted: ") + X509_verify_cert_error_string(verdict);
  }
#else
  (void)config;
  (void)req;
#endif
  return "";
}

}  // namespace lamin::serve
