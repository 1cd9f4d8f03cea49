#pragma once
// LibTorch helpers shared by the trainer's tests, the Lightning bridge's tests and the benchmarks: small data, a
// small module and quiet trainer options. Header-only; only torch-enabled builds include it.

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/files.hpp"
#include "lamin/pl/data.hpp"
#include "lamin/pl/module.hpp"
#include "lamin/pl/trainer.hpp"

namespace lamin::test {

/// y = 2·x0 − x1 + 0.5 for `n` random rows of 2 features, deterministic for a seed.
inline std::pair<torch::Tensor, torch::Tensor> regression_data(std::int64_t n = 32, std::uint64_t seed = 7) {
  torch::manual_seed(seed);
  auto x = torch::randn({n, 2});
  auto y = (x.select(1, 0) * 2 - x.select(1, 1) + 0.5).unsqueeze(1);
  return {x, y};
}

/// `rows` random inputs of `features` columns and random one-column targets (after torch::manual_seed(seed)), in
/// batches of `batch_size`.
inline lamin::pl::DataLoader random_dataloader(std::int64_t rows, std::int64_t features, std::int64_t batch_size,
                                               std::uint64_t seed = 0) {
  torch::manual_seed(seed);
  return lamin::pl::DataLoader::from_tensors(torch::randn({rows, features}), torch::randn({rows, 1}), batch_size);
}

/// A linear regression module named like Lightning's BoringModel (`layer.weight`, `layer.bias`), logging
/// `train_loss` (step and epoch) and `val_loss`.
struct LinearModule : lamin::pl::LightningModule {
  torch::nn::Linear layer{nullptr};
  double lr = 0.1;
  bool use_adam = false;
  bool use_step_lr = false;

  LinearModule() { layer = register_module("layer", torch::nn::Linear(2, 1)); }
  explicit LinearModule(const nlohmann::json& hparams) : LinearModule() {
    lr = hparams.value("lr", 0.1);
    save_hyperparameters(hparams);
  }

  torch::Tensor training_step(const lamin::pl::Batch& batch, std::int64_t) override {
    auto loss = torch::mse_loss(layer->forward(batch.data), batch.target);
    log("train_loss", loss, lamin::pl::LogOptions().on_step(true).on_epoch(true).prog_bar(true));
    return loss;
  }
  void validation_step(const lamin::pl::Batch& batch, std::int64_t) override {
    log("val_loss", torch::mse_loss(layer->forward(batch.data), batch.target));
  }
  lamin::pl::OptimizerConfig configure_optimizers() override {
    std::shared_ptr<torch::optim::Optimizer> opt;
    if (use_adam) {
      opt = std::make_shared<torch::optim::Adam>(parameters(), torch::optim::AdamOptions(lr));
    } else {
      opt = std::make_shared<torch::optim::SGD>(parameters(), torch::optim::SGDOptions(lr).momentum(0.9));
    }
    if (!use_step_lr) return opt;
    lamin::pl::SchedulerConfig sched;
    sched.scheduler = std::make_shared<lamin::pl::StepLR>(*opt, 1, 0.5);
    return {opt, sched};
  }
};

/// Trainer options for quiet, deterministic tests: CPU, no progress bar, no default logger, no sanity check and no
/// default checkpoint (a test that passes a ModelCheckpoint adds `.enable_checkpointing(true)`).
inline lamin::pl::TrainerOptions quiet_options(const std::string& root) {
  return lamin::pl::TrainerOptions()
      .default_root_dir(root)
      .accelerator("cpu")
      .enable_progress_bar(false)
      .enable_checkpointing(false)
      .logger(false)
      .num_sanity_val_steps(0);
}

}  // namespace lamin::test
