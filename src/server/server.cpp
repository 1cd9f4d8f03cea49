// lamin-serve's core: opening the instance, the listener and its hooks (body limits, client certificates, error
// answers), and the machinery every route shares: authentication, the registry lock, idempotent writes and
// errors as JSON answers.
#include "server.hpp"

#include <cstdio>
#include <limits>
#include <regex>

#include "db/rest_json.hpp"
#include "lamin/db/instance.hpp"
#include "lamin/error.hpp"
#include "tls.hpp"

namespace lamin::serve {

namespace fs = std::filesystem;
namespace rest = lamin::rest;
using nlohmann::json;

namespace {

int fail(const std::string& m) {
  std::fprintf(stderr, "lamin-serve: error: %s\n", m.c_str());
  return 1;
}

}  // namespace

Server::Server(Config config)
    : config_(std::move(config)),
      tokens_(config_.jwt_secret.empty() ? TokenIssuer::random_secret() : config_.jwt_secret,
              config_.token_lifetime) {
  registry_ = lamin::detail::SqliteRegistry::open(config_.instance, config_.init);
  root_ = fs::weakly_canonical(registry_->info().root);
  uploads_ = root_ / ".lamindb" / ".uploads";
  fs::create_directories(uploads_);
  registry_->database().exec(
      "CREATE TABLE IF NOT EXISTS lamin_serve_request (key TEXT PRIMARY KEY NOT NULL, status INTEGER NOT NULL, "
      "response TEXT NOT NULL, created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)");
  iid_ = registry_->info().storage.instance_uid;
  tables_ = std::make_unique<Tables>(registry_->database(), registry_->info().user.id);
  svr_ = make_server(config_);
  configure_listener();
  const std::string instance = R"(/instances/([^/]+))";
  add_instance_routes();
  add_feature_routes(instance);
  add_run_routes(instance);
  add_artifact_routes(instance);
  add_table_routes(instance);
  add_value_routes(instance);
  add_file_routes(instance);
}

int Server::run() {
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

void Server::configure_listener() {
  svr_->set_payload_max_length(config_.max_upload);
  // Answers go out in more than one write: without TCP_NODELAY, Nagle's algorithm holds the last one back until
  // the client's delayed ACK (~40 ms per call on Linux).
  svr_->set_tcp_nodelay(true);
  svr_->new_task_queue = [n = config_.threads] { return new httplib::ThreadPool(static_cast<size_t>(n)); };
  svr_->set_pre_routing_handler(
      [this](const httplib::Request& req, httplib::Response& res) { return pre_route(req, res); });
  svr_->set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) {
      const char* kind = res.status == 404 ? "not_found" : res.status == 413 ? "too_large" : "error";
      send_error(res, res.status, kind, std::string("HTTP ") + std::to_string(res.status));
    }
  });
  svr_->set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    send_error(res, 500, "error", "internal error");
  });
}

// Before any route: refuses requests without an accepted client certificate (mutual TLS) and bodies over the limit.
httplib::Server::HandlerResponse Server::pre_route(const httplib::Request& req, httplib::Response& res) const {
  if (const auto refusal = client_certificate_refusal(config_, req); !refusal.empty()) {
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
}

void Server::handle(const httplib::Request& req, httplib::Response& res, bool write, const Op& fn) {
  if (!authorized(req, res)) return;
  std::string key;
  try {
    key = write ? idempotency_key(req) : std::string();
  } catch (const HttpError& e) {
    send_error(res, e.status(), e.kind(), e.what());
    return;
  }
  run_op(res, key, fn);
}

void Server::run_op(httplib::Response& res, const std::string& key, const Op& fn) {
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
  } catch (const json::exception& e) {
    send_error(res, 400, "validation", std::string("invalid request: ") + e.what());
  } catch (const std::exception& e) {
    send_exception(res, e);
  }
}

void Server::json_route(const char* method, const std::string& pattern, bool write, JsonHandler fn) {
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
}

void Server::check_instance(const std::string& iid) const {
  if (iid != iid_) throw HttpError(404, "not_found", "no instance '" + iid.substr(0, 64) + "' on this server");
}

json Server::generic_query(const std::string& model, const httplib::Request& req, const json& body) {
  return tables_->query(model, body, count_param(req, "limit", 50, Tables::kMaxLimit),
                        count_param(req, "offset", 0, std::numeric_limits<std::int64_t>::max()));
}

void Server::send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void Server::send_error(httplib::Response& res, int status, const std::string& kind, const std::string& message) {
  send_json(res, status, rest::error_body(kind, message));
}

void Server::send_exception(httplib::Response& res, const std::exception& e) {
  if (const auto* http = dynamic_cast<const HttpError*>(&e)) {
    send_error(res, http->status(), http->kind(), e.what());
  } else if (const auto* error = dynamic_cast<const lamin::Error*>(&e)) {
    send_error(res, rest::status_for_kind(error->kind()), error->kind(), e.what());
  } else {
    send_error(res, 500, "error", e.what());
  }
}

std::string Server::idempotency_key(const httplib::Request& req) {
  std::string k = req.get_header_value("Idempotency-Key");
  if (k.empty()) return k;
  static const std::regex ok("[A-Za-z0-9_-]{8,64}");
  if (!std::regex_match(k, ok)) throw HttpError(400, "validation", "invalid Idempotency-Key header");
  return k;
}

std::int64_t Server::count_param(const httplib::Request& req, const char* name, std::int64_t fallback,
                                 std::int64_t max) {
  if (!req.has_param(name)) return fallback;
  const std::string v = req.get_param_value(name);
  static const std::regex digits("[0-9]{1,18}");
  if (!std::regex_match(v, digits) || std::stoll(v) > max)
    throw HttpError(422, "validation", std::string("query parameter '") + name + "' must be an integer from 0 to " +
                                           std::to_string(max));
  return std::stoll(v);
}

json Server::parse_body(const httplib::Request& req) {
  try {
    return json::parse(req.body);
  } catch (const json::parse_error& e) {
    throw HttpError(400, "validation", std::string("invalid JSON body: ") + e.what());
  }
}

}  // namespace lamin::serve
