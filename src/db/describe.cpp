#include "lamin/db/describe.hpp"

#include <cstdio>

#include "lamin/db/value.hpp"
#include "lamin/error.hpp"

namespace lamin {
namespace {

using nlohmann::json;

std::size_t utf8_len(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

// Pads or truncates (with "…", as rich does) to `width` display characters.
std::string fit(const std::string& s, std::size_t width) {
  const std::size_t n = utf8_len(s);
  if (n <= width) return s + std::string(width - n, ' ');
  std::string out;
  std::size_t count = 0;
  for (std::size_t i = 0; i < s.size() && count < width - 1; ++i) {
    out += s[i];
    if (i + 1 >= s.size() || (static_cast<unsigned char>(s[i + 1]) & 0xC0) != 0x80) ++count;
  }
  return out + "\xE2\x80\xA6";
}

std::string rtrim(std::string s) {
  s.erase(s.find_last_not_of(' ') + 1);
  return s;
}

std::string value_text(const json& v) { return v.is_string() ? v.get<std::string>() : python_str(v); }

std::string header(const Artifact& a) {
  std::string out = "Artifact: " + a.key.value_or("") + " (" + a.version() + ")\n";
  if (a.description) out += "|   description: " + *a.description + "\n";
  return out;
}

std::string features_section(Registry& registry, const Artifact& a, const std::string& indent) {
  const auto values = registry.feature_values(a);
  if (values.empty()) return "";
  std::string out = indent + "└── Features\n";
  bool first = true;
  for (const auto& [feature, vals] : values) {
    std::vector<std::string> texts;
    for (std::size_t i = 0; i < vals.size() && i < 10; ++i) texts.push_back(value_text(vals[i]));
    std::string joined;
    for (std::size_t i = 0; i < texts.size(); ++i) joined += (i ? ", " : "") + texts[i];
    const std::string prefix = indent + (first ? "    └── " : "        ");
    first = false;
    out += rtrim(prefix + fit(feature.name, 18) + "  " + fit(feature.dtype_display(), 23) + "  " + fit(joined, 27)) +
           "\n";
  }
  return out;
}

}  // namespace

std::string format_bytes(std::int64_t size) {
  if (size < 1024) return std::to_string(size) + " B";
  const char* units[] = {"KB", "MB", "GB", "TB"};
  double v = static_cast<double>(size);
  int u = -1;
  while (v >= 1024 && u < 3) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f %s", v, units[u]);
  return buf;
}

std::string describe(Registry& registry, const Artifact& a) {
  std::vector<std::string> items;
  items.push_back("uid: " + a.uid);
  if (a.run_id) {
    const Run run = registry.get_run_by_id(*a.run_id);
    const Transform t = registry.get_transform_by_id(run.transform_id);
    items.push_back("run: " + run.name.value_or(run.uid.substr(0, 7)) + " (" + t.key + ")");
  }
  if (a.kind || a.otype) {
    items.push_back("kind: " + a.kind.value_or("None"));
    items.push_back("otype: " + a.otype.value_or("None"));
  }
  items.push_back("hash: " + a.hash.value_or("None"));
  items.push_back("size: " + (a.size ? format_bytes(*a.size) : std::string("None")));
  items.push_back(std::string("branch: ") + (a.branch_id == 1 ? "main" : a.branch_id == 0 ? "archive" : a.branch_id == -1 ? "trash" : std::to_string(a.branch_id)));
  items.push_back("space: all");
  items.push_back("created_at: " + a.created_at.substr(0, 19) + " UTC");
  items.push_back("created_by: " + registry.info().user.handle);

  std::size_t left = 0;
  for (std::size_t i = 0; i < items.size(); i += 2) left = std::max(left, utf8_len(items[i]));
  std::string out = header(a);
  for (std::size_t i = 0; i < items.size(); i += 2) {
    std::string line = (i == 0 ? "├── " : "│   ") + items[i];
    if (i + 1 < items.size()) line += std::string(left + 1 - utf8_len(items[i]), ' ') + items[i + 1];
    out += line + "\n";
  }
  const auto values = registry.feature_values(a);
  const std::string path = registry.info().storage.root + "/" + a.storage_key();
  out += (values.empty() ? "└── " : "├── ") + std::string("storage/path: ") + path + "\n";
  out += features_section(registry, a, "");
  return out;
}

std::string describe_features(Registry& registry, const Artifact& a) {
  return header(a) + features_section(registry, a, "");
}

}  // namespace lamin
