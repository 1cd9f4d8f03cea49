// The `lamin` command-line tool: a thin main over lamin::registry.
//
// Every command is one entry of kCommands (name, usage, handler); dispatch, `lamin --help`, `lamin <command>
// --help` and the errors for unknown commands all read that table.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/file_io.hpp"
#include "lamin/db.hpp"
#include "lamin/log.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A command line that does not parse: answered with a pointer to `--help` and exit status 2.
struct UsageError : lamin::ConfigurationError {
  using lamin::ConfigurationError::ConfigurationError;
};

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::vector<std::string>> options;
  std::set<std::string> flags;
  bool has(const std::string& f) const { return flags.count(f) > 0; }
  std::optional<std::string> get(const std::string& o) const {
    auto it = options.find(o);
    if (it == options.end() || it->second.empty()) return std::nullopt;
    return it->second.back();
  }
  std::vector<std::string> all(const std::string& o) const {
    auto it = options.find(o);
    return it == options.end() ? std::vector<std::string>{} : it->second;
  }
};

Args parse(const std::vector<std::string>& argv, const std::set<std::string>& with_value,
           const std::set<std::string>& flags) {
  Args a;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const std::string& s = argv[i];
    if (s.size() > 2 && s.compare(0, 2, "--") == 0) {
      std::string name = s.substr(2);
      std::optional<std::string> value;
      const auto eq = name.find('=');
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      if (with_value.count(name)) {
        if (!value) {
          if (i + 1 >= argv.size()) throw UsageError("option --" + name + " needs a value");
          value = argv[++i];
        }
        a.options[name].push_back(*value);
      } else if (flags.count(name) && !value) {
        a.flags.insert(name);
      } else {
        throw UsageError("unknown option --" + name);
      }
    } else {
      a.positional.push_back(s);
    }
  }
  return a;
}

void expect_positional(const Args& a, std::size_t n, const std::string& what) {
  if (a.positional.size() != n) throw UsageError("expected " + what);
}

std::vector<std::string> split_commas(const std::optional<std::string>& s) {
  std::vector<std::string> out;
  if (!s) return out;
  std::size_t start = 0;
  while (start <= s->size()) {
    const auto end = std::min(s->find(',', start), s->size());
    if (end > start) out.push_back(s->substr(start, end - start));
    start = end + 1;
  }
  return out;
}

lamin::Instance open_instance(const std::optional<std::string>& dir) {
  if (dir) return lamin::connect(*dir);
  const char* env = std::getenv("LAMIN_INSTANCE");
  if (!env || !*env) {
    throw lamin::ConfigurationError("no instance: pass --instance DIR or set LAMIN_INSTANCE");
  }
  return lamin::connect(env);
}

// What a command runs with: the --instance option, and the instance itself for commands that need one.
struct Context {
  std::optional<std::string> instance_dir;
  lamin::Instance instance;
};

/// Adds the --filter conditions to the query `q`, and the features they compare to the table's `columns`.
template <typename Query>
Query where_features(Query q, const Args& a, std::vector<std::string>& columns) {
  for (const auto& f : a.all("filter")) {
    auto c = lamin::parse_feature_condition(f);
    if (std::find(columns.begin(), columns.end(), c.feature.name()) == columns.end()) columns.push_back(c.feature.name());
    q = q.where(std::move(c));
  }
  return q;
}

/// Prints a table as text, or with --json as JSON.
int print_table(const lamin::Table& t, const Args& a) {
  std::cout << (a.has("json") ? t.to_json().dump(2) + "\n" : t.to_string());
  return 0;
}

int hash_command(const std::vector<std::string>& rest, Context&) {
  auto a = parse(rest, {}, {});
  expect_positional(a, 1, "FILE");
  const auto h = lamin::hash_file(a.positional[0]);
  std::cout << h.hash << " " << h.hash_type << " " << h.size << "\n";
  return 0;
}

int init_command(const std::vector<std::string>& rest, Context& ctx) {
  auto a = parse(rest, {}, {});
  if (a.positional.empty() && ctx.instance_dir) a.positional.push_back(*ctx.instance_dir);
  expect_positional(a, 1, "DIR");
  auto inst = lamin::init(a.positional[0]);
  std::cout << "initialized instance at " << inst->info().root.string() << " (storage "
            << inst->info().storage.uid << ")\n";
  return 0;
}

