#include "lamin/db/instance.hpp"

#include <algorithm>
#include <cstdlib>
#include <mutex>

#include "lamin/db/rest.hpp"
#include "lamin/error.hpp"
#include "rank.hpp"
#include "sqlite_registry.hpp"

namespace lamin {
namespace {

std::mutex g_mutex;
Instance g_default;

void set_default(const Instance& instance) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_default = instance;
}

}  // namespace

Registry& Instance::get() const {
  if (!registry_) throw ConfigurationError("This lamin::Instance is empty; use lamin::connect(dir) or lamin::init(dir).");
  return *registry_;
}

Artifact Registry::get_artifact(const std::string& uid_or_key) {
  auto a = find_artifact(uid_or_key);
  if (!a) throw NotFoundError("Artifact matching query does not exist: no artifact with uid or key '" + uid_or_key + "'.");
  return *a;
}

// Generic forms of the batch calls, through the per-artifact interface; backends override them with one statement.
std::map<std::int64_t, std::vector<nlohmann::json>> Registry::feature_values_of_artifacts(const Feature& feature,
                                                                                          const QuerySpec& spec) {
  return std::move(feature_values_of_artifacts(std::vector<Feature>{feature}, spec).front());
}

std::vector<std::map<std::int64_t, std::vector<nlohmann::json>>> Registry::feature_values_of_artifacts(
    const std::vector<Feature>& features, const QuerySpec& spec) {
  std::vector<std::map<std::int64_t, std::vector<nlohmann::json>>> out(features.size());
  for (std::size_t i = 0; i < features.size(); ++i) {
    const Feature& feature = features[i];
    QuerySpec only = spec;
    only.order.clear();
    only.limit.reset();
    only.features.push_back(FeatureCondition{FeatureRef(feature), CompareOp::not_null, nullptr});
    std::vector<std::int64_t> ids;
    for (const auto& a : select_artifacts(only)) ids.push_back(a.id);
    if (ids.empty()) continue;
    for (auto& [id, values] : values_of_artifacts(ids)) {
      auto it = values.find(feature.name);
      if (it == values.end()) continue;
      if (it->is_array()) {
        out[i][id] = it->get<std::vector<nlohmann::json>>();
      } else {
        out[i][id] = {*it};
      }
    }
  }
  return out;
}

void Registry::set_feature_values(const Feature& feature,
                                  const std::vector<std::pair<std::int64_t, nlohmann::json>>& values) {
  for (const auto& [id, value] : values) {
    if (value.is_null()) throw ValidationError("set_feature_values: a value of feature '" + feature.name + "' is null");
    validate_feature_value(feature, value);
  }
  if (values.empty()) return;
  std::vector<std::int64_t> ids;
  for (const auto& [id, value] : values) ids.push_back(id);
  const auto current = values_of_artifacts(ids);
  Transaction tx(*this);
  for (const auto& [id, value] : values) {
    const auto it = current.find(id);
    if (it != current.end() && it->second.contains(feature.name) && it->second.at(feature.name) == value) continue;
    const Artifact a = get_artifact_by_id(id);
    remove_values(a, feature);
    add_values(a, {{feature, value}});
  }
  tx.commit();
}

std::int64_t Registry::rank_artifacts(const QuerySpec& spec, const Feature& score, const Feature& rank,
                                      bool descending) {
  Transaction tx(*this);
  const auto read = feature_values_of_artifacts({score, rank}, spec);
  const auto order = detail::rank_order(read[0], descending);
  const auto& ranks = read[1];
  std::vector<std::pair<std::int64_t, nlohmann::json>> changed;
  for (std::size_t i = 0; i < order.size(); ++i) {
    const auto value = static_cast<std::int64_t>(i);
    const auto it = ranks.find(order[i]);
    const bool same = it != ranks.end() && it->second.size() == 1 && it->second.front().is_number_integer() &&
                      it->second.front().get<std::int64_t>() == value;
    if (!same) changed.emplace_back(order[i], value);
  }
  set_feature_values(rank, changed);
  tx.commit();
  return static_cast<std::int64_t>(changed.size());
}

namespace detail {

std::vector<std::int64_t> rank_order(const std::map<std::int64_t, std::vector<nlohmann::json>>& scores,
                                     bool descending) {
  std::vector<std::pair<std::int64_t, double>> rows;
  rows.reserve(scores.size());
  for (const auto& [id, values] : scores) {
    if (const auto score = smallest_number(values)) rows.emplace_back(id, *score);
  }
  return rank_order(std::move(rows), descending);
}

std::optional<double> smallest_number(const std::vector<nlohmann::json>& values) {
  std::optional<double> out;
  for (const auto& v : values) {
    if (v.is_number() && (!out || v.get<double>() < *out)) out = v.get<double>();
  }
  return out;
}

std::vector<std::int64_t> rank_order(std::vector<std::pair<std::int64_t, double>> rows, bool descending) {
  // By score; ties in creation order (ids ascend with creation).
  std::sort(rows.begin(), rows.end(), [&](const auto& x, const auto& y) {
    if (x.second != y.second) return descending ? x.second > y.second : x.second < y.second;
    return x.first < y.first;
  });
  std::vector<std::int64_t> out;
  out.reserve(rows.size());
  for (const auto& row : rows) out.push_back(row.first);
  return out;
}

}  // namespace detail

Instance connect(const std::filesystem::path& dir) {
  Instance instance = is_remote_url(dir.string()) ? connect_rest(dir.string())
                                                  : Instance(detail::SqliteRegistry::open(dir, false));
  set_default(instance);
  return instance;
}

Instance connect() {
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (g_default) return g_default;
  }
  const char* env = std::getenv("LAMIN_INSTANCE");
  if (!env || !*env) {
    throw ConfigurationError("No instance: call lamin::connect(dir) or lamin::init(dir), or set LAMIN_INSTANCE.");
  }
  return connect(env);
}

Instance init(const std::filesystem::path& dir, const InitOptions& options) {
  Instance instance(detail::SqliteRegistry::open(dir, true, options.storage_uid(), options.instance_uid()));
  set_default(instance);
  return instance;
}

Transaction::Transaction(const Instance& instance) : registry_(instance.get()) { registry_.begin(); }
Transaction::Transaction(Registry& registry) : registry_(registry) { registry_.begin(); }
Transaction::~Transaction() { rollback(); }

void Transaction::commit() {
  if (!open_) throw Error("Transaction::commit(): the transaction is already closed");
  open_ = false;
  registry_.commit();
}

void Transaction::rollback() noexcept {
  if (!open_) return;
  open_ = false;
  registry_.rollback();
}

}  // namespace lamin
