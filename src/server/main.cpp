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

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <memory>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <openssl/crypto.h>

#include "db/rest_json.hpp"
#include "db/sqlite_registry.hpp"
#include "lamin/db.hpp"
#include "lamin/db/uid.hpp"
#include "lamin/error.hpp"
#include "jwt.hpp"
#include "tables.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
namespace rest = lamin::rest;

namespace {

struct Config {
  fs::path instance;
  std::string host = "127.0.0.1";
  int port = -1;
  std::vector<std::string> api_keys;  // empty: no authentication (then only loopback binding is allowed)
  std::string jwt_secret;             // empty: a random one
  std::chrono::seconds token_lifetime{3600};
  bool init = false;
  std::size_t max_body = 1u << 20;                 // JSON bodies
  std::size_t max_upload = std::size_t(64) << 30;  // multipart uploads
  int threads = 16;
  fs::path tls_cert, tls_key;  // PEM files; both set: HTTPS
  fs::path tls_client_ca;      // PEM: clients must present a certificate this CA signed (mutual TLS)
  bool tls() const { return !tls_cert.empty(); }
};

// HTTP, or HTTPS with the configured certificate chain and key.
std::unique_ptr<httplib::Server> make_server(const Config& config) {
  if (!config.tls()) return std::make_unique<httplib::Server>();
#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
  for (const fs::path& f : {config.tls_cert, config.tls_key, config.tls_client_ca}) {
    std::error_code ec;
    if (!f.empty() && !fs::is_regular_file(f, ec)) throw std::runtime_error("cannot read TLS file '" + f.string() + "'");
  }
  std::unique_ptr<httplib::SSLServer> server;
  if (config.tls_client_ca.empty()) {
    server = std::make_unique<httplib::SSLServer>(config.tls_cert.c_str(), config.tls_key.c_str());
  } else {
    // The server asks for a client certificate but lets the handshake finish without an accepted one; such requests
    // are answered 403 with a message (see routes()). Failing the handshake instead sends a TLS alert that, under
    // TLS 1.3, a client may only see as a dropped connection once it has started sending its request.
    server = std::make_unique<httplib::SSLServer>([&config](SSL_CTX& ctx) {
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
  if (!server->is_valid()) {
    throw std::runtime_error("the TLS certificate '" + config.tls_cert.string() + "' and key '" +
                             config.tls_key.string() + "'" +
                             (config.tls_client_ca.empty() ? "" : " or the client CA '" + config.tls_client_ca.string() + "'") +
                             " cannot be loaded, or do not match");
  }
  return server;
#else
  throw std::runtime_error("this lamin-serve was built without TLS support (cpp-httplib without OpenSSL)");
#endif
}

using lamin::serve::HttpError;

class Server {
 public:
  explicit Server(Config config)
      : config_(std::move(config)),
        tokens_(config_.jwt_secret.empty() ? lamin::serve::TokenIssuer::random_secret() : config_.jwt_secret,
                config_.token_lifetime) {
    registry_ = lamin::detail::SqliteRegistry::open(config_.instance, config_.init);
    root_ = fs::weakly_canonical(registry_->info().root);
    uploads_ = root_ / ".lamindb" / ".uploads";
    fs::create_directories(uploads_);
    registry_->database().exec(
        "CREATE TABLE IF NOT EXISTS lamin_serve_request (key TEXT PRIMARY KEY NOT NULL, status INTEGER NOT NULL, "
        "response TEXT NOT NULL, created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)");
    iid_ = registry_->info().storage.instance_uid;
    tables_ = std::make_unique<lamin::serve::Tables>(registry_->database(), registry_->info().user.id);
    svr_ = make_server(config_);
    routes();
  }

  int run() {
    int port = config_.port;
    if (port == 0) {
      port = svr_->bind_to_any_port(config_.host.c_str());
      if (port < 0) return fail("cannot bind " + config_.host);
    } else if (!svr_->bind_to_port(config_.host.c_str(), port)) {
      return fail("cannot bind " + config_.host + ":" + std::to_string(port));
    }
    std::printf("lamin-serve: listening on %s://%s:%d (instance %s)%s\n", config_.tls() ? "https" : "http",
                config_.host.c_str(), port, root_.string().c_str(),
                config_.tls_client_ca.empty() ? "" : ", client certificates required");
    std::fflush(stdout);
    return svr_->listen_after_bind() ? 0 : 1;
  }
  void stop() { svr_->stop(); }

 private:
  static int fail(const std::string& m) {
    std::fprintf(stderr, "lamin-serve: error: %s\n", m.c_str());
    return 1;
  }

  static void send_json(httplib::Response& res, int status, const json& body) {
    res.status = status;
    res.set_content(body.dump(), "application/json");
  }
  static void send_error(httplib::Response& res, int status, const std::string& kind, const std::string& message) {
    send_json(res, status, rest::error_body(kind, message));
  }

  /// The index of the API key `candidate` is, compared in constant time; -1 if none.
  int api_key_index(const std::string& candidate) const {
    int found = -1;
    for (std::size_t i = 0; i < config_.api_keys.size(); ++i) {
      const std::string& k = config_.api_keys[i];
      if (candidate.size() == k.size() && CRYPTO_memcmp(candidate.data(), k.data(), k.size()) == 0)
        found = static_cast<int>(i);
    }
    return found;
  }

  bool authorized(const httplib::Request& req, httplib::Response& res) const {
    if (config_.api_keys.empty()) return true;
    const std::string h = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    std::string message = h.empty() ? "missing bearer token" : "invalid bearer token";
    if (h.size() > prefix.size() && h.compare(0, prefix.size(), prefix) == 0) {
      const std::string bearer = h.substr(prefix.size());
      if (api_key_index(bearer) >= 0) return true;
      switch (tokens_.verify(bearer)) {
        case lamin::serve::TokenIssuer::Check::valid: return true;
        case lamin::serve::TokenIssuer::Check::expired: message = "token expired"; break;
        case lamin::serve::TokenIssuer::Check::bad_signature: message = "invalid token signature"; break;
        case lamin::serve::TokenIssuer::Check::malformed: break;
      }
    }
    res.set_header("WWW-Authenticate", "Bearer");
    send_error(res, 401, "unauthorized", message);
    return false;
  }

  /// LaminHub's `POST /api/account/jwt`: an API key for an access token.
  void exchange(const httplib::Request& req, httplib::Response& res) const {
    const json body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("api_key") || !body["api_key"].is_string() || body.size() != 1) {
      send_error(res, 422, "validation", "the body must be {\"api_key\": \"...\"}");
      return;
    }
    const int index = api_key_index(body["api_key"].get<std::string>());
    if (config_.api_keys.empty()) {
      send_error(res, 404, "not_found", "this server takes no API keys");
    } else if (index < 0) {
      send_error(res, 401, "unauthorized", "invalid API key");
    } else {
      send_json(res, 200, {{"accessToken", tokens_.issue("api-key-" + std::to_string(index))}});
    }
  }

  void check_instance(const std::string& iid) const {
    if (iid != iid_) throw HttpError(404, "not_found", "no instance '" + iid.substr(0, 64) + "' on this server");
  }

  static std::string idempotency_key(const httplib::Request& req) {
    std::string k = req.get_header_value("Idempotency-Key");
    if (k.empty()) return k;
    static const std::regex ok("[A-Za-z0-9_-]{8,64}");
    if (!std::regex_match(k, ok)) throw HttpError(400, "validation", "invalid Idempotency-Key header");
    return k;
  }

  /// A non-negative integer query parameter (`fallback` when absent), at most `max`.
  json generic_query(const std::string& model, const httplib::Request& req, const json& body) {
    return tables_->query(model, body, count_param(req, "limit", 50, lamin::serve::Tables::kMaxLimit),
                          count_param(req, "offset", 0, std::numeric_limits<std::int64_t>::max()));
  }

  static std::int64_t count_param(const httplib::Request& req, const char* name, std::int64_t fallback,
                                  std::int64_t max) {
    if (!req.has_param(name)) return fallback;
    const std::string v = req.get_param_value(name);
    static const std::regex digits("[0-9]{1,18}");
    if (!std::regex_match(v, digits) || std::stoll(v) > max)
      throw HttpError(422, "validation", std::string("query parameter '") + name + "' must be an integer from 0 to " +
                                             std::to_string(max));
    return std::stoll(v);
  }

  static json parse_body(const httplib::Request& req) {
    try {
      return json::parse(req.body);
    } catch (const json::parse_error& e) {
      throw HttpError(400, "validation", std::string("invalid JSON body: ") + e.what());
    }
  }

  /// Authenticates, then runs `fn` (see run_op).
  template <typename F>
  void handle(const httplib::Request& req, httplib::Response& res, bool write, F&& fn) {
    if (!authorized(req, res)) return;
    std::string key;
    try {
      key = write ? idempotency_key(req) : std::string();
    } catch (const HttpError& e) {
      send_error(res, e.status, e.kind, e.what());
      return;
    }
    run_op(res, key, std::forward<F>(fn));
  }

  /// Runs `fn` under the registry lock; with an idempotency key, inside one transaction with the record of the
  /// key, answering a repeated key from its record. Errors become JSON answers.
  template <typename F>
  void run_op(httplib::Response& res, const std::string& key, F&& fn) {
    try {
      std::lock_guard<std::mutex> lock(mutex_);
      if (key.empty()) {
        send_json(res, 200, fn());
        return;
      }
      lamin::Transaction tx(*registry_);
      auto& db = registry_->database();
      auto s = db.prepare("SELECT status, response FROM lamin_serve_request WHERE key = ?");
      s.bind(1, key);
      if (s.step()) {
        res.status = static_cast<int>(s.int64(0));
        res.set_content(s.text(1), "application/json");
        res.set_header("Idempotent-Replayed", "true");
        return;
      }
      const json out = fn();
      const std::string text = out.dump();
      auto ins = db.prepare("INSERT INTO lamin_serve_request (key, status, response) VALUES (?, 200, ?)");
      ins.bind(1, key).bind(2, text);
      ins.run();
      tx.commit();
      res.status = 200;
      res.set_content(text, "application/json");
    } catch (const HttpError& e) {
      send_error(res, e.status, e.kind, e.what());
    } catch (const lamin::Error& e) {
      send_error(res, rest::status_for_kind(e.kind()), e.kind(), e.what());
    } catch (const json::exception& e) {
      send_error(res, 400, "validation", std::string("invalid request: ") + e.what());
    } catch (const std::exception& e) {
      send_error(res, 500, "error", e.what());
    }
  }

  lamin::Registry& reg() { return *registry_; }

  lamin::Artifact artifact_by_id(std::int64_t id) { return reg().get_artifact_by_id(id); }
  lamin::Run run_by_id(std::int64_t id) { return reg().get_run_by_id(id); }

  json values_op(const std::string& op, const json& body) {
    auto host_kind = [&] {
      std::string h = rest::str(body, "host");
      if (h != "artifact" && h != "run") throw lamin::ValidationError("field 'host' must be 'artifact' or 'run'");
      return h;
    };
    if (op == "get") {
      if (host_kind() == "artifact") return {{"values", reg().get_values(artifact_by_id(rest::int64(body, "id")))}};
      return {{"values", reg().get_values(run_by_id(rest::int64(body, "id")))}};
    }
    if (op == "describe") {
      json out = json::array();
      for (const auto& [f, vs] : reg().feature_values(artifact_by_id(rest::int64(body, "artifact_id"))))
        out.push_back({{"feature", rest::to_json(f)}, {"values", vs}});
      return out;
    }
    if (op == "of") {
      const auto& ids_json = rest::member(body, "ids");
      if (!ids_json.is_array() || ids_json.size() > 100000) throw lamin::ValidationError("field 'ids' must be an array");
      std::vector<std::int64_t> ids;
      for (const auto& i : ids_json) {
        if (!i.is_number_integer()) throw lamin::ValidationError("field 'ids' must hold integers");
        ids.push_back(i.get<std::int64_t>());
      }
      auto m = host_kind() == "artifact" ? reg().values_of_artifacts(ids) : reg().values_of_runs(ids);
      json out = json::array();
      for (const auto& [id, v] : m) out.push_back({id, v});
      return out;
    }
    throw HttpError(404, "not_found", "no such operation");
  }

  void upload(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
    // An answer given before the whole body was read must close the connection: on a kept-alive connection the
    // unread rest of the body would be parsed as the next request.
    bool consumed = false;
    struct CloseUnlessConsumed {
      httplib::Response& res;
      const bool& consumed;
      ~CloseUnlessConsumed() {
        if (!consumed) res.set_header("Connection", "close");
      }
    } close_unless_consumed{res, consumed};
    if (!authorized(req, res)) return;
    const fs::path dir = uploads_ / lamin::base62_uid(16);
    try {
      check_instance(req.matches[1]);
      const std::string key = idempotency_key(req);
      if (!req.is_multipart_form_data()) throw HttpError(400, "validation", "expected multipart/form-data");
      fs::create_directories(dir);
      std::string kwargs_text, part;
      fs::path file;
      std::ofstream out;
      bool bad = false;
      std::string bad_message;
      reader(
          [&](const httplib::MultipartFormData& f) {
            part = f.name;
            if (f.name == "file") {
              const std::string& n = f.filename;
              if (!file.empty() || n.empty() || n.size() > 255 || n == "." || n == ".." ||
                  n.find_first_of(std::string("/\\\0", 3)) != std::string::npos) {
                bad = true;
                bad_message = "invalid file name in the upload";
                return false;
              }
              for (unsigned char ch : n)
                if (ch < 32) { bad = true; bad_message = "invalid file name in the upload"; return false; }
              file = dir / n;
              out.open(file, std::ios::binary);
              return static_cast<bool>(out);
            }
            if (f.name != "kwargs") {
              bad = true;
              bad_message = "unexpected form part '" + f.name.substr(0, 64) + "'";
              return false;
            }
            return true;
          },
          [&](const char* data, size_t n) {
            if (part == "file") {
              out.write(data, static_cast<std::streamsize>(n));
              return static_cast<bool>(out);
            }
            if (kwargs_text.size() + n > 65536) { bad = true; bad_message = "kwargs too large"; return false; }
            kwargs_text.append(data, n);
            return true;
          });
      out.close();
      consumed = !bad && static_cast<bool>(out);
      if (bad) throw HttpError(400, "validation", bad_message);
      if (file.empty()) throw HttpError(400, "validation", "missing form part 'file'");
      if (!out) throw HttpError(500, "storage", "cannot write the upload");
      json kwargs;
      try {
        kwargs = json::parse(kwargs_text.empty() ? std::string("{}") : kwargs_text);
      } catch (const json::parse_error& e) {
        throw HttpError(400, "validation", std::string("invalid JSON in kwargs: ") + e.what());
      }
      run_op(res, key, [&] {
        auto options = rest::artifact_options_from_json(kwargs);
        options.storage_mode(lamin::StorageMode::link);  // the temporary upload is never modified again
        auto a = reg().create_artifact(file, options);
        return json{{"body", {{"artifact", rest::to_json(a)}}}};
      });
    } catch (const HttpError& e) {
      send_error(res, e.status, e.kind, e.what());
    } catch (const lamin::Error& e) {
      send_error(res, rest::status_for_kind(e.kind()), e.kind(), e.what());
    } catch (const std::exception& e) {
      send_error(res, 500, "error", e.what());
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  void download(const httplib::Request& req, httplib::Response& res) {
    if (!authorized(req, res)) return;
    try {
      check_instance(req.matches[1]);
      const std::string uid = req.matches[2];
      static const std::regex ok("[0-9A-Za-z]{20}");
      if (!std::regex_match(uid, ok)) throw HttpError(400, "validation", "invalid artifact uid");
      fs::path path;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        auto a = reg().find_artifact(uid);
        if (!a || a->uid != uid) throw HttpError(404, "not_found", "no artifact with uid " + uid);
        path = fs::weakly_canonical(reg().storage_path(*a));
      }
      const std::string p = path.string(), r = (root_ / ".lamindb").string() + "/";
      if (p.compare(0, r.size(), r) != 0) throw HttpError(403, "forbidden", "path outside the storage root");
      auto in = std::make_shared<std::ifstream>(path, std::ios::binary);
      if (!*in) throw HttpError(404, "not_found", "the artifact's file is missing");
      const auto size = fs::file_size(path);
      res.status = 200;
      res.set_content_provider(size, "application/octet-stream",
                               [in](size_t offset, size_t length, httplib::DataSink& sink) {
                                 char buf[1 << 16];
                                 in->seekg(static_cast<std::streamoff>(offset));
                                 in->read(buf, static_cast<std::streamsize>(std::min(length, sizeof buf)));
                                 const auto got = in->gcount();
                                 if (got <= 0) return false;
                                 return sink.write(buf, static_cast<size_t>(got));
                               });
    } catch (const HttpError& e) {
      send_error(res, e.status, e.kind, e.what());
    } catch (const std::exception& e) {
      send_error(res, 500, "error", e.what());
    }
  }

  // With --tls-client-ca: why the request's TLS client certificate is not accepted ("" when it is, and for
  // GET /health).
  std::string client_certificate_refusal(const httplib::Request& req) const {
#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
    if (config_.tls_client_ca.empty() || (req.method == "GET" && req.path == "/health")) return "";
    SSL* ssl = const_cast<SSL*>(req.ssl);
    X509* peer = ssl ? SSL_get_peer_certificate(ssl) : nullptr;
    if (!peer) return "this server requires a TLS client certificate that its client CA signed; none was presented";
    X509_free(peer);
    const long verdict = SSL_get_verify_result(ssl);
    if (verdict != X509_V_OK) {
      return std::string("the TLS client certificate is not accepted: ") + X509_verify_cert_error_string(verdict);
    }
#else
    (void)req;
#endif
    return "";
  }

  void routes() {
    svr_->set_payload_max_length(config_.max_upload);
    // Answers go out in more than one write: without TCP_NODELAY, Nagle's algorithm holds the last one back until
    // the client's delayed ACK (~40 ms per call on Linux).
    svr_->set_tcp_nodelay(true);
    svr_->new_task_queue = [n = config_.threads] { return new httplib::ThreadPool(static_cast<size_t>(n)); };
    svr_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (const auto refusal = client_certificate_refusal(req); !refusal.empty()) {
        res.set_header("Connection", "close");
        send_error(res, 403, "client_certificate", refusal);
        return httplib::Server::HandlerResponse::Handled;
      }
      const bool is_upload = req.path.find("/artifacts/upload") != std::string::npos;
      std::uint64_t len = 0;
      try {
        const std::string v = req.get_header_value("Content-Length");
        if (!v.empty()) len = std::stoull(v);
      } catch (const std::exception&) {
        len = ~std::uint64_t(0);
      }
      if ((is_upload && len > config_.max_upload) || (!is_upload && len > config_.max_body)) {
        res.set_header("Connection", "close");
        send_error(res, 413, "too_large", "request body too large (" + std::to_string(len) + " bytes)");
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    svr_->set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (res.body.empty()) {
        const char* kind = res.status == 404 ? "not_found" : res.status == 413 ? "too_large" : "error";
        send_error(res, res.status, kind, std::string("HTTP ") + std::to_string(res.status));
      }
    });
    svr_->set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
      send_error(res, 500, "error", "internal error");
    });

    svr_->Get("/health", [](const httplib::Request&, httplib::Response& res) { send_json(res, 200, {{"status", "ok"}}); });
    svr_->Post("/api/account/jwt", [this](const httplib::Request& req, httplib::Response& res) { exchange(req, res); });
    svr_->Get("/instances/settings", [this](const httplib::Request& req, httplib::Response& res) {
      handle(req, res, false, [&] {
        json out = rest::to_json(reg().info());
        out["id"] = iid_;
        out["api"] = "lamin-serve/1";
        return out;
      });
    });
    const std::string I = R"(/instances/([^/]+))";
    auto json_route = [this](const char* method, const std::string& pattern, bool write,
                             std::function<json(const httplib::Request&, const json&)> fn) {
      auto h = [this, write, fn](const httplib::Request& req, httplib::Response& res) {
        handle(req, res, write, [&] {
          check_instance(req.matches[1]);
          const json body = req.body.empty() ? json::object() : parse_body(req);
          return fn(req, body);
        });
      };
      const std::string m = method;
      if (m == "GET") svr_->Get(pattern, h);
      else if (m == "POST") svr_->Post(pattern, h);
      else if (m == "PUT") svr_->Put(pattern, h);
      else if (m == "PATCH") svr_->Patch(pattern, h);
      else svr_->Delete(pattern, h);
    };

    // features
    json_route("PUT", I + "/modules/core/feature", true, [this](const auto&, const json& b) {
      return json::array({rest::to_json(reg().create_feature(rest::feature_options_from_json(b)))});
    });
    json_route("POST", I + "/modules/core/feature", false, [this](const httplib::Request& req, const json& b) {
      if (lamin::serve::Tables::is_generic_query(b)) return generic_query("feature", req, b);
      json out = json::array();
      for (const auto& f : reg().features()) out.push_back(rest::to_json(f));
      return out;
    });
    json_route("POST", I + "/modules/core/feature/find", false, [this](const auto&, const json& b) {
      if (b.is_object() && b.contains("refs")) {
        // several names at once, each resolved (or failed) as alone: {"results": [{"record"} | {"error"}, ...]}
        const json& refs = b["refs"];
        if (!refs.is_array() || refs.size() > lamin::serve::Tables::kMaxRecords)
          throw lamin::ValidationError("field 'refs' must be a list of at most 1000 features");
        json results = json::array();
        for (const auto& r : refs) {
          const auto ref = rest::feature_ref_from_json(r);
          try {
            auto f = reg().find_feature(ref);
            results.push_back({{"record", f ? rest::to_json(*f) : json(nullptr)}});
          } catch (const lamin::ValidationError& e) {
            results.push_back(rest::error_body(e.kind(), e.what()));
          }
        }
        return json{{"results", results}};
      }
      std::optional<lamin::Feature> f;
      if (auto type_id = rest::opt_int64(b, "type_id")) {
        lamin::Feature type;
        type.id = *type_id;
        f = reg().find_feature(rest::str(b, "name"), type);
      } else {
        f = reg().find_feature(rest::feature_ref_from_json(b));
      }
      return json{{"record", f ? rest::to_json(*f) : json(nullptr)}};
    });
    // transforms and runs
    json_route("PUT", I + "/modules/core/transform", true, [this](const auto&, const json& b) {
      return json::array({rest::to_json(reg().create_transform(rest::transform_options_from_json(b)))});
    });
    json_route("POST", I + "/modules/core/transform/get", false, [this](const auto&, const json& b) {
      try {
        return json{{"record", rest::to_json(reg().get_transform_by_id(rest::int64(b, "id")))}};
      } catch (const lamin::NotFoundError&) {
        return json{{"record", nullptr}};
      }
    });
    json_route("PUT", I + "/modules/core/run", true, [this](const auto&, const json& b) {
      lamin::Transform t = reg().get_transform_by_id(rest::int64(b, "transform_id"));
      return json::array({rest::to_json(reg().create_run(t, rest::run_options_from_json(b)))});
    });
    json_route("POST", I + "/modules/core/run/get", false, [this](const auto&, const json& b) {
      std::optional<lamin::Run> r;
      if (auto uid = rest::opt_str(b, "uid")) {
        r = reg().find_run(*uid);
      } else {
        try {
          r = reg().get_run_by_id(rest::int64(b, "id"));
        } catch (const lamin::NotFoundError&) {
        }
      }
      return json{{"record", r ? rest::to_json(*r) : json(nullptr)}};
    });
    json_route("PATCH", I + "/modules/core/run/([0-9A-Za-z]{1,32})", true, [this](const httplib::Request& req, const json& b) {
      auto run = reg().find_run(req.matches[2]);
      if (!run) throw lamin::NotFoundError("Run matching query does not exist: uid " + std::string(req.matches[2]));
      const auto code = rest::int64(b, "_status_code");
      if (code < -3 || code > 2) throw lamin::ValidationError("field '_status_code' must be between -3 and 2");
      return json::array({rest::to_json(reg().finish_run(*run, static_cast<lamin::RunStatus>(code)))});
    });
    json_route("POST", I + "/modules/core/run", false, [this](const httplib::Request& req, const json& b) {
      if (lamin::serve::Tables::is_generic_query(b)) return generic_query("run", req, b);
      const auto spec = rest::query_spec_from_json(rest::member(b, "lamin_query"));
      if (rest::boolean(b, "count", false)) return json{{"count", reg().count_runs(spec)}};
      json out = json::array();
      for (const auto& r : reg().select_runs(spec)) out.push_back(rest::to_json(r));
      return out;
    });
    // artifacts
    json_route("POST", I + "/modules/core/artifact", false, [this](const httplib::Request& req, const json& b) {
      if (lamin::serve::Tables::is_generic_query(b)) return generic_query("artifact", req, b);
      const auto spec = rest::query_spec_from_json(rest::member(b, "lamin_query"));
      if (rest::boolean(b, "count", false)) return json{{"count", reg().count_artifacts(spec)}};
      json out = json::array();
      for (const auto& a : reg().select_artifacts(spec)) out.push_back(rest::to_json(a));
      return out;
    });
    json_route("POST", I + "/modules/core/artifact/get", false, [this](const auto&, const json& b) {
      std::optional<lamin::Artifact> a;
      if (auto k = rest::opt_str(b, "uid_or_key")) {
        a = reg().find_artifact(*k);
      } else {
        try {
          a = reg().get_artifact_by_id(rest::int64(b, "id"));
        } catch (const lamin::NotFoundError&) {
        }
      }
      return json{{"record", a ? rest::to_json(*a) : json(nullptr)}};
    });
    json_route("DELETE", I + "/modules/core/artifact/([^/]+)", true, [this](const httplib::Request& req, const json&) {
      static const std::regex ok("[0-9A-Za-z]{20}");
      const std::string uid = req.matches[2];
      if (!std::regex_match(uid, ok)) throw HttpError(400, "validation", "invalid artifact uid");
      auto a = reg().find_artifact(uid);
      if (!a) throw lamin::NotFoundError("Artifact matching query does not exist: uid " + uid);
      reg().delete_artifact(*a);
      return json{{"deleted_count", 1}};
    });
    json_route("PUT", I + "/modules/core/artifact_input_of_runs/upsert", true, [this](const httplib::Request& req, const json& b) {
      auto cols = req.get_param_value_count("conflict_columns");
      if (cols != 2 || req.get_param_value("conflict_columns", 0) != "artifact_id" ||
          req.get_param_value("conflict_columns", 1) != "run_id")
        throw HttpError(422, "validation", "conflict_columns must be artifact_id and run_id");
      if (!b.is_array() || b.size() > 1000) throw lamin::ValidationError("body must be a list of at most 1000 records");
      for (const auto& r : b) reg().add_run_input(artifact_by_id(rest::int64(r, "artifact_id")), run_by_id(rest::int64(r, "run_id")));
      return json::array();
    });
    json_route("POST", I + "/lineage/input_of_runs", false, [this](const auto&, const json& b) {
      json out = json::array();
      for (const auto& r : reg().input_of_runs(artifact_by_id(rest::int64(b, "artifact_id")))) out.push_back(rest::to_json(r));
      return out;
    });
    json_route("POST", I + "/lineage/run_inputs", false, [this](const auto&, const json& b) {
      json out = json::array();
      for (const auto& a : reg().run_inputs(run_by_id(rest::int64(b, "run_id")))) out.push_back(rest::to_json(a));
      return out;
    });
    // LaminHub's generic registry endpoints, for feature values and their links (tables.hpp)
    const std::string M = I + "/modules/core/(" + lamin::serve::Tables::model_pattern() + ")";
    json_route("PUT", M + "/upsert", true, [this](const httplib::Request& req, const json& b) {
      std::vector<std::string> columns;
      for (std::size_t i = 0, n = req.get_param_value_count("conflict_columns"); i < n; ++i) {
        std::stringstream list(req.get_param_value("conflict_columns", i));
        for (std::string c; std::getline(list, c, ',');) columns.push_back(c);
      }
      lamin::Transaction tx(reg());
      json out = tables_->upsert(req.matches[2], columns, b);
      tx.commit();
      return out;
    });
    json_route("POST", M, false, [this](const httplib::Request& req, const json& b) {
      return generic_query(req.matches[2], req, b);
    });
    // read-only through the generic query (their writes have their own routes)
    json_route("POST", I + "/modules/core/(transform|artifact_input_of_runs)", false,
               [this](const httplib::Request& req, const json& b) { return generic_query(req.matches[2], req, b); });
    json_route("PUT", I + "/modules/core/(" + std::string(lamin::serve::Tables::query_only_pattern()) +
                          "|transform|artifact_input_of_runs)/upsert", true,
               [this](const httplib::Request& req, const json& b) {
                 return tables_->upsert(req.matches[2], {"id"}, b);  // answers 405: read-only here
               });
    json_route("POST", M + "/batch-delete", true, [this](const httplib::Request& req, const json& b) {
      lamin::Transaction tx(reg());
      json out = tables_->batch_delete(req.matches[2], b);
      tx.commit();
      return out;
    });
    for (const char* op : {"get", "describe", "of"}) {
      json_route("POST", I + "/values/" + op, false, [this, op](const auto&, const json& b) { return values_op(op, b); });
    }
    json_route("POST", I + "/recover", true, [this](const auto&, const json& b) {
      const auto& m = rest::member(b, "min_age_seconds");
      if (!m.is_number()) throw lamin::ValidationError("field 'min_age_seconds' must be a number");
      return json{{"count", reg().recover(m.get<double>())}};
    });
    svr_->Post(I + "/artifacts/upload",
              [this](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
                upload(req, res, reader);
              });
    svr_->Get(I + "/artifacts/([^/]+)/file",
             [this](const httplib::Request& req, httplib::Response& res) { download(req, res); });
  }

  Config config_;
  lamin::serve::TokenIssuer tokens_;
  std::shared_ptr<lamin::detail::SqliteRegistry> registry_;
  fs::path root_, uploads_;
  std::unique_ptr<lamin::serve::Tables> tables_;
  std::string iid_;
  std::mutex mutex_;
  std::unique_ptr<httplib::Server> svr_;
};

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

std::atomic<Server*> g_server{nullptr};

}  // namespace

