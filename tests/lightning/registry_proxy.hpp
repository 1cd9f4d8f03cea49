#pragma once
// A RegistryWrapper over a real registry that counts calls and lets a test fail any of them: the seam for query
// budgets and for registries that fail mid-save.

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "lamin/db.hpp"

namespace lamin_test {

class ProxyRegistry : public lamin::RegistryWrapper {
 public:
  explicit ProxyRegistry(const lamin::Instance& inner) : RegistryWrapper(inner.ptr()) {}

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

  lamin::Artifact create_artifact(const std::filesystem::path& file, const lamin::ArtifactOptions& options) override {
    lamin::ArtifactOptions o = options;
    // The inner registry only links outputs to runs tracked in itself; the proxy's runs are the same rows.
    if (o.run_mode() == lamin::ArtifactOptions::RunMode::current) {
      if (auto run = lamin::context().run(); run && lamin::context().instance().ptr().get() == this) o.run(*run);
    }
    return RegistryWrapper::create_artifact(file, o);
  }
  void add_values(const lamin::Artifact& a, const lamin::FeatureValues& v) override {
    if (!stub_value_writes) return RegistryWrapper::add_values(a, v);
    hit("add_values");
  }
  void add_values(const lamin::Run& r, const lamin::FeatureValues& v) override {
    if (!stub_value_writes) return RegistryWrapper::add_values(r, v);
    hit("add_values");
  }
  std::int64_t remove_values(const lamin::Artifact& a, const lamin::FeatureRef& f,
                             const std::optional<nlohmann::json>& v) override {
    if (!stub_value_writes) return RegistryWrapper::remove_values(a, f, v);
    hit("remove_values");
    return 0;
  }
  std::int64_t remove_values(const lamin::Run& r, const lamin::FeatureRef& f,
                             const std::optional<nlohmann::json>& v) override {
    if (!stub_value_writes) return RegistryWrapper::remove_values(r, f, v);
    hit("remove_values");
    return 0;
  }

 protected:
  /// Every forwarded call is counted and may be failed, except recovery and the transform and run calls.
  void around(const char* name, const std::function<void()>& call) override {
    static const std::set<std::string> uncounted = {"recover",       "create_transform", "get_transform_by_id",
                                                    "create_run",    "get_run_by_id",    "find_run",
                                                    "finish_run"};
    if (!uncounted.count(name)) hit(name);
    call();
  }

 private:
  void hit(const std::string& name) {
    ++calls[name];
    if (before) before(name);
  }
};

}  // namespace lamin_test
