#pragma once
// Real processes for tests: shell commands, Python scripts, polling for a condition, and this test program re-run
// as a child. No LibTorch.

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace lamin::test {

/// Runs `command` through the shell with stderr merged into stdout. Returns its exit code (-1 if it did not exit
/// normally or could not start) and everything it printed.
std::pair<int, std::string> run_command(const std::string& command);

/// The Python the tests run: $LAMIN_TEST_PYTHON, else /usr/bin/python3.
std::string python_interpreter();

/// Writes `script` to a file in a fresh temporary folder and runs it with python_interpreter() and the one argument
/// `arg` (stderr merged into stdout). Returns its exit code (as run_command) and everything it printed.
std::pair<int, std::string> run_python(const std::string& script, const std::string& arg);

/// Asks `done` every 2 ms until it answers true or `seconds` have passed; returns its last answer.
bool wait_for(const std::function<bool()>& done, double seconds);

/// Starts this test program again as a child process that runs only the tests matching `gtest_filter`, with `env`
/// added to its environment and, when `output` is not empty, its stdout and stderr written to that file.
/// Returns the child's pid (reap it with waitpid).
pid_t spawn_self(const std::string& gtest_filter, const std::vector<std::pair<std::string, std::string>>& env,
                 const std::filesystem::path& output = {});

}  // namespace lamin::test
