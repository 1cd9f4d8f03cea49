#include "lamin/pl/data.hpp"

#include <torch/torch.h>

#include "lamin/error.hpp"

namespace lamin::pl {

DataLoader DataLoader::from_tensors(at::Tensor inputs, at::Tensor targets, std::int64_t batch_size) {
  if (batch_size < 1) throw ConfigurationError("batch_size must be >= 1, got " + std::to_string(batch_size));
  if (!inputs.defined() || inputs.dim() == 0) throw ConfigurationError("inputs must have a batch dimension");
  const std::int64_t n = inputs.size(0);
  if (targets.defined() && targets.dim() > 0 && targets.size(0) != n) {
    throw ConfigurationError("inputs and targets have different lengths: " + std::to_string(n) + " and " +
                             std::to_string(targets.size(0)));
  }
  const std::int64_t batches = (n + batch_size - 1) / batch_size;
  return DataLoader(
      [inputs, targets, batch_size, n]() -> Cursor {
        auto next = std::make_shared<std::int64_t>(0);
        return [inputs, targets, batch_size, n, next]() -> std::optional<Batch> {
          if (*next >= n) return std::nullopt;
          const std::int64_t start = *next;
          const std::int64_t len = std::min(batch_size, n - start);
          *next += len;
          at::Tensor y = targets.defined() && targets.dim() > 0 ? targets.narrow(0, start, len) : targets;
          return Batch(inputs.narrow(0, start, len), y);
        };
      },
      batches);
}

void LightningDataModule::save_hyperparameters(const nlohmann::json& hparams) {
  if (!hparams.is_object()) throw ConfigurationError("save_hyperparameters expects a JSON object of name: value");
  if (hparams_.is_null()) hparams_ = nlohmann::json::object();
  for (auto it = hparams.begin(); it != hparams.end(); ++it) hparams_[it.key()] = it.value();
}

}  // namespace lamin::pl
