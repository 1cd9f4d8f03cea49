#pragma once
// lamin-serve's settings, as its command-line flags give them (main.cpp parses them).

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace lamin::serve {

struct Config {
  std::filesystem::path instance;
  std::string host = "127.0.0.1";
  int port = -1;
  std::vector<std::string> api_keys;  // empty: no authentication (then only loopback binding is allowed)
  std::string jwt_secret;             // empty: a random one
  std::chrono::seconds token_lifetime{3600};
  bool init = false;
  std::size_t max_body = 1u << 20;                 // JSON bodies
  std::size_t max_upload = std::size_t(64) << 30;  // multipart uploads
  int threads = 16;
  std::filesystem::path tls_cert, tls_key;  // PEM files; both set: HTTPS
  std::filesystem::path tls_client_ca;      // PEM: clients must present a certificate this CA signed (mutual TLS)
  bool tls() const { return !tls_cert.empty(); }
};

}  // namespace lamin::serve
