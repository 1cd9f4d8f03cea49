#pragma once
// lamin::serve::Server: lamin-serve's core. It owns the registry, the listener and the shared request machinery
// (authentication, the registry lock, idempotent writes, JSON answers and errors); the routes are defined by
// resource in instance_routes.cpp, record_routes.cpp and file_routes.cpp.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "config.hpp"
#include "db/sqlite_registry.hpp"
#include "jwt.hpp"
#include "tables.hpp"

namespace lamin::serve {

class Server {
 public:
  /// Opens (with config.init: creates) the instance and sets up the listener and every route.
  explicit Server(Config config);

  /// Binds, prints the "listening on" line and serves until stop(). Returns the exit status.
  int run();
  void stop() { svr_->stop(); }

 private:
  using Json = nlohmann::json;
  using Op = std::function<Json()>;
  using JsonHandler = std::function<Json(const httplib::Request&, const Json&)>;

  // --- the core (server.cpp) --------------------------------------------------------------------------------------
  void configure_listener();
  httplib::Server::HandlerResponse pre_route(const httplib::Request& req, httplib::Response& res) const;
  /// Authenticates, then runs `fn` (see run_op); `write` requests may carry an Idempotency-Key.
  void handle(const httplib::Request& req, httplib::Response& res, bool write, const Op& fn);
  /// Runs `fn` under the registry lock; with an idempotency key, inside one transaction with the record of the
  /// key, answering a repeated key from its record. Errors become JSON answers.
  void run_op(httplib::Response& res, const std::string& key, const Op& fn);
  /// Registers `fn` for `method` and `pattern` (whose first group is the instance id): authenticated, the instance
  /// checked, the body parsed as JSON (an empty body is `{}`).
  void json_route(const char* method, const std::string& pattern, bool write, JsonHandler fn);
  void check_instance(const std::string& iid) const;
  /// LaminHub's generic query on `model`, with the `limit` and `offset` query parameters.
  Json generic_query(const std::string& model, const httplib::Request& req, const Json& body);
  lamin::Registry& reg() { return *registry_; }

  static void send_json(httplib::Response& res, int status, const Json& body);
  static void send_error(httplib::Response& res, int status, const std::string& kind, const std::string& message);
  /// Answers `e` as a JSON error: an HttpError with its status and kind, another lamin::Error with the status of
  /// its kind (rest::status_for_kind), anything else 500.
  static void send_exception(httplib::Response& res, const std::exception& e);
  static std::string idempotency_key(const httplib::Request& req);
  /// A non-negative integer query parameter (`fallback` when absent), at most `max`.
  static std::int64_t count_param(const httplib::Request& req, const char* name, std::int64_t fallback,
                                  std::int64_t max);
  static Json parse_body(const httplib::Request& req);

  // --- instance, settings and authentication (instance_routes.cpp) ------------------------------------------------
  void add_instance_routes();
  /// The index of the API key `candidate` is, compared in constant time; -1 if none.
  int api_key_index(const std::string& candidate) const;
  bool authorized(const httplib::Request& req, httplib::Response& res) const;
  /// LaminHub's `POST /api/account/jwt`: an API key for an access token.
  void exchange(const httplib::Request& req, httplib::Response& res) const;

  // --- records: features, transforms, runs, artifacts, lineage, tables, values (record_routes.cpp) ---------------
  void add_feature_routes(const std::string& instance);
  void add_run_routes(const std::string& instance);
  void add_artifact_routes(const std::string& instance);
  void add_table_routes(const std::string& instance);
  void add_value_routes(const std::string& instance);
  Json find_features(const Json& body);
  Json values_op(const std::string& op, const Json& body);

  // --- artifact files (file_routes.cpp) ---------------------------------------------------------------------------
  void add_file_routes(const std::string& instance);
  void upload(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader);
  void download(const httplib::Request& req, httplib::Response& res);

  Config config_;
  TokenIssuer tokens_;
  std::shared_ptr<lamin::detail::SqliteRegistry> registry_;
  std::filesystem::path root_, uploads_;
  std::unique_ptr<Tables> tables_;
  std::string iid_;
  std::mutex mutex_;
  std::unique_ptr<httplib::Server> svr_;
};

}  // namespace lamin::serve
