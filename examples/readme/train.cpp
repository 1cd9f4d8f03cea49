// The README's training example (lamin::pl), compiled so that it keeps compiling. The part between the markers is
// copied byte for byte into README.md; tests/readme/check_snippets.cmake checks that it still is.
//
//   readme_train [ROOT_DIR]      (default: ./readme_runs)

// [readme]
#include <torch/torch.h>
#include <lamin/pl.hpp>
namespace pl = lamin::pl;

struct Regressor : pl::LightningModule {
  torch::nn::Linear layer{nullptr};
  explicit Regressor(const nlohmann::json& hparams) {
    layer = register_module("layer", torch::nn::Linear(2, 1));
    save_hyperparameters(hparams);  // -> checkpoint["hyper_parameters"], hparams.yaml
  }
  torch::Tensor training_step(const pl::Batch& batch, std::int64_t) override {
    auto loss = torch::mse_loss(layer->forward(batch.data), batch.target);
    log("train_loss", loss, pl::LogOptions().on_step(true).on_epoch(true).prog_bar(true));
    return loss;
  }
  void validation_step(const pl::Batch& batch, std::int64_t) override {
    log("val_loss", torch::mse_loss(layer->forward(batch.data), batch.target));
  }
  pl::OptimizerConfig configure_optimizers() override {
    return std::make_shared<torch::optim::Adam>(parameters(), torch::optim::AdamOptions(hparams()["lr"]));
  }
};

std::shared_ptr<Regressor> train(const std::string& root, pl::DataLoader train_data, pl::DataLoader val_data) {
  Regressor model(nlohmann::json{{"lr", 0.01}});
  auto ckpt = std::make_shared<pl::ModelCheckpoint>(
      pl::ModelCheckpointOptions().monitor("val_loss").save_top_k(2).save_last(true));
  pl::Trainer trainer(pl::TrainerOptions().max_epochs(10).default_root_dir(root)
                          .logger(std::make_shared<pl::TensorBoardLogger>(root))
                          .callbacks({ckpt, std::make_shared<pl::EarlyStopping>("val_loss")}));
  trainer.fit(model, train_data, val_data);
  return pl::LightningModule::load_from_checkpoint<Regressor>(ckpt->best_model_path(), torch::kCPU);
}
// [/readme]

// [readme]
std::shared_ptr<Regressor> from_python(const std::string& lightning_ckpt, torch::Device device) {
  // Lightning's strict=False: entries the checkpoint has and Regressor lacks are skipped, with a warning.
  return pl::LightningModule::load_from_checkpoint<Regressor>(
      lightning_ckpt, pl::LoadOptions().map_location(device).strict(false));
}
// [/readme]

#include <cstdio>

int main(int argc, char** argv) {
  const std::string root = argc > 1 ? argv[1] : "readme_runs";
  torch::manual_seed(0);
  auto x = torch::randn({320, 2});
  auto y = (2 * x.select(1, 0) - x.select(1, 1) + 0.1 * torch::randn({320})).unsqueeze(1);
  auto best = train(root, pl::DataLoader::from_tensors(x.slice(0, 0, 256), y.slice(0, 0, 256), 64),
                    pl::DataLoader::from_tensors(x.slice(0, 256), y.slice(0, 256), 64));
  std::printf("best checkpoint reloaded, hparams %s\n", best->hparams().dump().c_str());
  return 0;
}
