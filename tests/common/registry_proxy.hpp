#pragma once
// A RegistryWrapper over a real registry that counts calls and lets a test fail any of them: the seam for query
// budgets and for registries that fail mid-save. No LibTorch.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "lamin/db/instance.hpp"
#include "lamin/db/registry.hpp"

namespace lamin::test {

class ProxyRegistry : public lamin::RegistryWrapper {
 public:
  explicit ProxyRegistry(const lamin::Instance& inner) : RegistryWrapper(inner.ptr()) {}

  /// Called before every forwarded call with its name; may throw to make the call fail.
  std::function<void(const std::string&)> before;
  /// Calls made, by name (transaction control is not counted).
  std::map<std::string, int> calls;
  /// Skip add_values / remove_values entirely (counted, not forwarded).
  bool stub_value_writes = false;

  /// All calls made.
  int total() const;
  /// Calls made other than add_values and remove_values.
  int reads() const;
  void reset() { calls.clear(); }

  lamin::Artifact create_artifact(const std::filesystem::path& file, const lamin::ArtifactOptions& options) override;
  void add_values(const lamin::Artifact& a, const lamin::FeatureValues& v) override;
  void add_values(const lamin::Run& r, const lamin::FeatureValues& v) override;
  std::int64_t remove_values(const lamin::Artifact& a, const lamin::FeatureRef& f,
                             const std::optional<nlohmann::json>& v) override;
  std::int64_t remove_values(const lamin::Run& r, const lamin::FeatureRef& f,
                             const std::optional<nlohmann::json>& v) override;

 protected:
  /// Every forwarded call is counted and may be failed, except recovery and the transform and run calls.
  void around(const char* name, const std::function<void()>& call) override;

 private:
  void hit(const std::string& name);
};

}  // namespace lamin::test
