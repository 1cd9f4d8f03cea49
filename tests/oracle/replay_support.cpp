// The Lightning oracle's torch-free support: paths and values as the oracle records them, the comparison report,
// the folder listing and the files a case starts with.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>

#include "common/files.hpp"
#include "lamin/error.hpp"
#include "oracle/replay.hpp"

namespace replay {

// ---- paths and values -----------------------------------------------------------------------------------------

std::string Paths::rel(const std::string& path) const {
  if (path.empty()) return path;
  std::string p = fs::path(path).lexically_normal().string();
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  if (p == root) return ".";
  if (p.rfind(root + "/", 0) == 0) return p.substr(root.size() + 1);
  if (p.rfind("./", 0) == 0) p = p.substr(2);
  return p;
}

std::string Paths::text(std::string message) const {
  std::size_t pos = 0;
  while ((pos = message.find(root, pos)) != std::string::npos) {
    message.replace(pos, root.size(), "<root>");
    pos += 6;
  }
  return message;
}

json number(double value, bool integral) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (integral) return static_cast<std::int64_t>(value);
  return value;
}

double value_of(const json& v) {
  if (v.is_string()) {
    const auto s = v.get<std::string>();
    if (s == "nan") return std::nan("");
    if (s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-inf") return -std::numeric_limits<double>::infinity();
    throw std::runtime_error("not a number: " + s);
  }
  return v.get<double>();
}


double pick(const json& list, std::int64_t index) {
  if (!list.is_array() || list.empty()) throw std::runtime_error("metric values must be a non-empty list");
  const auto i = std::min<std::int64_t>(index, static_cast<std::int64_t>(list.size()) - 1);
  return value_of(list.at(static_cast<std::size_t>(i)));
}

// ---- comparison -------------------------------------------------------------------------------------------------

namespace {

std::string shorten(std::string text) {
  const auto newline = text.find('\n');
  if (newline != std::string::npos) text = text.substr(0, newline) + " ...";
  if (text.size() > 600) text = text.substr(0, 600) + " ...";
  return text;
}

bool same(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (!same(a[i], b[i])) return false;
    return true;
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(); it != a.end(); ++it)
      if (!b.contains(it.key()) || !same(it.value(), b.at(it.key()))) return false;
    return true;
  }
  return a == b;
}


}  // namespace

void Report::mismatch(const std::string& field, const json& expected, const json& actual) {
  lines.push_back("case " + case_name + ": " + field + ": expected " + shorten(expected.dump()) + " actual " +
                  shorten(actual.dump()));
}
void Report::problem(const std::string& field, const std::string& what) {
  lines.push_back("case " + case_name + ": " + field + ": " + shorten(what));
}

void compare(Report& r, const std::string& field, const json& expected, const json& actual) {
  if (expected.is_object() && actual.is_object()) {
    for (auto it = expected.begin(); it != expected.end(); ++it) {
      const json a = actual.contains(it.key()) ? actual.at(it.key()) : json("<missing>");
      compare(r, field + "." + it.key(), it.value(), a);
    }
    for (auto it = actual.begin(); it != actual.end(); ++it)
      if (!expected.contains(it.key())) r.mismatch(field + "." + it.key(), "<absent>", it.value());
    return;
  }
  if (expected.is_array() && actual.is_array() && !expected.empty() && expected[0].is_object()) {
    const std::size_t n = std::min(expected.size(), actual.size());
    for (std::size_t i = 0; i < n; ++i) compare(r, field + "[" + std::to_string(i) + "]", expected[i], actual[i]);
    if (expected.size() != actual.size()) {
      json extra = json::array();
      for (std::size_t i = n; i < std::max(expected.size(), actual.size()); ++i)
        extra.push_back(i < actual.size() ? actual[i] : expected[i]);
      r.mismatch(field + ".length", expected.size(), actual.size());
      r.problem(field, (expected.size() > actual.size() ? "missing " : "unexpected ") + extra.dump());
    }
    return;
  }
  if (!same(expected, actual)) r.mismatch(field, expected, actual);
}


bool exception_matches(const std::string& python_type, const std::string& kind) {
  static const std::map<std::string, std::set<std::string>> kTable = {
      {"MisconfigurationException", {"configuration"}},
      {"ValueError", {"configuration", "validation"}},
      {"TypeError", {"configuration", "validation"}},
      {"KeyError", {"not_found", "configuration"}},
      {"FileNotFoundError", {"not_found"}},
      {"OSError", {"storage"}},
      {"PermissionError", {"storage"}},
      {"RuntimeError", {"runtime_error"}},
  };
  auto it = kTable.find(python_type);
  return it != kTable.end() && it->second.count(kind) > 0;
}

std::string kind_of(const std::exception& e) {
  if (auto* le = dynamic_cast<const lamin::Error*>(&e)) return le->kind();
  if (dynamic_cast<const std::runtime_error*>(&e)) return "runtime_error";
  return "exception";
}


bool is_checkpoint_warning(const std::string& message) {
  return message.rfind("Checkpoint directory ", 0) == 0 || message.rfind("`ModelCheckpoint(", 0) == 0 ||
         message.rfind("The dirpath has changed", 0) == 0;
}

// ---- folders and files ----------------------------------------------------------------------------------------

json listing(const Paths& paths) {
  std::vector<std::string> files, dirs;
  json links = json::object();
  std::error_code ec;
  for (fs::recursive_directory_iterator it(paths.root, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    std::string rel = paths.rel(p.string());
    const auto link_status = it->symlink_status(ec);
    if (fs::is_symlink(link_status)) {
      links[rel] = fs::read_symlink(p, ec).string();
      if (fs::is_directory(fs::status(p, ec))) {
        dirs.push_back(rel);
        it.disable_recursion_pending();
      } else {
        files.push_back(rel);
      }
    } else if (fs::is_directory(link_status)) {
      dirs.push_back(rel);
    } else {
      const std::string name = p.filename().string();
      if (name.rfind("events.out.tfevents.", 0) == 0) {
        rel = paths.rel((p.parent_path() / "events.out.tfevents.<normalized>").string());
      }
      files.push_back(rel);
    }
  }
  std::sort(files.begin(), files.end());
  std::sort(dirs.begin(), dirs.end());
  return json{{"files", files}, {"links", links}, {"dirs", dirs}};
}

json logger_files(const Paths& paths) {
  json out = json::object();
  std::error_code ec;
  for (fs::recursive_directory_iterator it(paths.root, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if ((name == "metrics.csv" || name == "hparams.yaml") && it->is_regular_file(ec)) {
      out[paths.rel(it->path().string())] = lamin::test::read_file(it->path());
    }
  }
  return out;
}

void make_pre_existing(const Paths& paths, const json& entries) {
  for (const auto& e : entries) {
    const std::string rel = e.get<std::string>();
    const fs::path p = fs::path(paths.root) / rel;
    if (!rel.empty() && rel.back() == '/') {
      fs::create_directories(p);
    } else {
      fs::create_directories(p.parent_path());
      std::ofstream(p) << "pre-existing\n";
    }
  }
}

}  // namespace replay
