// The `lamin` command-line tool: a thin main over lamin::registry.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/file_io.hpp"
#include "lamin/db.hpp"
#include "lamin/log.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const char* kUsage =
    "usage: lamin [--instance DIR|URL] <command> [options]\n"
    "\n"
    "LaminDB's registry from the command line. The instance is --instance DIR or $LAMIN_INSTANCE; an\n"
    "http(s):// URL is a remote instance served by lamin-serve (token from $LAMIN_API_KEY).\n"
    "\n"
    "commands:\n"
    "  init DIR                     create an instance at DIR (DIR/.lamindb/lamin.db)\n"
    "  save FILE --key KEY          register a file as an artifact\n"
    "  delete UID|KEY               delete an artifact and its stored file permanently\n"
    "  ls                           list artifacts\n"
    "  describe UID|KEY             print an artifact's tree\n"
    "  lineage UID|KEY              print an artifact's lineage graph\n"
    "  get UID|KEY --to PATH        copy an artifact's file out of storage\n"
    "  runs                         list runs\n"
    "  features                     list features\n"
    "  hash FILE                    print LaminDB's hash of a file\n"
    "  recover                      complete or remove artifacts left by interrupted writers\n"
    "  sync [--outbox DIR]          upload what a training run left queued in its outbox\n"
    "  status [--outbox DIR]        show what is pending in an outbox\n"
    "\n"
    "Run `lamin <command> --help` for a command's options.\n";

const std::map<std::string, std::string> kCommandHelp = {
    {"init", "usage: lamin init DIR\n\nCreates an instance at DIR: DIR/.lamindb/lamin.db with LaminDB's tables, and DIR\n"
             "as its storage root. Opens it if it exists.\n"},
    {"save", "usage: lamin save FILE --key KEY [--description D] [--kind K] [--link] [--skip-hash-lookup]\n\n"
             "Registers FILE as an artifact. A new version if KEY exists. --link stores by hard link (zero copy);\n"
             "use it only for files that are never modified in place.\n"},
    {"delete", "usage: lamin delete UID|KEY\n\nDeletes the artifact (latest version for a key) and its stored file.\n"},
    {"ls", "usage: lamin ls [--key-prefix P] [--filter COND]... [--run UID] [--kind K] [--latest]\n"
           "                [--features a,b] [--json]\n\n"
           "Lists artifacts. COND compares a feature: 'val_loss<0.05', is_best_model=true, mode!=min.\n"},
    {"describe", "usage: lamin describe UID|KEY\n\nPrints the artifact as LaminDB's describe() does.\n"},
    {"lineage", "usage: lamin lineage UID|KEY [--format dot|mermaid|svg] [--depth N]\n\n"
                "Prints the graph transform -> run -> artifacts upstream of the artifact (svg needs Graphviz).\n"},
    {"get", "usage: lamin get UID|KEY --to PATH\n\nCopies the stored file to PATH (a file, or a folder to put it in).\n"},
    {"runs", "usage: lamin runs [--filter COND]... [--features a,b] [--json]\n\nLists runs; COND compares a run feature.\n"},
    {"features", "usage: lamin features [--json]\n\nLists features with their dtypes.\n"},
    {"hash", "usage: lamin hash FILE\n\nPrints LaminDB's hash of FILE (md5 up to 50 MiB, else sha1 of first and last 50 MiB)\n"
             "and its type.\n"},
    {"sync", "usage: lamin sync [--outbox DIR] [--timeout SECONDS]\n\nUploads the operations queued in the outbox DIR (default\n"
             "$LAMIN_OUTBOX) to its remote instance, in order, each exactly once (default timeout 300 s). Exit code 1\n"
             "if something is still pending or was rejected.\n"},
    {"status", "usage: lamin status [--outbox DIR]\n\nShows how many operations of the outbox DIR (default $LAMIN_OUTBOX) "
               "are pending,\nuploaded or rejected by the server.\n"},
    {"recover", "usage: lamin recover [--min-age SECONDS]\n\nCompletes or removes artifacts whose storage was interrupted "
                "(default: older than 3600 s).\n"},
};

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
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

