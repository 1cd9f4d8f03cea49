// Row readers and small helpers shared by the SQLite registry's units.
#include "sqlite_rows.hpp"

#include <algorithm>

#include "record_fields.hpp"
#include "lamin/db/uid.hpp"

namespace lamin::detail {

using nlohmann::json;

namespace {
void (*g_step_hook)(const char*) = nullptr;
}  // namespace

void step_hook(const char* name) {
  if (g_step_hook) g_step_hook(name);
}


namespace {

void read_column(const sqlite::Statement& s, int i, std::int64_t& v) { v = s.int64(i); }
void read_column(const sqlite::Statement& s, int i, int& v) { v = static_cast<int>(s.int64(i)); }
void read_column(const sqlite::Statement& s, int i, std::string& v) { v = s.text(i); }
void read_column(const sqlite::Statement& s, int i, bool& v) { v = s.int64(i) != 0; }
void read_column(const sqlite::Statement& s, int i, std::optional<std::string>& v) { v = s.opt_text(i); }
void read_column(const sqlite::Statement& s, int i, std::optional<std::int64_t>& v) { v = s.opt_int64(i); }
void read_column(const sqlite::Statement& s, int i, std::optional<bool>& v) {
  if (!s.is_null(i)) v = s.int64(i) != 0;
}
void read_column(const sqlite::Statement& s, int i, json& v) {  // JSON text; unreadable text reads as null
  const auto text = s.opt_text(i);
  v = text ? json::parse(*text, nullptr, false) : json();
  if (v.is_discarded()) v = json();
}

/// "x.a, x.b, ..." for alias `x` of a table whose record's fields `Each` walks.
template <typename Record, typename Each>
std::string columns(const char* alias, Each each) {
  std::string out;
  const Record none{};
  each(none, [&](const char* column, const auto&...) {
    out += (out.empty() ? "" : ", ") + std::string(alias) + "." + column;
  });
  return out;
}

/// Reads the record's fields from columns 0, 1, ... in the order `each` walks them.
template <typename Record, typename Each>
Record read_record(const sqlite::Statement& s, Each each) {
  Record r;
  int i = 0;
  each(r, [&](const char*, auto& member, auto...) { read_column(s, i++, member); });
  return r;
}

// The walkers as objects (a function template cannot be passed as such).
constexpr auto kArtifactFields = [](auto& r, auto&& f) { for_each_artifact_field(r, f); };
constexpr auto kRunFields = [](auto& r, auto&& f) { for_each_run_field(r, f); };
constexpr auto kFeatureFields = [](auto& r, auto&& f) { for_each_feature_field(r, f); };
constexpr auto kTransformFields = [](auto& r, auto&& f) { for_each_transform_field(r, f); };

}  // namespace

const std::string kArtifactColumns = columns<Artifact>("a", kArtifactFields);
const std::string kRunColumns = columns<Run>("r", kRunFields);
const std::string kFeatureColumns = columns<Feature>("f", kFeatureFields);
const std::string kTransformColumns = columns<Transform>("t", kTransformFields);

Artifact read_artifact(const sqlite::Statement& s) { return read_record<Artifact>(s, kArtifactFields); }
Run read_run(const sqlite::Statement& s) { return read_record<Run>(s, kRunFields); }
Feature read_feature(const sqlite::Statement& s) { return read_record<Feature>(s, kFeatureFields); }
Transform read_transform(const sqlite::Statement& s) { return read_record<Transform>(s, kTransformFields); }

bool is_base62(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return kBase62Alphabet.find(c) != std::string_view::npos; });
}

// Highest version suffix among uids of one family (by base62 value, never by collation).
std::string max_suffix(sqlite::Database& db, const char* table, const std::string& stem, std::size_t uid_len) {
  auto s = db.prepare(std::string("SELECT uid FROM ") + table + " WHERE uid >= ? AND uid <= ?");
  s.bind(1, stem + std::string(uid_len - stem.size(), '0')).bind(2, stem + std::string(uid_len - stem.size(), 'z'));
  std::string best;
  unsigned long long best_v = 0;
  while (s.step()) {
    const std::string uid = s.text(0);
    if (uid.size() != uid_len || uid.compare(0, stem.size(), stem) != 0) continue;
    const std::string suffix = uid.substr(stem.size());
    if (!is_base62(suffix)) continue;
    const auto v = base62_decode(suffix);
    if (best.empty() || v > best_v) {
      best = suffix;
      best_v = v;
    }
  }
  return best;
}

void SqliteRegistry::set_step_hook(void (*hook)(const char*)) { g_step_hook = hook; }

}  // namespace lamin::detail
