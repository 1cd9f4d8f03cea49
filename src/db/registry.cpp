// lamin::Registry's derived operations (built on the core) and lamin::RegistryWrapper.
#include "lamin/db/registry.hpp"

#include <algorithm>

#include "lamin/db/instance.hpp"
#include "lamin/error.hpp"
#include "rank.hpp"

namespace lamin {

Artifact Registry::get_artifact(const std::string& uid_or_key) {
  auto a = find_artifact(uid_or_key);
  if (!a) throw NotFoundError("Artifact matching query does not exist: no artifact with uid or key '" + uid_or_key + "'.");
  return *a;
}

nlohmann::json Registry::get_values(const Artifact& artifact) {
  auto values = values_of_artifacts({artifact.id});
  const auto it = values.find(artifact.id);
  return it == values.end() ? nlohmann::json::object() : std::move(it->second);
}

nlohmann::json Registry::get_values(const Run& run) {
  auto values = values_of_runs({run.id});
  const auto it = values.find(run.id);
  return it == values.end() ? nlohmann::json::object() : std::move(it->second);
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

// --- RegistryWrapper --------------------------------------------------------------------------------------------

RegistryWrapper::RegistryWrapper(std::shared_ptr<Registry> target) : target_(std::move(target)) {
  if (!target_) throw ConfigurationError("RegistryWrapper needs a registry to forward to");
}

void RegistryWrapper::around(const char* /*name*/, const std::function<void()>& call) { call(); }

const InstanceInfo& RegistryWrapper::info() const { return target_->info(); }
void RegistryWrapper::begin() { target_->begin(); }
void RegistryWrapper::commit() { target_->commit(); }
void RegistryWrapper::rollback() noexcept { target_->rollback(); }
bool RegistryWrapper::in_transaction() const { return target_->in_transaction(); }

Artifact RegistryWrapper::create_artifact(const std::filesystem::path& file, const ArtifactOptions& options) {
  return forward("create_artifact", [&] { return target_->create_artifact(file, options); });
}
std::optional<Artifact> RegistryWrapper::find_artifact(const std::string& uid_or_key) {
  return forward("find_artifact", [&] { return target_->find_artifact(uid_or_key); });
}
Artifact RegistryWrapper::get_artifact_by_id(std::int64_t id) {
  return forward("get_artifact_by_id", [&] { return target_->get_artifact_by_id(id); });
}
void RegistryWrapper::delete_artifact(const Artifact& artifact) {
  forward("delete_artifact", [&] { target_->delete_artifact(artifact); });
}
std::filesystem::path RegistryWrapper::storage_path(const Artifact& artifact) const {
  return target_->storage_path(artifact);
}
void RegistryWrapper::add_run_input(const Artifact& artifact, const Run& run) {
  forward("add_run_input", [&] { target_->add_run_input(artifact, run); });
}
std::vector<Run> RegistryWrapper::input_of_runs(const Artifact& artifact) {
  return forward("input_of_runs", [&] { return target_->input_of_runs(artifact); });
}
std::vector<Artifact> RegistryWrapper::run_inputs(const Run& run) {
  return forward("run_inputs", [&] { return target_->run_inputs(run); });
}
std::int64_t RegistryWrapper::recover(double min_age_seconds) {
  return forward("recover", [&] { return target_->recover(min_age_seconds); });
}

Feature RegistryWrapper::create_feature(const FeatureOptions& options) {
  return forward("create_feature", [&] { return target_->create_feature(options); });
}
std::vector<Feature> RegistryWrapper::features() {
  return forward("features", [&] { return target_->features(); });
}
std::optional<Feature> RegistryWrapper::find_feature(const FeatureRef& ref) {
  return forward("find_feature", [&] { return target_->find_feature(ref); });
}
std::optional<Feature> RegistryWrapper::find_feature(const std::string& name, const Feature& type) {
  return forward("find_feature", [&] { return target_->find_feature(name, type); });
}
void RegistryWrapper::add_values(const Artifact& artifact, const FeatureValues& values) {
  forward("add_values", [&] { target_->add_values(artifact, values); });
}
void RegistryWrapper::add_values(const Run& run, const FeatureValues& values) {
  forward("add_values", [&] { target_->add_values(run, values); });
}
std::int64_t RegistryWrapper::remove_values(const Artifact& artifact, const FeatureRef& feature,
                                            const std::optional<nlohmann::json>& value) {
  return forward("remove_values", [&] { return target_->remove_values(artifact, feature, value); });
}
std::int64_t RegistryWrapper::remove_values(const Run& run, const FeatureRef& feature,
                                            const std::optional<nlohmann::json>& value) {
  return forward("remove_values", [&] { return target_->remove_values(run, feature, value); });
}
std::vector<std::pair<Feature, std::vector<nlohmann::json>>> RegistryWrapper::feature_values(const Artifact& artifact) {
  return forward("feature_values", [&] { return target_->feature_values(artifact); });
}

Transform RegistryWrapper::create_transform(const TransformOptions& options) {
  return forward("create_transform", [&] { return target_->create_transform(options); });
}
Transform RegistryWrapper::get_transform_by_id(std::int64_t id) {
  return forward("get_transform_by_id", [&] { return target_->get_transform_by_id(id); });
}
Run RegistryWrapper::create_run(const Transform& transform, const RunOptions& options) {
  return forward("create_run", [&] { return target_->create_run(transform, options); });
}
Run RegistryWrapper::get_run_by_id(std::int64_t id) {
  return forward("get_run_by_id", [&] { return target_->get_run_by_id(id); });
}
std::optional<Run> RegistryWrapper::find_run(const std::string& uid) {
  return forward("find_run", [&] { return target_->find_run(uid); });
}
Run RegistryWrapper::finish_run(const Run& run, RunStatus status) {
  return forward("finish_run", [&] { return target_->finish_run(run, status); });
}

std::vector<Artifact> RegistryWrapper::select_artifacts(const QuerySpec& spec) {
  return forward("select_artifacts", [&] { return target_->select_artifacts(spec); });
}
std::int64_t RegistryWrapper::count_artifacts(const QuerySpec& spec) {
  return forward("count_artifacts", [&] { return target_->count_artifacts(spec); });
}
std::vector<Run> RegistryWrapper::select_runs(const QuerySpec& spec) {
  return forward("select_runs", [&] { return target_->select_runs(spec); });
}
std::int64_t RegistryWrapper::count_runs(const QuerySpec& spec) {
  return forward("count_runs", [&] { return target_->count_runs(spec); });
}
std::map<std::int64_t, nlohmann::json> RegistryWrapper::values_of_artifacts(const std::vector<std::int64_t>& ids) {
  return forward("values_of_artifacts", [&] { return target_->values_of_artifacts(ids); });
}
std::map<std::int64_t, nlohmann::json> RegistryWrapper::values_of_runs(const std::vector<std::int64_t>& ids) {
  return forward("values_of_runs", [&] { return target_->values_of_runs(ids); });
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

}  // namespace lamin
