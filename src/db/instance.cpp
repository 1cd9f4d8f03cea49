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
  if (!open_) throw IntegrityError("Transaction::commit(): the transaction is already closed");
  open_ = false;
  registry_.commit();
}

void Transaction::rollback() noexcept {
  if (!open_) return;
  open_ = false;
  registry_.rollback();
}

}  // namespace lamin
