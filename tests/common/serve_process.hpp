#pragma once
// A real lamin-serve child process on 127.0.0.1, commands run through the shell, and a backend-neutral dump of an
// instance: shared by the server tests and the trainer's crash tests (no LibTorch, no HTTP library).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "lamin/db.hpp"

namespace lamin::test {

namespace fs = std::filesystem;

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

}  // namespace lamin::test
