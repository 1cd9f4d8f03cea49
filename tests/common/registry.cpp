#include "common/registry.hpp"

#include <cstdint>
#include <cstdlib>
#include <map>

#include "lamin/db.hpp"

namespace lamin::test {

void InstanceTest::SetUp() { instance = lamin::init(dir / "inst"); }

void InstanceTest::TearDown() { lamin::finish(); }

fs::path InstanceTest::file(const std::string& name, const std::string& content) const {
  return write_file(dir / "src" / name, content);
}

fs::path unpack_fixture(const fs::path& dir) {
  const fs::path db = dir / ".lamindb" / "lamin.db";
  fs::create_directories(db.parent_path());
  const std::string cmd = std::string("gzip -dc '") + LAMIN_SHARED_DIR + "/fixtures/lamindb-seed-0189.db.gz' > '" +
                          db.string() + "'";
  if (std::system(cmd.c_str()) != 0) ADD_FAILURE() << "cannot unpack the fixture";
  return db;
}

nlohmann::json dump(Registry& r) {
  using nlohmann::json;
  json features = json::array();
  for (const auto& f : r.features()) features.push_back({f.name, f.dtype ? json(*f.dtype) : json(nullptr), f.is_type});
  json runs = json::array();
  std::map<std::int64_t, std::size_t> run_index;
  for (const auto& run : r.runs().all()) {
    run_index[run.id] = runs.size();
    runs.push_back({{"name", run.name ? json(*run.name) : json(nullptr)}, {"status", run.status_code},
                    {"params", run.params}, {"finished", run.finished_at.has_value()},
                    {"transform", r.get_transform_by_id(run.transform_id).key}, {"values", r.get_values(run)}});
  }
  json artifacts = json::array();
  for (const auto& a : r.artifacts().all_branches().all()) {
    json inputs = json::array();
    for (const auto& run : r.input_of_runs(a)) inputs.push_back(run_index[run.id]);
    artifacts.push_back({{"key", a.key ? json(*a.key) : json(nullptr)}, {"hash", a.hash ? json(*a.hash) : json(nullptr)},
                         {"size", a.size ? json(*a.size) : json(nullptr)}, {"suffix", a.suffix},
                         {"version", a.uid.substr(16)}, {"is_latest", a.is_latest},
                         {"kind", a.kind ? json(*a.kind) : json(nullptr)},
                         {"run", a.run_id ? json(run_index[*a.run_id]) : json(nullptr)}, {"values", r.get_values(a)},
                         {"input_of", inputs}});
  }
  return {{"features", features}, {"runs", runs}, {"artifacts", artifacts}};
}

}  // namespace lamin::test
