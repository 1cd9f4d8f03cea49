#include "common/serve.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <utility>

#include <gtest/gtest.h>

namespace lamin::test {

fs::path token_file(const TempDir& tmp) { return write_file(tmp / "token", std::string(kToken) + "\n"); }

RestOptions rest_options(const std::string& token) {
  return RestOptions()
      .token(token)
      .max_attempts(8)
      .backoff_initial_s(0.05)
      .backoff_max_s(0.5)
      .retry_budget_s(20)
      .request_timeout_s(10);
}

ServeProcess::ServeProcess(fs::path instance, fs::path token_path, std::vector<std::string> extra)
    : instance_(std::move(instance)), token_file_(std::move(token_path)), extra_(std::move(extra)) {}

ServeProcess::~ServeProcess() { kill(SIGKILL); }

void ServeProcess::start(int port) {
  ASSERT_NE(std::string(LAMIN_SERVE_PATH), "") << "this build has no lamin-serve";
  std::vector<std::string> args = {LAMIN_SERVE_PATH, "--instance", instance_.string(), "--init", "--port",
                                   std::to_string(port)};
  if (!token_file_.empty()) args.insert(args.end(), {"--token-file", token_file_.string()});
  args.insert(args.end(), extra_.begin(), extra_.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  FILE* f = ::fdopen(fds[0], "r");
  char line[512] = {0};
  const bool started = std::fgets(line, sizeof line, f) != nullptr;
  std::fclose(f);
  ASSERT_TRUE(started) << "lamin-serve did not start";
  const std::string s = line;
  const auto colon = s.rfind(':', s.find(" (instance"));
  port_ = std::stoi(s.substr(colon + 1));
  scheme_ = s.find("https://") != std::string::npos ? "https" : "http";
}

void ServeProcess::kill(int sig) {
  if (pid_ > 0) {
    ::kill(pid_, sig);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
}

}  // namespace lamin::test
