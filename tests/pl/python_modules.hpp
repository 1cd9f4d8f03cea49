#pragma once
// What the tests of checkpoints Python wrote share: the fixture folder and Lightning's view of
// `torch.nn.Sequential(Linear(3, 2), BatchNorm1d(2))`, the module the fixtures saved.

#include <torch/torch.h>

#include <string>
#include <tuple>

#include <nlohmann/json.hpp>

#include "core/pickle_fixtures.hpp"
#include "lamin/pl/module.hpp"

namespace python_modules {

inline std::string fixture(const std::string& name) { return (pickle_fixtures::torch_fixtures() / name).string(); }

struct SequentialModule : lamin::pl::LightningModule {
  explicit SequentialModule(const nlohmann::json& hp = nlohmann::json::object()) : given(hp) {
    linear = register_module("0", torch::nn::Linear(3, 2));
    norm = register_module("1", torch::nn::BatchNorm1d(2));
  }
  torch::Tensor training_step(const lamin::pl::Batch& b, std::int64_t) override {
    return torch::mse_loss(norm->forward(linear->forward(b.data)).sum(1, true), b.target);
  }
  lamin::pl::OptimizerConfig configure_optimizers() override {
    return std::shared_ptr<torch::optim::Optimizer>(std::make_shared<torch::optim::Adam>(
        parameters(), torch::optim::AdamOptions(lr).betas(betas)));
  }
  double lr = 0.01;
  std::tuple<double, double> betas{0.8, 0.99};
  nlohmann::json given;
  torch::nn::Linear linear{nullptr};
  torch::nn::BatchNorm1d norm{nullptr};
};

}  // namespace python_modules