/// The outbox folder of `lamin sync` and `lamin status`: --outbox DIR, else $LAMIN_OUTBOX.
std::string outbox_dir(const Args& a) {
  if (a.get("outbox")) return *a.get("outbox");
  if (const char* env = std::getenv("LAMIN_OUTBOX"); env && *env) return env;
  throw UsageError("--outbox DIR is required (or set LAMIN_OUTBOX)");
}

int sync_command(const std::vector<std::string>& rest, Context&) {
  auto a = parse(rest, {"outbox", "timeout"}, {});
  const std::string dir = outbox_dir(a);
  const auto st = lamin::sync_outbox(dir, a.get("timeout") ? std::stod(*a.get("timeout")) : 300.0);
  std::cout << lamin::to_string(st) << "\n";
  return st.pending > 0 || st.failed > 0 ? 1 : 0;
}

int status_command(const std::vector<std::string>& rest, Context&) {
  auto a = parse(rest, {"outbox", "timeout"}, {});
  const auto st = lamin::outbox_status(outbox_dir(a));
  std::cout << lamin::to_string(st) << "\n";
  return 0;
}

int save_command(const std::vector<std::string>& rest, Context& ctx) {
  auto a = parse(rest, {"key", "description", "kind"}, {"link", "skip-hash-lookup"});
  expect_positional(a, 1, "FILE");
  if (!a.get("key")) throw UsageError("--key KEY is required");
  lamin::ArtifactOptions o(*a.get("key"));
  if (a.get("description")) o.description(*a.get("description"));
  if (a.get("kind")) o.kind(*a.get("kind"));
  if (a.has("link")) o.storage_mode(lamin::StorageMode::link);
  o.skip_hash_lookup(a.has("skip-hash-lookup"));
  const auto art = ctx.instance->create_artifact(a.positional[0], o);
  std::cout << art.uid << " " << ctx.instance->storage_path(art).string() << "\n";
  return 0;
}

int delete_command(const std::vector<std::string>& rest, Context& ctx) {
  auto a = parse(rest, {}, {});
  expect_positional(a, 1, "UID|KEY");
  const auto art = ctx.instance->get_artifact(a.positional[0]);
  ctx.instance->delete_artifact(art);
  std::cout << "deleted " << art.uid << "\n";
  return 0;
}

int ls_command(const std::vector<std::string>& rest, Context& ctx) {
  auto a = parse(rest, {"key-prefix", "filter", "run", "kind", "features"}, {"json", "latest"});
  if (!a.positional.empty()) throw UsageError("unexpected argument '" + a.positional[0] + "'");
  auto q = ctx.instance->artifacts();
  if (a.get("key-prefix")) q = q.key_startswith(*a.get("key-prefix"));
  if (a.get("kind")) q = q.kind(*a.get("kind"));
  if (a.has("latest")) q = q.is_latest();
  if (a.get("run")) {
    auto r = ctx.instance->find_run(*a.get("run"));
    if (!r) throw lamin::NotFoundError("no run with uid '" + *a.get("run") + "'");
    q = q.run(*r);
  }
  std::vector<std::string> columns = split_commas(a.get("features"));
  q = where_features(std::move(q), a, columns);
  return print_table(q.table(columns), a);
}

int describe_command(const std::vector<std::string>& rest, Context& ctx) {
  auto a = parse(rest, {}, {});
  expect_positional(a, 1, "UID|KEY");
  std::cout << lamin::describe(*ctx.instance, ctx.instance->get_artifact(a.positional[0]));
  return 0;
}

int lineage_command(const std::vector<std::string>& rest, Context& ctx) {
  auto a = parse(rest, {"format", "depth"}, {});
  expect_positional(a, 1, "UID|KEY");
  const std::string fmt = a.get("format").value_or("dot");
  lamin::LineageFormat f;
  if (fmt == "dot") f = lamin::LineageFormat::dot;
  else if (fmt == "mermaid") f = lamin::LineageFormat::mermaid;
  else if (fmt == "svg") f = lamin::LineageFormat::svg;
  else throw UsageError("--format must be dot, mermaid or svg");
  int depth = 8;
  if (a.get("depth")) depth = std::stoi(*a.get("depth"));
  std::cout << lamin::lineage(*ctx.instance, ctx.instance->get_artifact(a.positional[0]), f, depth);
  return 0;
}

