// Loss scaling for "16-mixed" (torch.amp.GradScaler's rules, as Lightning's MixedPrecision plugin applies them):
// the scaler itself on CPU, and the trainer's use of it on CUDA (skipped without a device). On CPU, "16-mixed"
// becomes "bf16-mixed", as in Lightning.
#include <torch/torch.h>

#include <limits>
#include <string>

#include <gtest/gtest.h>

#include "common/torch/training.hpp"
#include "lamin/error.hpp"
#include "lamin/pl/checkpoint_io.hpp"
#include "pl/grad_scaler.hpp"

namespace {

using lamin::pl::detail::GradScaler;
using namespace lamin::test;

struct Net {
  torch::nn::Linear layer{2, 1};
  std::shared_ptr<torch::optim::SGD> sgd =
      std::make_shared<torch::optim::SGD>(layer->parameters(), torch::optim::SGDOptions(0.1));
  torch::Tensor loss() {
    torch::manual_seed(3);
    return torch::mse_loss(layer->forward(torch::randn({8, 2})), torch::randn({8, 1}));
  }
};

std::string message(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

TEST(GradScaler, ScalesTheLossAndStepsOnTheTrueGradients) {
  Net plain, scaled;
  {
    torch::NoGradGuard no_grad;
    scaled.layer->weight.copy_(plain.layer->weight);
    scaled.layer->bias.copy_(plain.layer->bias);
  }
  GradScaler scaler;
  EXPECT_EQ(scaler.get_scale(), 65536.0f);

  plain.loss().backward();
  const torch::Tensor loss = scaled.loss();
  const torch::Tensor s = scaler.scale(loss);
  EXPECT_TRUE(torch::allclose(s, loss * 65536.0));
  s.backward();
  EXPECT_TRUE(torch::allclose(scaled.layer->weight.grad(), plain.layer->weight.grad() * 65536.0));
  scaler.unscale(*scaled.sgd);
  EXPECT_TRUE(torch::allclose(scaled.layer->weight.grad(), plain.layer->weight.grad()));
  EXPECT_TRUE(scaler.step(*scaled.sgd));
  plain.sgd->step();
  EXPECT_TRUE(torch::allclose(scaled.layer->weight, plain.layer->weight));
  EXPECT_TRUE(torch::allclose(scaled.layer->bias, plain.layer->bias));
  scaler.update();
  EXPECT_EQ(scaler.get_scale(), 65536.0f);
  EXPECT_EQ(scaler.growth_tracker(), 1);
}

TEST(GradScaler, AStepWithAnInfOrNanGradientIsSkippedAndHalvesTheScale) {
  for (const double bad : {std::numeric_limits<double>::infinity(), std::nan("")}) {
    Net net;
    GradScaler scaler;
    scaler.scale(net.loss()).backward();
    net.layer->bias.grad().fill_(bad);
    const torch::Tensor before = net.layer->weight.detach().clone();
    EXPECT_FALSE(scaler.step(*net.sgd));  // unscales first, finds the bad gradient, does not step
    EXPECT_TRUE(torch::equal(net.layer->weight, before));
    scaler.update();
    EXPECT_EQ(scaler.get_scale(), 32768.0f);
    EXPECT_EQ(scaler.growth_tracker(), 0);
  }
}

TEST(GradScaler, TheScaleDoublesAfterTwoThousandGoodStepsInARow) {
  Net net;
  GradScaler scaler;
  scaler.load_state_dict([] {
    c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
    d.insert("scale", 1024.0);
    d.insert("growth_factor", 2.0);
    d.insert("backoff_factor", 0.5);
    d.insert("growth_interval", std::int64_t{2000});
    d.insert("_growth_tracker", std::int64_t{1998});
    return d;
  }());
  for (int i = 0; i < 2; ++i) {
    net.sgd->zero_grad();
    scaler.scale(net.loss()).backward();
    EXPECT_TRUE(scaler.step(*net.sgd));
    scaler.update();
  }
  EXPECT_EQ(scaler.get_scale(), 2048.0f);  // the 2,000th good step
  EXPECT_EQ(scaler.growth_tracker(), 0);
}

TEST(GradScaler, StateDictIsTorchsAndMisuseIsAnError) {
  GradScaler scaler;
  const auto state = scaler.state_dict().toGenericDict();
  EXPECT_EQ(state.size(), 5u);
  EXPECT_EQ(state.at("scale").toDouble(), 65536.0);
  EXPECT_EQ(state.at("growth_factor").toDouble(), 2.0);
  EXPECT_EQ(state.at("backoff_factor").toDouble(), 0.5);
  EXPECT_EQ(state.at("growth_interval").toInt(), 2000);
  EXPECT_EQ(state.at("_growth_tracker").toInt(), 0);
  EXPECT_EQ(message([&] { scaler.load_state_dict(c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get())); }),
            "The source state dict is empty, possibly because it was saved from a disabled instance of GradScaler.");

  Net net;
  EXPECT_EQ(message([&] { scaler.update(); }), "No inf checks were recorded prior to update.");
  scaler.scale(net.loss()).backward();
  scaler.unscale(*net.sgd);
  EXPECT_EQ(message([&] { scaler.unscale(*net.sgd); }),
            "unscale_() has already been called on this optimizer since the last update().");
  scaler.step(*net.sgd);
  EXPECT_EQ(message([&] { scaler.step(*net.sgd); }), "step() has already been called since the last update().");
  EXPECT_EQ(message([&] { scaler.unscale(*net.sgd); }), "unscale_() is being called after step().");
  scaler.update();

  Net half;
  half.layer->to(torch::kHalf);
  half.layer->weight.mutable_grad() = torch::ones_like(half.layer->weight);
  EXPECT_EQ(message([&] { scaler.unscale(*half.sgd); }), "Attempting to unscale FP16 gradients.");
}

TEST(GradScaler, SixteenMixedOnCpuTrainsAsBf16Mixed) {
  TempDir root("scaler_cpu");
  auto [x, y] = regression_data(8);
  LinearModule module;
  lamin::pl::Trainer trainer(quiet_options(root.str()).max_epochs(1).precision("16-mixed"));
  trainer.fit(module, lamin::pl::DataLoader::from_tensors(x, y, 4));
  EXPECT_EQ(trainer.options().precision(), "bf16-mixed");
  trainer.save_checkpoint((root / "a.ckpt").string());
  EXPECT_FALSE(lamin::pl::load_checkpoint_file((root / "a.ckpt").string()).contains("MixedPrecision"));
}

// On CUDA: the loss is scaled, a step with an inf gradient is skipped (the weights stay, the scale halves, the step
// still counts), and the scaler's state is saved and restored with the checkpoint.
struct InfOnSecondStep : LinearModule {
  std::vector<float> scales_seen;
  void on_after_backward() override {
    if (trainer().global_step() == 1) layer->bias.mutable_grad().fill_(std::numeric_limits<float>::infinity());
  }
  void on_before_optimizer_step(torch::optim::Optimizer&) override {
    before_step = layer->weight.detach().clone();
  }
  torch::Tensor before_step;
};

TEST(GradScaler, TrainerSkipsInfStepsOnCudaAndCheckpointsTheScale) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  TempDir root("scaler_cuda");
  auto [x, y] = regression_data(8);
  InfOnSecondStep module;
  module.lr = 0.01;
  lamin::pl::Trainer trainer(quiet_options(root.str()).accelerator("cuda").max_steps(2).precision("16-mixed"));
  trainer.fit(module, lamin::pl::DataLoader::from_tensors(x, y, 4));
  EXPECT_EQ(trainer.global_step(), 2);
  EXPECT_TRUE(torch::equal(module.layer->weight, module.before_step));  // the second step was skipped
  const std::string path = (root / "a.ckpt").string();
  trainer.save_checkpoint(path);
  const auto ckpt = lamin::pl::load_checkpoint_file(path);
  ASSERT_TRUE(ckpt.contains("MixedPrecision"));
  const auto state = ckpt.at("MixedPrecision").toGenericDict();
  EXPECT_EQ(state.at("scale").toDouble(), 32768.0);
  EXPECT_EQ(state.at("_growth_tracker").toInt(), 0);

  InfOnSecondStep resumed;
  lamin::pl::Trainer again(quiet_options(root.str()).accelerator("cuda").max_steps(3).precision("16-mixed"));
  again.fit(resumed, lamin::pl::DataLoader::from_tensors(x, y, 4), {}, path);
  again.save_checkpoint(path);
  const auto after = lamin::pl::load_checkpoint_file(path).at("MixedPrecision").toGenericDict();
  EXPECT_EQ(after.at("scale").toDouble(), 32768.0);  // restored, then one good step
  EXPECT_EQ(after.at("_growth_tracker").toInt(), 1);
}

}  // namespace
