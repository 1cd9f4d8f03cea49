// Measures, in one run on the same machine:
//  1. the trainer's per-step overhead: Trainer::fit against a hand-written LibTorch loop (same model, data,
//     optimizer, and the same per-step loss logging), as a ratio of median times;
//  2. checkpoint write throughput: Trainer::save_checkpoint (atomic, fsynced, Lightning's dict) against
//     torch::save of the same tensors (no fsync), as a ratio.
//
//   bench_trainer [--steps N] [--repeats R] [--ckpt-mb MB]

#include <fcntl.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "common/files.hpp"
#include "common/torch/training.hpp"
#include "lamin/pl/checkpoint_io.hpp"
#include "lamin/pl/trainer.hpp"

namespace pl = lamin::pl;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

torch::nn::Sequential make_net(std::int64_t width) {
  return torch::nn::Sequential(torch::nn::Linear(32, width), torch::nn::ReLU(), torch::nn::Linear(width, 1));
}

struct BenchModule : pl::LightningModule {
  torch::nn::Sequential net{nullptr};
  explicit BenchModule(std::int64_t width) { net = register_module("net", make_net(width)); }
  torch::Tensor training_step(const pl::Batch& b, std::int64_t) override {
    auto loss = torch::mse_loss(net->forward(b.data), b.target);
    log("train_loss", loss);
    return loss;
  }
  pl::OptimizerConfig configure_optimizers() override {
    return std::make_shared<torch::optim::SGD>(parameters(), torch::optim::SGDOptions(0.01));
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

int main(int argc, char** argv) {
  std::int64_t steps = 3000, repeats = 7, ckpt_mb = 256;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--steps")) steps = std::atoll(argv[i + 1]);
    if (!std::strcmp(argv[i], "--repeats")) repeats = std::atoll(argv[i + 1]);
    if (!std::strcmp(argv[i], "--ckpt-mb")) ckpt_mb = std::atoll(argv[i + 1]);
  }
  torch::set_num_threads(1);
  const std::int64_t batch = 32, width = 64;
  torch::manual_seed(0);
  auto x = torch::randn({steps * batch, 32});
  auto y = torch::randn({steps * batch, 1});
  const lamin::test::TempDir scratch("bench_trainer");
  const fs::path root = scratch.path();

  // ---- 1. per-step overhead --------------------------------------------------------------------------------------
  std::vector<double> manual, trainer_times;
  for (std::int64_t r = 0; r < repeats; ++r) {
    {
      torch::manual_seed(1);
      auto net = make_net(width);
      torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.01));
      float last = 0;
      const auto t0 = Clock::now();
      for (std::int64_t s = 0; s < steps; ++s) {
        auto xb = x.narrow(0, s * batch, batch), yb = y.narrow(0, s * batch, batch);
        auto loss = torch::mse_loss(net->forward(xb), yb);
        opt.zero_grad();
        loss.backward();
        opt.step();
        last = loss.detach().item<float>();  // the value a logger would record
      }
      manual.push_back(seconds_since(t0));
      (void)last;
    }
    {
      torch::manual_seed(1);
      BenchModule module(width);
      pl::Trainer trainer(lamin::test::quiet_options(root.string()).max_epochs(1));
      auto loader = pl::DataLoader::from_tensors(x, y, batch);
      const auto t0 = Clock::now();
      trainer.fit(module, loader);
      trainer_times.push_back(seconds_since(t0));
    }
  }
  const double m = median(manual), t = median(trainer_times);
  std::printf("per-step: hand-written loop %.2f us, Trainer::fit %.2f us, overhead %+.2f%% (%lld steps, median of %lld)\n",
              1e6 * m / steps, 1e6 * t / steps, 100.0 * (t / m - 1.0), static_cast<long long>(steps),
              static_cast<long long>(repeats));

  // ---- 2. checkpoint throughput ----------------------------------------------------------------------------------
  const std::int64_t floats = ckpt_mb * 1024 * 1024 / 4;
  auto big = torch::nn::Linear(1024, floats / 1024);
  std::vector<torch::Tensor> tensors;
  for (auto& p : big->parameters()) tensors.push_back(p.detach());
  std::vector<double> base, base_synced, ours;
  for (int r = 0; r < 3; ++r) {
    const auto t0 = Clock::now();
    torch::save(tensors, (root / "plain.pt").string());
    base.push_back(seconds_since(t0));
    const auto ts = Clock::now();
    torch::save(tensors, (root / "synced.pt").string());
    const int fd = ::open((root / "synced.pt").c_str(), O_RDONLY);
    ::fsync(fd);
    ::close(fd);
    base_synced.push_back(seconds_since(ts));
    pl::CheckpointDict ckpt = pl::make_checkpoint_dict();
    c10::impl::GenericDict state(c10::StringType::get(), c10::TensorType::get());
    state.insert("layer.weight", tensors[0]);
    state.insert("layer.bias", tensors[1]);
    ckpt.insert("state_dict", state);
    ckpt.insert("epoch", std::int64_t{0});
    const auto t1 = Clock::now();
    pl::save_checkpoint_file(ckpt, (root / "lamin.ckpt").string());
    ours.push_back(seconds_since(t1));
  }
  const double mb = static_cast<double>(floats) * 4 / (1024.0 * 1024.0);
  std::printf("checkpoint %.0f MiB: torch::save %.0f MiB/s, torch::save + fsync %.0f MiB/s, lamin (atomic + fsync) "
              "%.0f MiB/s; time ratio vs torch::save %.3f, vs torch::save + fsync %.3f\n",
              mb, mb / median(base), mb / median(base_synced), mb / median(ours), median(ours) / median(base),
              median(ours) / median(base_synced));
  return 0;
}