int get_command(const std::vector<std::string>& rest, Context& ctx) {
  auto a = parse(rest, {"to"}, {});
  expect_positional(a, 1, "UID|KEY");
  if (!a.get("to")) throw UsageError("--to PATH is required");
  const auto art = ctx.instance->get_artifact(a.positional[0]);
  fs::path to = *a.get("to");
  if (fs::is_directory(to)) {
    to /= art.key ? fs::path(*art.key).filename() : fs::path(art.uid + art.suffix);
  }
  const char* env_instance = std::getenv("LAMIN_INSTANCE");
  if (lamin::is_remote_url(ctx.instance_dir ? *ctx.instance_dir : std::string(env_instance ? env_instance : ""))) {
    lamin::download_file(ctx.instance, art, to);  // streamed to a temporary file, renamed into place
  } else {
    const auto from = ctx.instance->storage_path(art);
    const std::string content = lamin::detail::read_file(from);
    lamin::detail::atomic_write(to, content);
  }
  std::cout << to.string() << "\n";
  return 0;
}

int runs_command(const std::vector<std::string>& rest, Context& ctx) {
  auto a = parse(rest, {"filter", "features"}, {"json"});
  std::vector<std::string> columns = split_commas(a.get("features"));
  auto q = where_features(ctx.instance->runs(), a, columns);
  return print_table(q.table(columns), a);
}

int features_command(const std::vector<std::string>& rest, Context& ctx) {
  auto a = parse(rest, {}, {"json"});
  lamin::Table t;
  t.columns = {"uid", "name", "dtype", "is_type", "type"};
  const auto features = ctx.instance->features();
  std::map<std::int64_t, std::string> names;
  for (const auto& f : features) names[f.id] = f.name;
  for (const auto& f : features) {
    t.rows.push_back({f.uid, f.name, f.dtype ? json(*f.dtype) : json(), f.is_type,
                      f.type_id ? json(names[*f.type_id]) : json()});
  }
  return print_table(t, a);
}

int recover_command(const std::vector<std::string>& rest, Context& ctx) {
  auto a = parse(rest, {"min-age"}, {});
  const double age = a.get("min-age") ? std::stod(*a.get("min-age")) : 3600.0;
  std::cout << "repaired " << ctx.instance->recover(age) << " artifacts\n";
  return 0;
}

struct Command {
  const char* name;
  const char* synopsis;  // its line in `lamin --help`, with `summary`
  const char* summary;
  const char* usage;     // `lamin <name> --help`
  bool needs_instance;   // opened (from --instance or $LAMIN_INSTANCE) before the handler runs
  int (*handler)(const std::vector<std::string>& args, Context& ctx);
};

