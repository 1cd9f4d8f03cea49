#pragma once
// The real lamin-serve as a child process on 127.0.0.1, and what its clients need: the test token, a token file,
// REST options for quick retries. Shared by the server tests, the trainer's crash tests and the server benchmark.
// No LibTorch, no HTTP library.

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/files.hpp"
#include "lamin/db/rest.hpp"

namespace lamin::test {

/// The API key the tests give lamin-serve (through a token file) and its clients.
inline constexpr const char* kToken = "test-token-0123456789abcdef";

/// Writes kToken and a newline to `tmp / "token"`; returns that path (for lamin-serve's --token-file).
fs::path token_file(const TempDir& tmp);

/// RestOptions for tests: `token`, 8 attempts with short backoffs, a 20 s retry budget, 10 s per request.
RestOptions rest_options(const std::string& token = kToken);

/// A lamin-serve child process: `--instance <instance> --init`, `--token-file <token_path>` unless that is empty,
/// then `extra`. start() waits for its "listening" line and reads the port and scheme from it; the destructor kills
/// it.
class ServeProcess {
 public:
  ServeProcess(fs::path instance, fs::path token_path, std::vector<std::string> extra = {});
  ~ServeProcess();
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  /// Starts the server on `port` (0: any free port). A test failure if it does not start.
  void start(int port = 0);
  /// Sends `sig` and reaps the process (nothing when it is not running).
  void kill(int sig);
  int port() const { return port_; }
  std::string url() const { return scheme_ + "://127.0.0.1:" + std::to_string(port_); }

 private:
  fs::path instance_, token_file_;
  std::vector<std::string> extra_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::string scheme_ = "http";
};

}  // namespace lamin::test
