#pragma once
// Helpers for the server tests: tiny in-process HTTP servers and a counting proxy (lamin-serve itself, commands
// and record dumps are in common/serve_process.hpp).
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <gtest/gtest.h>

#include "../db/test_util.hpp"
#include "common/serve_process.hpp"
#include "lamin/db.hpp"

namespace lamin::test {

inline RestOptions rest_options(const std::string& token = kToken) {
  RestOptions o;
  o.token = token;
  o.max_attempts = 8;
  o.backoff_initial_s = 0.05;
  o.backoff_max_s = 0.5;
  o.retry_budget_s = 20;
  o.request_timeout_s = 10;
  return o;
}

/// A pass-through proxy to a server that counts key exchanges and remembers every bearer it saw.
/// An in-process HTTP server on 127.0.0.1 that answers every GET/POST/PUT/PATCH with `handler`.
class LoopbackServer {
 public:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  explicit LoopbackServer(Handler handler) : handler_(std::move(handler)) {
    auto h = [this](const httplib::Request& req, httplib::Response& res) { handler_(req, res); };
    svr_.Get(".*", h);
    svr_.Post(".*", h);
    svr_.Put(".*", h);
    svr_.Patch(".*", h);
    port_ = svr_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { svr_.listen_after_bind(); });
    while (!svr_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~LoopbackServer() {
    svr_.stop();
    thread_.join();
  }
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  Handler handler_;
  httplib::Server svr_;
  std::thread thread_;
  int port_ = 0;
};

/// Forwards every request to lamin-serve on `upstream_port` and notes the credentials each one carried.
class CountingProxy {
 public:
  explicit CountingProxy(int upstream_port)
      : upstream_port_(upstream_port), server_([this](const httplib::Request& req, httplib::Response& res) {
          forward(req, res);
        }) {}
  std::string url() const { return server_.url(); }
  int exchanges() {
    std::lock_guard<std::mutex> lock(mutex_);
    return exchanges_;
  }
  std::vector<std::string> bearers() {
    std::lock_guard<std::mutex> lock(mutex_);
    return bearers_;
  }

 private:
  void forward(const httplib::Request& req, httplib::Response& res) {
    const std::string auth = req.get_header_value("Authorization");
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (req.path == "/api/account/jwt") ++exchanges_;
      else bearers_.push_back(auth.substr(auth.find(' ') + 1));
    }
    httplib::Client up("127.0.0.1", upstream_port_);
    httplib::Headers h;
    if (!auth.empty()) h.emplace("Authorization", auth);
    if (req.has_header("Idempotency-Key")) h.emplace("Idempotency-Key", req.get_header_value("Idempotency-Key"));
    const std::string type = req.get_header_value("Content-Type");
    httplib::Result r = req.method == "GET"     ? up.Get(req.target.c_str(), h)
                        : req.method == "PUT"   ? up.Put(req.target.c_str(), h, req.body, type.c_str())
                        : req.method == "PATCH" ? up.Patch(req.target.c_str(), h, req.body, type.c_str())
                                                : up.Post(req.target.c_str(), h, req.body, type.c_str());
    res.status = r ? r->status : 502;
    res.set_content(r ? r->body : std::string("{}"), "application/json");
  }

  int upstream_port_;
  std::mutex mutex_;
  int exchanges_ = 0;
  std::vector<std::string> bearers_;
  LoopbackServer server_;  // last: stopped first, before the members its handler uses
};

}  // namespace lamin::test
