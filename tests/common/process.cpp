#include "common/process.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "common/files.hpp"

namespace lamin::test {

std::pair<int, std::string> run_command(const std::string& command) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {-1, ""};
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string python_interpreter() {
  const char* python = std::getenv("LAMIN_TEST_PYTHON");
  return python ? python : "/usr/bin/python3";
}

std::pair<int, std::string> run_python(const std::string& script, const std::string& arg) {
  const TempDir tmp("py");
  write_file(tmp / "script.py", script);
  return run_command(python_interpreter() + " " + (tmp / "script.py").string() + " '" + arg + "'");
}

bool wait_for(const std::function<bool()>& done, double seconds) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return done();
}

pid_t spawn_self(const std::string& gtest_filter, const std::vector<std::pair<std::string, std::string>>& env,
                 const std::filesystem::path& output) {
  const std::string program = std::filesystem::read_symlink("/proc/self/exe").filename().string();
  const std::string filter = "--gtest_filter=" + gtest_filter;
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (!output.empty()) {
      const int fd = ::open(output.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);
    ::execl("/proc/self/exe", program.c_str(), filter.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

}  // namespace lamin::test
