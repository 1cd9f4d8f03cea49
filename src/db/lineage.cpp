#include "lamin/db/lineage.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <set>

#include "core/file_io.hpp"
#include "lamin/db/uid.hpp"
#include "lamin/error.hpp"

namespace fs = std::filesystem;

namespace lamin {
namespace {

struct Graph {
  struct Node {
    std::string id;
    std::string label;
    char kind;  // 'a' artifact, 'r' run, 't' transform
  };
  std::vector<Node> nodes;
  std::set<std::string> node_ids;
  std::vector<std::pair<std::string, std::string>> edges;
  std::set<std::pair<std::string, std::string>> edge_set;

  void node(const std::string& id, const std::string& label, char kind) {
    if (node_ids.insert(id).second) nodes.push_back({id, label, kind});
  }
  void edge(const std::string& from, const std::string& to) {
    if (edge_set.insert({from, to}).second) edges.emplace_back(from, to);
  }
};

Graph build(Registry& registry, const Artifact& start, int depth) {
  Graph g;
  std::deque<std::pair<Artifact, int>> queue{{start, 0}};
  std::set<std::int64_t> seen_artifacts{start.id};
  std::set<std::int64_t> seen_runs;
  auto artifact_node = [&](const Artifact& a) {
    g.node("a_" + a.uid, a.key.value_or(a.uid) + "\n" + a.uid, 'a');
  };
  artifact_node(start);
  while (!queue.empty()) {
    auto [a, d] = queue.front();
    queue.pop_front();
    if (!a.run_id) continue;
    const Run run = registry.get_run_by_id(*a.run_id);
    const std::string rid = "r_" + run.uid;
    g.edge(rid, "a_" + a.uid);
    if (!seen_runs.insert(run.id).second) continue;
    const Transform t = registry.get_transform_by_id(run.transform_id);
    g.node(rid, "run " + run.name.value_or(run.uid.substr(0, 7)) + "\n" + run.started_at.substr(0, 19), 'r');
    g.node("t_" + t.uid, t.key + "\n" + t.kind, 't');
    g.edge("t_" + t.uid, rid);
    for (const auto& input : registry.run_inputs(run)) {
      artifact_node(input);
      g.edge("a_" + input.uid, rid);
      if (d + 1 < depth && seen_artifacts.insert(input.id).second) queue.emplace_back(input, d + 1);
    }
  }
  return g;
}

std::string dot_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string mermaid_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"') out += "#quot;";
    else if (c == '\n') out += "<br>";
    else if (c == '<') out += "#lt;";
    else if (c == '>') out += "#gt;";
    else out += c;
  }
  return out;
}

std::string to_dot(const Graph& g) {
  std::string out = "digraph lineage {\n  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=10];\n";
  for (const auto& n : g.nodes) {
    const char* style = n.kind == 'a'   ? "shape=box, style=\"rounded,filled\", fillcolor=\"#dbeafe\""
                        : n.kind == 'r' ? "shape=ellipse, style=filled, fillcolor=\"#f3f4f6\""
                                        : "shape=box, style=filled, fillcolor=\"#dcfce7\"";
    out += "  \"" + n.id + "\" [label=\"" + dot_escape(n.label) + "\", " + style + "];\n";
  }
  for (const auto& [from, to] : g.edges) out += "  \"" + from + "\" -> \"" + to + "\";\n";
  return out + "}\n";
}

std::string to_mermaid(const Graph& g) {
  std::string out = "flowchart LR\n";
  for (const auto& n : g.nodes) {
    const std::string label = "\"" + mermaid_escape(n.label) + "\"";
    if (n.kind == 'a') out += "  " + n.id + "[" + label + "]\n";
    else if (n.kind == 'r') out += "  " + n.id + "([" + label + "])\n";
    else out += "  " + n.id + "[[" + label + "]]\n";
  }
  for (const auto& [from, to] : g.edges) out += "  " + from + " --> " + to + "\n";
  return out;
}

std::optional<fs::path> find_in_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (!path) return std::nullopt;
  std::string p(path);
  std::size_t start = 0;
  while (start <= p.size()) {
    const auto end = std::min(p.find(':', start), p.size());
    const fs::path candidate = fs::path(p.substr(start, end - start)) / program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return std::nullopt;
}

// Runs Graphviz's `dot` on the graph in a private scratch folder, removed afterwards whatever happens. What `dot`
// prints on failure ends the error message.
std::string render_svg(const std::string& dot) {
  const auto program = find_in_path("dot");
  if (!program) {
    throw ConfigurationError("Graphviz's `dot` is not installed; install graphviz or use the dot or mermaid format.");
  }
  const fs::path dir = fs::temp_directory_path() / ("lamin-lineage-" + base62_uid(12));
  fs::create_directory(dir);
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{dir};
  const fs::path in = dir / "lineage.dot";
  const fs::path out = dir / "lineage.svg";
  const fs::path messages = dir / "dot.log";
  detail::atomic_write(in, dot, false);
  const pid_t pid = ::fork();
  if (pid < 0) throw StorageError("cannot start dot: " + std::string(std::strerror(errno)));
  if (pid == 0) {  // only async-signal-safe calls until exec
    const int fd = ::open(messages.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
    }
    ::execl(program->c_str(), "dot", "-Tsvg", "-o", out.c_str(), in.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw StorageError("cannot wait for dot: " + std::string(std::strerror(errno)));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !fs::exists(out)) {
    std::string said;
    std::error_code ec;
    if (fs::exists(messages, ec)) said = detail::read_file(messages);
    while (!said.empty() && std::isspace(static_cast<unsigned char>(said.back()))) said.pop_back();
    if (said.size() > 500) said = said.substr(0, 500) + "...";
    const std::string how = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                              : "signal " + std::to_string(WTERMSIG(status));
    throw ConfigurationError("dot (" + program->string() + ") failed to render the lineage graph (" + how + ")" +
                             (said.empty() ? "" : ": " + said));
  }
  return detail::read_file(out);
}

}  // namespace

std::string lineage(Registry& registry, const Artifact& artifact, LineageFormat format, int depth) {
  const Graph g = build(registry, artifact, std::max(1, depth));
  switch (format) {
    case LineageFormat::dot: return to_dot(g);
    case LineageFormat::mermaid: return to_mermaid(g);
    case LineageFormat::svg: return render_svg(to_dot(g));
  }
  return {};
}

}  // namespace lamin
