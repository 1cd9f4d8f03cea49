#pragma once
// Small modules, data and folders shared by the trainer tests.

#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "lamin/pl/module.hpp"
#include "common/temp_dir.hpp"
#include "lamin/pl/trainer.hpp"

namespace lamin_test {

namespace fs = std::filesystem;

using lamin_test::TempDir;

/// y = 2·x0 − x1 + 0.5, 32 rows, deterministic.
inline std::pair<torch::Tensor, torch::Tensor> regression_data(std::int64_t n = 32, std::uint64_t seed = 7) {
  torch::manual_seed(seed);
  auto x = torch::randn({n, 2});
  auto y = (x.select(1, 0) * 2 - x.select(1, 1) + 0.5).unsqueeze(1);
  return {x, y};
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

/// Trainer options for quiet, deterministic tests: no progress bar, no default logger or checkpoint.
inline lamin::pl::TrainerOptions quiet_options(const std::string& root) {
  return lamin::pl::TrainerOptions()
      .default_root_dir(root)
      .accelerator("cpu")
      .enable_progress_bar(false)
      .enable_checkpointing(false)
      .logger(false)
      .num_sanity_val_steps(0);
}

}  // namespace lamin_test
