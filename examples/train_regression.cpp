// Trains a small MLP on synthetic data with lamin::pl: validation, a TensorBoard logger, early stopping and
// top-k checkpoints; then loads the best checkpoint back for inference.
//
//   train_regression [ROOT_DIR]      (default: ./lightning_runs)

#include <torch/torch.h>

#include <cstdio>
#include <lamin/lamin.hpp>

namespace pl = lamin::pl;

/// y = sin(3·x0) + 0.5·x1² + noise
static std::pair<torch::Tensor, torch::Tensor> make_data(std::int64_t n, std::uint64_t seed) {
  torch::manual_seed(seed);
  auto x = torch::rand({n, 2}) * 2 - 1;
  auto y = torch::sin(3 * x.select(1, 0)) + 0.5 * x.select(1, 1).pow(2) + 0.05 * torch::randn({n});
  return {x, y.unsqueeze(1)};
}

struct Regressor : pl::LightningModule {
  torch::nn::Sequential net{nullptr};

  explicit Regressor(const nlohmann::json& hparams) {
    const int hidden = hparams.value("hidden", 32);
    net = register_module("net", torch::nn::Sequential(torch::nn::Linear(2, hidden), torch::nn::Tanh(),
                                                       torch::nn::Linear(hidden, hidden), torch::nn::Tanh(),
                                                       torch::nn::Linear(hidden, 1)));
    save_hyperparameters(hparams);
  }

  torch::Tensor training_step(const pl::Batch& batch, std::int64_t) override {
    auto loss = torch::mse_loss(net->forward(batch.data), batch.target);
    log("train_loss", loss, pl::LogOptions().on_step(true).on_epoch(true).prog_bar(true));
    return loss;
  }

  void validation_step(const pl::Batch& batch, std::int64_t) override {
    log("val_loss", torch::mse_loss(net->forward(batch.data), batch.target), pl::LogOptions().prog_bar(true));
  }

  pl::OptimizerConfig configure_optimizers() override {
    auto opt = std::make_shared<torch::optim::Adam>(parameters(), torch::optim::AdamOptions(hparams()["lr"]));
    pl::SchedulerConfig sched;
    sched.scheduler = std::make_shared<pl::StepLR>(*opt, /*step_size=*/4, /*gamma=*/0.5);
    return {opt, sched};
  }
};

int main(int argc, char** argv) {
  const std::string root = argc > 1 ? argv[1] : "lightning_runs";
  auto [x_train, y_train] = make_data(4096, 1);
  auto [x_val, y_val] = make_data(1024, 2);

  Regressor model({{"hidden", 32}, {"lr", 0.01}, {"batch_size", 64}});
  auto checkpoint = std::make_shared<pl::ModelCheckpoint>(
      pl::ModelCheckpointOptions().monitor("val_loss").mode("min").save_top_k(2).save_last(true).filename(
          "{epoch}-{val_loss:.4f}"));
  auto early_stopping = std::make_shared<pl::EarlyStopping>("val_loss", /*patience=*/3);

  pl::Trainer trainer(pl::TrainerOptions()
                          .max_epochs(12)
                          .default_root_dir(root)
                          .accelerator("auto")
                          .logger(std::make_shared<pl::TensorBoardLogger>(root))
                          .callbacks({checkpoint, early_stopping}));
  trainer.fit(model, pl::DataLoader::from_tensors(x_train, y_train, 64), pl::DataLoader::from_tensors(x_val, y_val, 256));

  std::printf("log dir:          %s\n", trainer.log_dir().c_str());
  std::printf("epochs run:       %lld (global step %lld)%s\n", static_cast<long long>(trainer.current_epoch()),
              static_cast<long long>(trainer.global_step()), early_stopping->stopped_epoch() > 0 ? ", stopped early" : "");
  std::printf("best checkpoint:  %s (val_loss %.5f)\n", checkpoint->best_model_path().c_str(),
              checkpoint->best_model_score().value_or(0.0));
  std::printf("last checkpoint:  %s\n", checkpoint->last_model_path().c_str());

  // Inference from the best checkpoint, on the CPU whatever device trained it.
  auto best = pl::LightningModule::load_from_checkpoint<Regressor>(checkpoint->best_model_path(), torch::kCPU);
  torch::NoGradGuard no_grad;
  const double mse = torch::mse_loss(best->net->forward(x_val), y_val).item<double>();
  std::printf("reloaded best:    val mse %.5f, hparams %s\n", mse, best->hparams().dump().c_str());
  return 0;
}