int main(int argc, char** argv) {
  Config config;
  try {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw std::runtime_error("option " + a + " needs a value");
        return argv[++i];
      };
      if (a == "--help" || a == "-h") {
        std::cout << kUsage;
        return 0;
      } else if (a == "--instance") {
        config.instance = value();
      } else if (a == "--port") {
        config.port = std::stoi(value());
      } else if (a == "--host") {
        config.host = value();
      } else if (a == "--token-file") {
        std::ifstream in(value());
        if (!in) throw std::runtime_error("cannot read the token file");
        for (std::string key; std::getline(in, key);) {
          while (!key.empty() && (key.back() == '\r' || key.back() == ' ' || key.back() == '\t')) key.pop_back();
          if (key.empty()) continue;
          if (key.size() < 16) throw std::runtime_error("API keys must have at least 16 characters");
          config.api_keys.push_back(key);
        }
        if (config.api_keys.empty()) throw std::runtime_error("the token file holds no API key");
      } else if (a == "--token-lifetime") {
        const long long s = std::stoll(value());
        if (s <= 0) throw std::runtime_error("--token-lifetime must be positive");
        config.token_lifetime = std::chrono::seconds(s);
      } else if (a == "--jwt-secret-file") {
        std::ifstream in(value(), std::ios::binary);
        if (!in) throw std::runtime_error("cannot read the JWT secret file");
        config.jwt_secret.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        if (config.jwt_secret.size() < 32) throw std::runtime_error("the JWT secret must have at least 32 bytes");
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
        throw std::runtime_error("unknown argument '" + a + "'");
      }
    }
    if (config.instance.empty() || config.port < 0 || config.port > 65535)
      throw std::runtime_error("--instance DIR and --port P are required");
    if (config.tls_cert.empty() != config.tls_key.empty())
      throw std::runtime_error("--tls-cert and --tls-key go together");
    if (!config.tls_client_ca.empty() && config.tls_cert.empty())
      throw std::runtime_error("--tls-client-ca needs --tls-cert and --tls-key");
    if (config.api_keys.empty() && config.host != "127.0.0.1" && config.host != "::1" && config.host != "localhost")
      throw std::runtime_error("without --token-file the server only binds to loopback (use --host 127.0.0.1)");
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
