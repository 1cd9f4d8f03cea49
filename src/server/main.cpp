// lamin-serve: LaminDB's REST API (the subset lamin-cpp's RestRegistry speaks) over a lamin-cpp SQLite instance and
// its storage folder.
//
//   lamin-serve --instance DIR --port P [--host 127.0.0.1] [--token-file F] [--init]
//               [--token-lifetime SECONDS] [--jwt-secret-file S]
//               [--max-body BYTES] [--max-upload BYTES] [--threads N]
//               [--tls-cert CERT.pem --tls-key KEY.pem [--tls-client-ca CA.pem]]
//
// Authentication (LaminHub's): the API keys are the non-empty lines of F. `POST /api/account/jwt` with
// `{"api_key": K}` exchanges a key for `{"accessToken": <jwt>}`, an HS256 JWT valid for --token-lifetime seconds
// (default 3600) signed with a secret drawn at start (or read from S, so tokens outlive a restart). Every other
// request but GET /health needs `Authorization: Bearer <jwt>`, or, for simple clients, the API key itself; a token
// with a bad signature or past its expiry is answered 401.
//
// Routes: the instance's settings; features, transforms, runs, artifacts (upload, download, query, delete) and run
// inputs in LaminHub's shapes; LaminHub's generic upsert / query / batch-delete for feature values and their links
// (tables.hpp); and value reads. Bodies are parsed strictly; every error is a JSON object
// `{"error": {"kind", "message"}}` with a 4xx status (5xx only for failures of the server itself). Writes with an
// `Idempotency-Key` header are recorded with their answer in the same SQLite transaction, so a retried write is
// answered from the record and never applied twice. Registry calls are serialised by one mutex (SQLite has one
// writer anyway); uploads stream to a temporary file under `<root>/.lamindb/.uploads/` outside the lock.
//
// With --tls-cert and --tls-key (PEM) it serves HTTPS, through cpp-httplib's SSLServer (OpenSSL); with
// --tls-client-ca as well, only requests over a connection with a client certificate that CA signed are served
// (mutual TLS); others are answered 403.
//
// This file parses the flags and runs the server until SIGINT or SIGTERM; the server itself is server.hpp.

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "lamin/error.hpp"
#include "server.hpp"

namespace {

using lamin::ConfigurationError;
using lamin::serve::Config;
using lamin::serve::Server;

const char* kUsage =
    "usage: lamin-serve --instance DIR --port P [--host ADDR] [--token-file F] [--init]\n"
    "                   [--token-lifetime SECONDS] [--jwt-secret-file S]\n"
    "                   [--max-body BYTES] [--max-upload BYTES] [--threads N]\n"
    "                   [--tls-cert CERT.pem --tls-key KEY.pem [--tls-client-ca CA.pem]]\n"
    "\n"
    "Serves LaminDB's REST API over the lamin-cpp instance at DIR. --port 0 picks a free port (printed).\n"
    "With --token-file (one API key per line), POST /api/account/jwt {\"api_key\": K} answers {\"accessToken\": JWT}\n"
    "(valid --token-lifetime seconds, default 3600; signed with a random secret, or the contents of S), and every\n"
    "request needs `Authorization: Bearer <JWT or API key>`; without one, the server\n"
    "only binds to loopback addresses. With --tls-cert and --tls-key (PEM: the certificate chain, the private key)\n"
    "it serves HTTPS; clients verify the certificate (LAMIN_CA_BUNDLE names a CA file for a private CA). With\n"
    "--tls-client-ca, only clients presenting a certificate that CA signed are served, others get 403\n"
    "(LAMIN_CLIENT_CERT and LAMIN_CLIENT_KEY name theirs); tokens are still checked.\n";

// Adds the API keys of a --token-file to `keys`: its non-empty lines, trailing whitespace removed.
void read_api_keys(const std::string& path, std::vector<std::string>& keys) {
  std::ifstream in(path);
  if (!in) throw ConfigurationError("cannot read the token file");
  for (std::string key; std::getline(in, key);) {
    while (!key.empty() && (key.back() == '\r' || key.back() == ' ' || key.back() == '\t')) key.pop_back();
    if (key.empty()) continue;
    if (key.size() < 16) throw ConfigurationError("API keys must have at least 16 characters");
    keys.push_back(key);
  }
  if (keys.empty()) throw ConfigurationError("the token file holds no API key");
}

std::string read_jwt_secret(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigurationError("cannot read the JWT secret file");
  std::string secret{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (secret.size() < 32) throw ConfigurationError("the JWT secret must have at least 32 bytes");
  return secret;
}

// Settings that only make sense together.
void check(const Config& config) {
  if (config.instance.empty() || config.port < 0 || config.port > 65535)
    throw ConfigurationError("--instance DIR and --port P are required");
  if (config.tls_cert.empty() != config.tls_key.empty())
    throw ConfigurationError("--tls-cert and --tls-key go together");
  if (!config.tls_client_ca.empty() && config.tls_cert.empty())
    throw ConfigurationError("--tls-client-ca needs --tls-cert and --tls-key");
  if (config.api_keys.empty() && config.host != "127.0.0.1" && config.host != "::1" && config.host != "localhost")
    throw ConfigurationError("without --token-file the server only binds to loopback (use --host 127.0.0.1)");
}

// Parses the flags into `config`; false for --help. Throws for bad flags.
bool parse_flags(int argc, char** argv, Config& config) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw ConfigurationError("option " + a + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      return false;
    } else if (a == "--instance") {
      config.instance = value();
    } else if (a == "--port") {
      config.port = std::stoi(value());
    } else if (a == "--host") {
      config.host = value();
    } else if (a == "--token-file") {
      read_api_keys(value(), config.api_keys);
    } else if (a == "--token-lifetime") {
      const long long s = std::stoll(value());
      if (s <= 0) throw ConfigurationError("--token-lifetime must be positive");
      config.token_lifetime = std::chrono::seconds(s);
    } else if (a == "--jwt-secret-file") {
      config.jwt_secret = read_jwt_secret(value());
    } else if (a == "--init") {
      config.init = true;
    } else if (a == "--max-body") {
      config.max_body = std::stoull(value());
    } else if (a == "--max-upload") {
      config.max_upload = std::stoull(value());
    } else if (a == "--threads") {
      config.threads = std::max(1, std::stoi(value()));
    } else if (a == "--tls-cert") {
      config.tls_cert = value();
    } else if (a == "--tls-key") {
      config.tls_key = value();
    } else if (a == "--tls-client-ca") {
      config.tls_client_ca = value();
    } else {
      throw ConfigurationError("unknown argument '" + a + "'");
    }
  }
  check(config);
  return true;
}

std::atomic<Server*> g_server{nullptr};

}  // namespace

int main(int argc, char** argv) {
  Config config;
  try {
    if (!parse_flags(argc, argv, config)) {
      std::cout << kUsage;
      return 0;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lamin-serve: error: %s\n%s", e.what(), kUsage);
    return 2;
  }
  // SIGINT/SIGTERM stop the server cleanly; a signal thread waits for them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  try {
    Server server(config);
    g_server = &server;
    std::thread([set]() mutable {
      int sig = 0;
      sigwait(&set, &sig);
      if (Server* s = g_server.load()) s->stop();
    }).detach();
    const int rc = server.run();
    g_server = nullptr;
    return rc;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lamin-serve: error: %s\n", e.what());
    return 1;
  }
}
