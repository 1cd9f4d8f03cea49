#pragma once
// Helpers for the server tests: a real lamin-serve process on 127.0.0.1, raw HTTP calls, record dumps.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <gtest/gtest.h>

#include "../db/test_util.hpp"
#include "lamin/db.hpp"

namespace lamin::test {

inline const char* kToken = "test-token-0123456789abcdef";

/// A lamin-serve child process. start() waits for its "listening" line and reads the port from it.
class ServeProcess {
 public:
  ServeProcess(fs::path instance, fs::path token_file, std::vector<std::string> extra = {})
      : instance_(std::move(instance)), token_file_(std::move(token_file)), extra_(std::move(extra)) {}
  ~ServeProcess() { kill(SIGKILL); }

  void start(int port = 0) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], 1);
      ::close(fds[0]);
      std::vector<std::string> args = {LAMIN_SERVE_PATH, "--instance", instance_.string(), "--init", "--port",
                                       std::to_string(port)};
      if (!token_file_.empty()) args.insert(args.end(), {"--token-file", token_file_.string()});
      args.insert(args.end(), extra_.begin(), extra_.end());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    FILE* f = ::fdopen(fds[0], "r");
    char line[512] = {0};
    ASSERT_NE(std::fgets(line, sizeof line, f), nullptr) << "lamin-serve did not start";
    std::fclose(f);
    std::string s = line;
    auto colon = s.rfind(':', s.find(" (instance"));
    port_ = std::stoi(s.substr(colon + 1));
    scheme_ = s.find("https://") != std::string::npos ? "https" : "http";
  }
  void kill(int sig) {
    if (pid_ > 0) {
      ::kill(pid_, sig);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
  }
  int port() const { return port_; }
  std::string url() const { return scheme_ + "://127.0.0.1:" + std::to_string(port_); }

 private:
  fs::path instance_, token_file_;
  std::vector<std::string> extra_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::string scheme_ = "http";
};

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

/// Runs a command, returns its exit code and output.
inline std::pair<int, std::string> run_command(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

/// A backend-neutral picture of an instance: what must be equal between the server and the SQLite backend for
/// the same operations (ids and uids differ; their structure must not).
inline nlohmann::json dump(Registry& r) {
  using nlohmann::json;
  json features = json::array();
  for (const auto& f : r.features()) features.push_back({f.name, f.dtype ? json(*f.dtype) : json(nullptr), f.is_type});
  json runs = json::array();
  std::map<std::int64_t, std::size_t> run_index;
  for (const auto& run : r.runs().all()) {
    run_index[run.id] = runs.size();
    runs.push_back({{"name", run.name ? json(*run.name) : json(nullptr)}, {"status", run.status_code},
                    {"params", run.params}, {"finished", run.finished_at.has_value()},
                    {"transform", r.get_transform_by_id(run.transform_id).key}, {"values", r.get_values(run)}});
  }
  json artifacts = json::array();
  for (const auto& a : r.artifacts().all_branches().all()) {
    json inputs = json::array();
    for (const auto& run : r.input_of_runs(a)) inputs.push_back(run_index[run.id]);
    artifacts.push_back({{"key", a.key ? json(*a.key) : json(nullptr)}, {"hash", a.hash ? json(*a.hash) : json(nullptr)},
                         {"size", a.size ? json(*a.size) : json(nullptr)}, {"suffix", a.suffix},
                         {"version", a.uid.substr(16)}, {"is_latest", a.is_latest},
                         {"kind", a.kind ? json(*a.kind) : json(nullptr)},
                         {"run", a.run_id ? json(run_index[*a.run_id]) : json(nullptr)}, {"values", r.get_values(a)},
                         {"input_of", inputs}});
  }
  return {{"features", features}, {"runs", runs}, {"artifacts", artifacts}};
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
