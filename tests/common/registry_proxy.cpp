#include "common/registry_proxy.hpp"

#include <set>

#include "lamin/db/track.hpp"

namespace lamin::test {

int ProxyRegistry::total() const {
  int n = 0;
  for (const auto& [k, v] : calls) n += v;
  return n;
}

int ProxyRegistry::reads() const {
  int n = 0;
  for (const auto& [k, v] : calls)
    if (k != "add_values" && k != "remove_values") n += v;
  return n;
}

lamin::Artifact ProxyRegistry::create_artifact(const std::filesystem::path& file, const lamin::ArtifactOptions& options) {
  lamin::ArtifactOptions o = options;
  // The inner registry only links outputs to runs tracked in itself; the proxy's runs are the same rows.
  if (o.run_mode() == lamin::ArtifactOptions::RunMode::current) {
    if (auto run = lamin::context().run(); run && lamin::context().instance().ptr().get() == this) o.run(*run);
  }
  return RegistryWrapper::create_artifact(file, o);
}

void ProxyRegistry::add_values(const lamin::Artifact& a, const lamin::FeatureValues& v) {
  if (!stub_value_writes) return RegistryWrapper::add_values(a, v);
  hit("add_values");
}

void ProxyRegistry::add_values(const lamin::Run& r, const lamin::FeatureValues& v) {
  if (!stub_value_writes) return RegistryWrapper::add_values(r, v);
  hit("add_values");
}

std::int64_t ProxyRegistry::remove_values(const lamin::Artifact& a, const lamin::FeatureRef& f,
                                          const std::optional<nlohmann::json>& v) {
  if (!stub_value_writes) return RegistryWrapper::remove_values(a, f, v);
  hit("remove_values");
  return 0;
}

std::int64_t ProxyRegistry::remove_values(const lamin::Run& r, const lamin::FeatureRef& f,
                                          const std::optional<nlohmann::json>& v) {
  if (!stub_value_writes) return RegistryWrapper::remove_values(r, f, v);
  hit("remove_values");
  return 0;
}

void ProxyRegistry::around(const char* name, const std::function<void()>& call) {
  static const std::set<std::string> uncounted = {"recover",       "create_transform", "get_transform_by_id",
                                                  "create_run",    "get_run_by_id",    "find_run",
                                                  "finish_run"};
  if (!uncounted.count(name)) hit(name);
  call();
}

void ProxyRegistry::hit(const std::string& name) {
  ++calls[name];
  if (before) before(name);
}

}  // namespace lamin::test
