#include "lamin/db/track.hpp"

#include <unistd.h>

#include <fstream>
#include <mutex>
#include <sstream>

#include "core/file_io.hpp"
#include "lamin/db/hash.hpp"
#include "lamin/error.hpp"
#include "lamin/log.hpp"

namespace fs = std::filesystem;

namespace lamin {
namespace {

struct State {
  std::mutex mutex;
  Instance instance;
  std::optional<Run> run;
  std::optional<Transform> transform;
};

State& state() {
  static State s;
  return s;
}

fs::path self_exe() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : p;
}

std::string command_line_args() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  std::string cur;
  for (char c : all) {
    if (c == '\0') {
      args.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  std::string out;
  for (std::size_t i = 1; i < args.size(); ++i) out += (i > 1 ? " " : "") + args[i];
  return out;
}

std::string trim(std::string s) {
  s.erase(s.find_last_not_of(" \n\r\t") + 1);
  return s;
}

// The commit checked out in the git work tree containing `start`, if any.
std::optional<std::string> git_commit(fs::path start) {
  std::error_code ec;
  start = fs::absolute(start, ec);
  for (fs::path dir = start; !dir.empty(); dir = dir.parent_path()) {
    const fs::path git = dir / ".git";
    if (fs::is_directory(git, ec)) {
      std::ifstream head(git / "HEAD");
      std::string line;
      std::getline(head, line);
      line = trim(line);
      if (line.rfind("ref: ", 0) != 0) return line.empty() ? std::nullopt : std::optional<std::string>(line);
      const std::string ref = line.substr(5);
      std::ifstream loose(git / ref);
      std::string sha;
      if (std::getline(loose, sha) && !trim(sha).empty()) return trim(sha);
      std::ifstream packed(git / "packed-refs");
      while (std::getline(packed, line)) {
        const auto sp = line.find(' ');
        if (sp != std::string::npos && trim(line.substr(sp + 1)) == ref) return line.substr(0, sp);
      }
      return std::nullopt;
    }
    if (dir == dir.parent_path()) break;
  }
  return std::nullopt;
}

}  // namespace

std::optional<Run> Context::run() const {
  std::lock_guard<std::mutex> lock(state().mutex);
  return state().run;
}

std::optional<Transform> Context::transform() const {
  std::lock_guard<std::mutex> lock(state().mutex);
  return state().transform;
}

Instance Context::instance() const {
  std::lock_guard<std::mutex> lock(state().mutex);
  return state().instance;
}

Context& context() {
  static Context c;
  return c;
}

Run track(const nlohmann::json& params, const TrackOptions& options) { return track(connect(), params, options); }

Run track(const Instance& instance, const nlohmann::json& params, const TrackOptions& options) {
  Registry& reg = instance.get();
  const fs::path exe = self_exe();
  TransformOptions topts;
  topts.key(options.transform_key().value_or(exe.empty() ? std::string("unknown") : exe.filename().string()));
  topts.kind(options.transform_kind());
  if (options.description()) topts.description(*options.description());
  std::optional<std::string> commit;
  if (options.source_path()) {
    topts.source_code(detail::read_file(*options.source_path()));
    commit = git_commit(fs::path(*options.source_path()).parent_path());
  } else {
    if (!exe.empty()) {
      try {
        topts.hash(hash_file(exe).hash);
      } catch (const Error& e) {
        log::debug(std::string("cannot hash the program: ") + e.what());
      }
    }
    std::error_code ec;
    commit = git_commit(fs::current_path(ec));
  }
  if (commit) topts.reference(*commit, "git_commit");

  const Transform transform = reg.create_transform(topts);
  RunOptions ropts;
  if (!params.is_null()) ropts.params(params);
  ropts.cli_args(options.cli_args().value_or(command_line_args()));
  if (options.run_name()) ropts.name(*options.run_name());
  ropts.status(RunStatus::started);
  const Run run = reg.create_run(transform, ropts);
  {
    std::lock_guard<std::mutex> lock(state().mutex);
    state().instance = instance;
    state().run = run;
    state().transform = transform;
  }
  if (!options.features().empty()) reg.add_values(run, options.features());
  log::info("started run " + run.uid + " of transform " + transform.key + " (" + transform.uid + ")");
  return run;
}

void finish(RunStatus status) {
  Instance instance;
  std::optional<Run> run;
  {
    std::lock_guard<std::mutex> lock(state().mutex);
    instance = state().instance;
    run = state().run;
    state().run.reset();
    state().transform.reset();
    state().instance = Instance();
  }
  if (!run || !instance) return;
  instance->finish_run(*run, status);
  log::info("finished run " + run->uid);
}

namespace detail {
std::optional<std::int64_t> current_run_id(const Registry* registry) {
  std::lock_guard<std::mutex> lock(state().mutex);
  if (state().run && state().instance.ptr().get() == registry) return state().run->id;
  return std::nullopt;
}
}  // namespace detail

}  // namespace lamin
