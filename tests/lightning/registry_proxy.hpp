#pragma once
// A Registry that forwards every call to a real one, counting calls and letting a test fail any of them: the seam
// for query budgets and for registries that fail mid-save.

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "lamin/db.hpp"

namespace lamin_test {

class ProxyRegistry : public lamin::Registry {
 public:
  explicit ProxyRegistry(lamin::Instance inner) : inner_(std::move(inner)) {}

  /// Called before every forwarded call with its name; may throw to make the call fail.
  std::function<void(const std::string&)> before;
  /// Calls made, by name (transaction control is not counted).
  std::map<std::string, int> calls;
  /// Skip add_values / remove_values entirely (counted, not forwarded).
  bool stub_value_writes = false;

  int total() const {
    int n = 0;
    for (const auto& [k, v] : calls) n += v;
    return n;
  }
  int reads() const {
    int n = 0;
    for (const auto& [k, v] : calls)
      if (k != "add_values" && k != "remove_values") n += v;
    return n;
  }
  void reset() { calls.clear(); }

  const lamin::InstanceInfo& info() const override { return inner_->info(); }
  void begin() override { inner_->begin(); }
  void commit() override { inner_->commit(); }
  void rollback() noexcept override { inner_->rollback(); }
  bool in_transaction() const override { return inner_->in_transaction(); }

  lamin::Artifact create_artifact(const std::filesystem::path& file, const lamin::ArtifactOptions& options) override {
    hit("create_artifact");
    lamin::ArtifactOptions o = options;
    // The inner registry only links outputs to runs tracked in itself; the proxy's runs are the same rows.
    if (o.run_mode() == lamin::ArtifactOptions::RunMode::current) {
      if (auto run = lamin::context().run(); run && lamin::context().instance().ptr().get() == this) o.run(*run);
    }
    return inner_->create_artifact(file, o);
  }
  std::optional<lamin::Artifact> find_artifact(const std::string& k) override {
    hit("find_artifact");
    return inner_->find_artifact(k);
  }
  lamin::Artifact get_artifact_by_id(std::int64_t id) override {
    hit("get_artifact_by_id");
    return inner_->get_artifact_by_id(id);
  }
  void delete_artifact(const lamin::Artifact& a) override {
    hit("delete_artifact");
    inner_->delete_artifact(a);
  }
  std::filesystem::path storage_path(const lamin::Artifact& a) const override { return inner_->storage_path(a); }
  void add_run_input(const lamin::Artifact& a, const lamin::Run& r) override {
    hit("add_run_input");
    inner_->add_run_input(a, r);
  }
  std::vector<lamin::Run> input_of_runs(const lamin::Artifact& a) override {
    hit("input_of_runs");
    return inner_->input_of_runs(a);
  }
  std::vector<lamin::Artifact> run_inputs(const lamin::Run& r) override {
    hit("run_inputs");
    return inner_->run_inputs(r);
  }
  std::int64_t recover(double s) override { return inner_->recover(s); }
  lamin::Feature create_feature(const lamin::FeatureOptions& o) override {
    hit("create_feature");
    return inner_->create_feature(o);
  }
  std::vector<lamin::Feature> features() override {
    hit("features");
    return inner_->features();
  }
  std::optional<lamin::Feature> find_feature(const lamin::FeatureRef& r) override {
    hit("find_feature");
    return inner_->find_feature(r);
  }
  std::optional<lamin::Feature> find_feature(const std::string& n, const lamin::Feature& t) override {
    hit("find_feature");
    return inner_->find_feature(n, t);
  }
  void add_values(const lamin::Artifact& a, const lamin::FeatureValues& v) override {
    hit("add_values");
    if (!stub_value_writes) inner_->add_values(a, v);
  }
  void add_values(const lamin::Run& r, const lamin::FeatureValues& v) override {
    hit("add_values");
    if (!stub_value_writes) inner_->add_values(r, v);
  }
  std::int64_t remove_values(const lamin::Artifact& a, const lamin::FeatureRef& f,
                             const std::optional<nlohmann::json>& v) override {
    hit("remove_values");
    return stub_value_writes ? 0 : inner_->remove_values(a, f, v);
  }
  std::int64_t remove_values(const lamin::Run& r, const lamin::FeatureRef& f,
                             const std::optional<nlohmann::json>& v) override {
    hit("remove_values");
    return stub_value_writes ? 0 : inner_->remove_values(r, f, v);
  }
  nlohmann::json get_values(const lamin::Artifact& a) override {
    hit("get_values");
    return inner_->get_values(a);
  }
  nlohmann::json get_values(const lamin::Run& r) override {
    hit("get_values");
    return inner_->get_values(r);
  }
  std::vector<std::pair<lamin::Feature, std::vector<nlohmann::json>>> feature_values(
      const lamin::Artifact& a) override {
    hit("feature_values");
    return inner_->feature_values(a);
  }
  lamin::Transform create_transform(const lamin::TransformOptions& o) override { return inner_->create_transform(o); }
  lamin::Transform get_transform_by_id(std::int64_t id) override { return inner_->get_transform_by_id(id); }
  lamin::Run create_run(const lamin::Transform& t, const lamin::RunOptions& o) override {
    return inner_->create_run(t, o);
  }
  lamin::Run get_run_by_id(std::int64_t id) override { return inner_->get_run_by_id(id); }
  std::optional<lamin::Run> find_run(const std::string& uid) override { return inner_->find_run(uid); }
  lamin::Run finish_run(const lamin::Run& r, lamin::RunStatus s) override { return inner_->finish_run(r, s); }
  std::vector<lamin::Artifact> select_artifacts(const lamin::QuerySpec& s) override {
    hit("select_artifacts");
    return inner_->select_artifacts(s);
  }
  std::int64_t count_artifacts(const lamin::QuerySpec& s) override {
    hit("count_artifacts");
    return inner_->count_artifacts(s);
  }
  std::vector<lamin::Run> select_runs(const lamin::QuerySpec& s) override {
    hit("select_runs");
    return inner_->select_runs(s);
  }
  std::int64_t count_runs(const lamin::QuerySpec& s) override {
    hit("count_runs");
    return inner_->count_runs(s);
  }
  std::map<std::int64_t, nlohmann::json> values_of_artifacts(const std::vector<std::int64_t>& ids) override {
    hit("values_of_artifacts");
    return inner_->values_of_artifacts(ids);
  }
  std::map<std::int64_t, nlohmann::json> values_of_runs(const std::vector<std::int64_t>& ids) override {
    hit("values_of_runs");
    return inner_->values_of_runs(ids);
  }

 private:
  void hit(const std::string& name) {
    ++calls[name];
    if (before) before(name);
  }
  lamin::Instance inner_;
};

}  // namespace lamin_test
