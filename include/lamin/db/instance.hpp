#pragma once
// lamin::Instance: a handle to a LaminDB instance, and lamin::connect / lamin::init to get one.
//
//   auto instance = lamin::init("/data/mnist");        // creates /data/mnist/.lamindb/lamin.db
//   auto a = instance->create_artifact("model.ckpt", lamin::ArtifactOptions("mnist/model.ckpt").kind("model"));
//   instance->add_values(a, {{"val_loss", 0.031}});
//
// Like LibTorch's module holders, an Instance is a cheap shared handle; `->` reaches the lamin::Registry.

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>

#include "lamin/arg.hpp"
#include "lamin/db/registry.hpp"

namespace lamin {

class Instance {
 public:
  Instance() = default;
  explicit Instance(std::shared_ptr<Registry> registry) : registry_(std::move(registry)) {}

  Registry* operator->() const { return &get(); }
  Registry& operator*() const { return get(); }
  Registry& get() const;
  const std::shared_ptr<Registry>& ptr() const { return registry_; }
  explicit operator bool() const { return static_cast<bool>(registry_); }
  bool operator==(const Instance& other) const { return registry_ == other.registry_; }

 private:
  std::shared_ptr<Registry> registry_;
};

/// Options for lamin::init.
struct InitOptions {
  /// Storage uid (12 characters); random when empty.
  LAMIN_ARG(std::string, storage_uid);
  /// Instance uid; random when empty.
  LAMIN_ARG(std::string, instance_uid);
};

/// Opens the instance at `dir` (`<dir>/.lamindb/lamin.db`). Throws lamin::NotFoundError for a folder that is not an
/// instance and lamin::IntegrityError for a database from a newer schema. Makes it the default instance.
Instance connect(const std::filesystem::path& dir);
/// The default instance: the last one opened by connect/init in this process, else the `LAMIN_INSTANCE`
/// environment variable. Throws lamin::ConfigurationError if there is none.
Instance connect();
/// Creates an instance at `dir` (the folder is created if needed) with LaminDB's tables and seed rows, or opens it if
/// one exists. Makes it the default instance.
Instance init(const std::filesystem::path& dir, const InitOptions& options = {});

/// One write transaction over several operations (LaminDB's `with transaction.atomic()`): everything done through
/// the instance while it lives commits together on commit(), or not at all. Destroyed without commit: rolled back.
class Transaction {
 public:
  explicit Transaction(const Instance& instance);
  explicit Transaction(Registry& registry);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();
  void rollback() noexcept;

 private:
  Registry& registry_;
  bool open_ = true;
};

/// Runs `body` in one transaction: commits if it returns, rolls back and rethrows if it throws.
template <typename F>
auto transaction(const Instance& instance, F&& body) -> decltype(body()) {
  Transaction tx(instance);
  if constexpr (std::is_void_v<decltype(body())>) {
    body();
    tx.commit();
  } else {
    auto result = body();
    tx.commit();
    return result;
  }
}

}  // namespace lamin