// In the order `lamin --help` lists them.
const Command kCommands[] = {
    {"init", "init DIR", "create an instance at DIR (DIR/.lamindb/lamin.db)",
     "usage: lamin init DIR\n\nCreates an instance at DIR: DIR/.lamindb/lamin.db with LaminDB's tables, and DIR\n"
     "as its storage root. Opens it if it exists.\n",
     false, init_command},
    {"save", "save FILE --key KEY", "register a file as an artifact",
     "usage: lamin save FILE --key KEY [--description D] [--kind K] [--link] [--skip-hash-lookup]\n\n"
     "Registers FILE as an artifact. A new version if KEY exists. --link stores by hard link (zero copy);\n"
     "use it only for files that are never modified in place.\n",
     true, save_command},
    {"delete", "delete UID|KEY", "delete an artifact and its stored file permanently",
     "usage: lamin delete UID|KEY\n\nDeletes the artifact (latest version for a key) and its stored file.\n",
     true, delete_command},
    {"ls", "ls", "list artifacts",
     "usage: lamin ls [--key-prefix P] [--filter COND]... [--run UID] [--kind K] [--latest]\n"
     "                [--features a,b] [--json]\n\n"
     "Lists artifacts. COND compares a feature: 'val_loss<0.05', is_best_model=true, mode!=min.\n",
     true, ls_command},
    {"describe", "describe UID|KEY", "print an artifact's tree",
     "usage: lamin describe UID|KEY\n\nPrints the artifact as LaminDB's describe() does.\n",
     true, describe_command},
    {"lineage", "lineage UID|KEY", "print an artifact's lineage graph",
     "usage: lamin lineage UID|KEY [--format dot|mermaid|svg] [--depth N]\n\n"
     "Prints the graph transform -> run -> artifacts upstream of the artifact (svg needs Graphviz).\n",
     true, lineage_command},
    {"get", "get UID|KEY --to PATH", "copy an artifact's file out of storage",
     "usage: lamin get UID|KEY --to PATH\n\nCopies the stored file to PATH (a file, or a folder to put it in).\n",
     true, get_command},
    {"runs", "runs", "list runs",
     "usage: lamin runs [--filter COND]... [--features a,b] [--json]\n\nLists runs; COND compares a run feature.\n",
     true, runs_command},
    {"features", "features", "list features",
     "usage: lamin features [--json]\n\nLists features with their dtypes.\n",
     true, features_command},
    {"hash", "hash FILE", "print LaminDB's hash of a file",
     "usage: lamin hash FILE\n\nPrints LaminDB's hash of FILE (md5 up to 50 MiB, else sha1 of first and last 50 MiB)\n"
     "and its type.\n",
     false, hash_command},
    {"recover", "recover", "complete or remove artifacts left by interrupted writers",
     "usage: lamin recover [--min-age SECONDS]\n\nCompletes or removes artifacts whose storage was interrupted "
     "(default: older than 3600 s).\n",
     true, recover_command},
    {"sync", "sync [--outbox DIR]", "upload what a training run left queued in its outbox",
     "usage: lamin sync [--outbox DIR] [--timeout SECONDS]\n\nUploads the operations queued in the outbox DIR (default\n"
     "$LAMIN_OUTBOX) to its remote instance, in order, each exactly once (default timeout 300 s). Exit code 1\n"
     "if something is still pending or was rejected.\n",
     false, sync_command},
    {"status", "status [--outbox DIR]", "show what is pending in an outbox",
     "usage: lamin status [--outbox DIR]\n\nShows how many operations of the outbox DIR (default $LAMIN_OUTBOX) "
     "are pending,\nuploaded or rejected by the server.\n",
     false, status_command},
};

const Command* find_command(const std::optional<std::string>& name) {
  if (!name) return nullptr;
  for (const Command& c : kCommands)
    if (*name == c.name) return &c;
  return nullptr;
}

std::string usage() {
  std::ostringstream out;
  out << "usage: lamin [--instance DIR|URL] <command> [options]\n"
         "\n"
         "LaminDB's registry from the command line. The instance is --instance DIR or $LAMIN_INSTANCE; an\n"
         "http(s):// URL is a remote instance served by lamin-serve (token from $LAMIN_API_KEY).\n"
         "\n"
         "commands:\n";
  for (const Command& c : kCommands) out << "  " << std::left << std::setw(29) << c.synopsis << c.summary << "\n";
  out << "\n"
         "Run `lamin <command> --help` for a command's options.\n";
  return out.str();
}

int run(const std::string& name, const std::vector<std::string>& rest, const std::optional<std::string>& instance_dir) {
  const Command* command = find_command(name);
  if (!command) throw UsageError("unknown command '" + name + "'");
  Context ctx{instance_dir, {}};
  if (command->needs_instance) ctx.instance = open_instance(instance_dir);
  return command->handler(rest, ctx);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::optional<std::string> instance_dir;
  std::optional<std::string> command;
  std::vector<std::string> rest;
  bool help = false;
  try {
    for (std::size_t i = 0; i < args.size(); ++i) {
      const std::string& s = args[i];
      if (s == "--help" || s == "-h") {
        help = true;
      } else if (s == "--instance") {
        if (i + 1 >= args.size()) throw UsageError("option --instance needs a value");
        instance_dir = args[++i];
      } else if (s.rfind("--instance=", 0) == 0) {
        instance_dir = s.substr(11);
      } else if (!command && s.rfind("-", 0) != 0) {
        command = s;
      } else {
        rest.push_back(s);
      }
    }
    if (help || !command) {
      const Command* c = find_command(command);
      std::cout << (c ? std::string(c->usage) : usage());
      return help ? 0 : 2;
    }
    lamin::log::set_level(lamin::log::Level::warn);
    return run(*command, rest, instance_dir);
  } catch (const UsageError& e) {
    const Command* c = find_command(command);
    std::cerr << "lamin: error: " << e.what() << " (see `lamin " << (c ? std::string(c->name) + " " : std::string())
              << "--help`)\n";
    return 2;
  } catch (const lamin::Error& e) {
    std::cerr << "lamin: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "lamin: error: " << e.what() << "\n";
    return 1;
  }
}
