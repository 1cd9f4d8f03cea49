// lamin-serve's instance-level routes: GET /health, LaminHub's API-key exchange (POST /api/account/jwt), the
// instance's settings and POST .../recover; and the authentication every other route goes through.
#include <openssl/crypto.h>

#include "db/rest_json.hpp"
#include "lamin/error.hpp"
#include "server.hpp"

namespace lamin::serve {

namespace rest = lamin::rest;
using nlohmann::json;

void Server::add_instance_routes() {
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
  json_route("POST", R"(/instances/([^/]+)/recover)", true, [this](const auto&, const json& b) {
    const auto& m = rest::member(b, "min_age_seconds");
    if (!m.is_number()) throw lamin::ValidationError("field 'min_age_seconds' must be a number");
    return json{{"count", reg().recover(m.get<double>())}};
  });
}

int Server::api_key_index(const std::string& candidate) const {
  int found = -1;
  for (std::size_t i = 0; i < config_.api_keys.size(); ++i) {
    const std::string& k = config_.api_keys[i];
    if (candidate.size() == k.size() && CRYPTO_memcmp(candidate.data(), k.data(), k.size()) == 0)
      found = static_cast<int>(i);
  }
  return found;
}

bool Server::authorized(const httplib::Request& req, httplib::Response& res) const {
  if (config_.api_keys.empty()) return true;
  const std::string h = req.get_header_value("Authorization");
  const std::string prefix = "Bearer ";
  std::string message = h.empty() ? "missing bearer token" : "invalid bearer token";
  if (h.size() > prefix.size() && h.compare(0, prefix.size(), prefix) == 0) {
    const std::string bearer = h.substr(prefix.size());
    if (api_key_index(bearer) >= 0) return true;
    switch (tokens_.verify(bearer)) {
      case TokenIssuer::Check::valid: return true;
      case TokenIssuer::Check::expired: message = "token expired"; break;
      case TokenIssuer::Check::bad_signature: message = "invalid token signature"; break;
      case TokenIssuer::Check::malformed: break;
    }
  }
  res.set_header("WWW-Authenticate", "Bearer");
  send_error(res, 401, "unauthorized", message);
  return false;
}

void Server::exchange(const httplib::Request& req, httplib::Response& res) const {
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

}  // namespace lamin::serve
