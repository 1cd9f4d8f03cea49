#pragma once
// A tiny regression module and data shared by the lamin::lightning examples.

#include <torch/torch.h>

#include <lamin/lamin.hpp>
#include <lamin/lightning.hpp>

namespace example {

namespace pl = lamin::pl;

/// y = 2·x0 − x1 + noise; 256 training and 64 validation rows.
inline std::pair<pl::DataLoader, pl::DataLoader> make_loaders() {
  torch::manual_seed(0);
  auto x = torch::randn({320, 2});
  auto y = (2 * x.select(1, 0) - x.select(1, 1) + 0.1 * torch::randn({320})).unsqueeze(1);
  return {pl::DataLoader::from_tensors(x.slice(0, 0, 256), y.slice(0, 0, 256), 32),
          pl::DataLoader::from_tensors(x.slice(0, 256), y.slice(0, 256), 32)};
}

struct Regressor : pl::LightningModule {
  torch::nn::Linear layer{nullptr};
  explicit Regressor(const nlohmann::json& hparams) {
    layer = register_module("layer", torch::nn::Linear(2, 1));
    save_hyperparameters(hparams);
  }
  torch::Tensor training_step(const pl::Batch& batch, std::int64_t) override {
    auto loss = torch::mse_loss(layer->forward(batch.data), batch.target);
    log("train_loss", loss);
    return loss;
  }
  void validation_step(const pl::Batch& batch, std::int64_t) override {
    log("val_loss", torch::mse_loss(layer->forward(batch.data), batch.target));
  }
  pl::OptimizerConfig configure_optimizers() override {
    return std::make_shared<torch::optim::SGD>(parameters(), torch::optim::SGDOptions(hparams()["lr"].get<double>()));
  }
};

inline pl::TrainerOptions quiet(const std::string& root, std::int64_t epochs) {
  return pl::TrainerOptions().default_root_dir(root).accelerator("cpu").enable_progress_bar(false).max_epochs(epochs);
}

}  // namespace example
