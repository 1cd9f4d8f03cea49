// A user's program against the installed package: train one epoch, write a checkpoint, register it.
#include <torch/torch.h>

#include <cstdio>
#include <lamin/lamin.hpp>

struct Tiny : lamin::pl::LightningModule {
  torch::nn::Linear layer{nullptr};
  Tiny() { layer = register_module("layer", torch::nn::Linear(2, 1)); }
  torch::Tensor training_step(const lamin::pl::Batch& b, std::int64_t) override {
    return torch::mse_loss(layer->forward(b.data), b.target);
  }
  lamin::pl::OptimizerConfig configure_optimizers() override {
    return std::make_shared<torch::optim::SGD>(parameters(), torch::optim::SGDOptions(0.1));
  }
};

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "instance";
  Tiny model;
  lamin::pl::Trainer trainer(lamin::pl::TrainerOptions().max_epochs(1).default_root_dir(dir).logger(false)
                                 .enable_progress_bar(false));
  trainer.fit(model, lamin::pl::DataLoader::from_tensors(torch::randn({8, 2}), torch::randn({8, 1}), 4));
  const std::string path = trainer.checkpoint_callback()->best_model_path();
  auto instance = lamin::init(dir);
  auto artifact = instance->create_artifact(path, lamin::ArtifactOptions("models/tiny.ckpt"));
  std::printf("registered %s as %s\n", path.c_str(), artifact.uid.c_str());
  return 0;
}
