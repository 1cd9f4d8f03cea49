#include "lamin/db/instance.hpp"

#include <cstdlib>
#include <mutex>

#include "lamin/db/rest.hpp"
#include "lamin/error.hpp"
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
