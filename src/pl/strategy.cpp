#include "lamin/pl/strategy.hpp"

#include <torch/torch.h>

#include <cstdlib>
#include <string>

#include "lamin/error.hpp"
#include "lamin/pl/module.hpp"

namespace lamin::pl {
namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  try {
    std::size_t used = 0;
    const int value = std::stoi(v, &used);
    if (used == std::string(v).size()) return value;
  } catch (const std::exception&) {
  }
  throw ConfigurationError(std::string("environment variable ") + name + "='" + v + "' is not an integer");
}

}  // namespace

ProcessRanks ProcessRanks::from_environment() {
  ProcessRanks ranks;
  ranks.global_rank = env_int("RANK", 0);
  ranks.local_rank = env_int("LOCAL_RANK", 0);
  ranks.world_size = env_int("WORLD_SIZE", 1);
  if (ranks.global_rank < 0 || ranks.world_size < 1 || ranks.global_rank >= ranks.world_size ||
      ranks.local_rank < 0) {
    throw ConfigurationError("invalid distributed environment: RANK=" + std::to_string(ranks.global_rank) +
                             ", LOCAL_RANK=" + std::to_string(ranks.local_rank) +
                             ", WORLD_SIZE=" + std::to_string(ranks.world_size));
  }
  return ranks;
}

void Strategy::model_to_device(LightningModule& module) const { module.to(root_device()); }

Batch Strategy::batch_to_device(const Batch& batch) const {
  const c10::Device device = root_device();
  auto move = [&](const at::Tensor& t) {
    return !t.defined() || t.device() == device ? t : t.to(device, /*non_blocking=*/true);
  };
  return Batch(move(batch.data), move(batch.target));
}

}  // namespace lamin::pl