int run(const std::string& command, const std::vector<std::string>& rest, const std::optional<std::string>& instance_dir) {
  if (command == "hash") {
    auto a = parse(rest, {}, {});
    expect_positional(a, 1, "FILE");
    const auto h = lamin::hash_file(a.positional[0]);
    std::cout << h.hash << " " << h.hash_type << " " << h.size << "\n";
    return 0;
  }
  if (command == "init") {
    auto a = parse(rest, {}, {});
    if (a.positional.empty() && instance_dir) a.positional.push_back(*instance_dir);
    expect_positional(a, 1, "DIR");
    auto inst = lamin::init(a.positional[0]);
    std::cout << "initialized instance at " << inst->info().root.string() << " (storage "
              << inst->info().storage.uid << ")\n";
    return 0;
  }
  if (command == "sync" || command == "status") {
    auto a = parse(rest, {"outbox", "timeout"}, {});
    std::string dir;
    if (a.get("outbox")) dir = *a.get("outbox");
    else if (const char* env = std::getenv("LAMIN_OUTBOX"); env && *env) dir = env;
    else throw UsageError("--outbox DIR is required (or set LAMIN_OUTBOX)");
    const auto st = command == "sync" ? lamin::sync_outbox(dir, a.get("timeout") ? std::stod(*a.get("timeout")) : 300.0)
                                      : lamin::outbox_status(dir);
    std::cout << lamin::to_string(st) << "\n";
    return command == "sync" && (st.pending > 0 || st.failed > 0) ? 1 : 0;
  }
  if (!kCommandHelp.count(command)) throw UsageError("unknown command '" + command + "'");
  lamin::Instance inst = open_instance(instance_dir);
  if (command == "save") {
    auto a = parse(rest, {"key", "description", "kind"}, {"link", "skip-hash-lookup"});
    expect_positional(a, 1, "FILE");
    if (!a.get("key")) throw UsageError("--key KEY is required");
    lamin::ArtifactOptions o(*a.get("key"));
    if (a.get("description")) o.description(*a.get("description"));
    if (a.get("kind")) o.kind(*a.get("kind"));
    if (a.has("link")) o.storage_mode(lamin::StorageMode::link);
    o.skip_hash_lookup(a.has("skip-hash-lookup"));
    const auto art = inst->create_artifact(a.positional[0], o);
    std::cout << art.uid << " " << inst->storage_path(art).string() << "\n";
    return 0;
  }
  if (command == "delete") {
    auto a = parse(rest, {}, {});
    expect_positional(a, 1, "UID|KEY");
    const auto art = inst->get_artifact(a.positional[0]);
    inst->delete_artifact(art);
    std::cout << "deleted " << art.uid << "\n";
    return 0;
  }
  if (command == "ls") {
    auto a = parse(rest, {"key-prefix", "filter", "run", "kind", "features"}, {"json", "latest"});
    if (!a.positional.empty()) throw UsageError("unexpected argument '" + a.positional[0] + "'");
    auto q = inst->artifacts();
    if (a.get("key-prefix")) q = q.key_startswith(*a.get("key-prefix"));
    if (a.get("kind")) q = q.kind(*a.get("kind"));
    if (a.has("latest")) q = q.is_latest();
    if (a.get("run")) {
      auto r = inst->find_run(*a.get("run"));
      if (!r) throw lamin::NotFoundError("no run with uid '" + *a.get("run") + "'");
      q = q.run(*r);
    }
    std::vector<std::string> columns = split_commas(a.get("features"));
    for (const auto& f : a.all("filter")) {
      auto c = lamin::parse_feature_condition(f);
      if (std::find(columns.begin(), columns.end(), c.feature.name()) == columns.end()) columns.push_back(c.feature.name());
      q = q.where(std::move(c));
    }
    const auto t = q.table(columns);
    std::cout << (a.has("json") ? t.to_json().dump(2) + "\n" : t.to_string());
    return 0;
  }
  if (command == "describe") {
    auto a = parse(rest, {}, {});
    expect_positional(a, 1, "UID|KEY");
    std::cout << lamin::describe(*inst, inst->get_artifact(a.positional[0]));
    return 0;
  }
  if (command == "lineage") {
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
    std::cout << lamin::lineage(*inst, inst->get_artifact(a.positional[0]), f, depth);
    return 0;
  }
  if (command == "get") {
    auto a = parse(rest, {"to"}, {});
    expect_positional(a, 1, "UID|KEY");
    if (!a.get("to")) throw UsageError("--to PATH is required");
    const auto art = inst->get_artifact(a.positional[0]);
    fs::path to = *a.get("to");
    if (fs::is_directory(to)) {
      to /= art.key ? fs::path(*art.key).filename() : fs::path(art.uid + art.suffix);
    }
    const char* env_instance = std::getenv("LAMIN_INSTANCE");
    if (lamin::is_remote_url(instance_dir ? *instance_dir : std::string(env_instance ? env_instance : ""))) {
      lamin::download_file(inst, art, to);  // streamed to a temporary file, renamed into place
    } else {
      const auto from = inst->storage_path(art);
      const std::string content = lamin::detail::read_file(from);
      lamin::detail::atomic_write(to, content);
    }
    std::cout << to.string() << "\n";
    return 0;
  }
  if (command == "runs") {
    auto a = parse(rest, {"filter", "features"}, {"json"});
    auto q = inst->runs();
    std::vector<std::string> columns = split_commas(a.get("features"));
    for (const auto& f : a.all("filter")) {
      auto c = lamin::parse_feature_condition(f);
      if (std::find(columns.begin(), columns.end(), c.feature.name()) == columns.end()) columns.push_back(c.feature.name());
      q = q.where(std::move(c));
    }
    const auto t = q.table(columns);
    std::cout << (a.has("json") ? t.to_json().dump(2) + "\n" : t.to_string());
    return 0;
  }
  if (command == "features") {
    auto a = parse(rest, {}, {"json"});
    lamin::Table t;
    t.columns = {"uid", "name", "dtype", "is_type", "type"};
    const auto features = inst->features();
    std::map<std::int64_t, std::string> names;
    for (const auto& f : features) names[f.id] = f.name;
    for (const auto& f : features) {
      t.rows.push_back({f.uid, f.name, f.dtype ? json(*f.dtype) : json(), f.is_type,
                        f.type_id ? json(names[*f.type_id]) : json()});
    }
    std::cout << (a.has("json") ? t.to_json().dump(2) + "\n" : t.to_string());
    return 0;
  }
  if (command == "recover") {
    auto a = parse(rest, {"min-age"}, {});
    const double age = a.get("min-age") ? std::stod(*a.get("min-age")) : 3600.0;
    std::cout << "repaired " << inst->recover(age) << " artifacts\n";
    return 0;
  }
  throw UsageError("unknown command '" + command + "'");
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
      if (command && kCommandHelp.count(*command)) std::cout << kCommandHelp.at(*command);
      else std::cout << kUsage;
      return help ? 0 : 2;
    }
    lamin::log::set_level(lamin::log::Level::warn);
    return run(*command, rest, instance_dir);
  } catch (const UsageError& e) {
    const bool known = command && kCommandHelp.count(*command);
    std::cerr << "lamin: error: " << e.what() << " (see `lamin " << (known ? *command + " " : std::string())
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
