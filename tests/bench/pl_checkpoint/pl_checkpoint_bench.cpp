// ModelCheckpoint's per-step decision cost, measured against a run without a checkpoint callback in the same process.
// See README.md.

#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/files.hpp"
#include "common/torch/training.hpp"
#include "lamin/log.hpp"
#include "lamin/pl/model_checkpoint.hpp"
#include "lamin/pl/module.hpp"
#include "lamin/pl/trainer.hpp"

namespace fs = std::filesystem;
namespace pl = lamin::pl;
using Clock = std::chrono::steady_clock;

namespace {

struct Trivial : pl::LightningModule {
  torch::nn::Linear layer{nullptr};
  Trivial() { layer = register_module("layer", torch::nn::Linear(1, 1)); }
  torch::Tensor training_step(const pl::Batch& batch, std::int64_t) override {
    auto loss = torch::mse_loss(layer->forward(batch.data), batch.target);
    log("loss", 1000.0 - static_cast<double>(trainer().global_step()), pl::LogOptions().on_step(true));
    return loss;
  }
  pl::OptimizerConfig configure_optimizers() override {
    return std::shared_ptr<torch::optim::Optimizer>(
        std::make_shared<torch::optim::SGD>(parameters(), torch::optim::SGDOptions(0.0)));
  }
};

/// Records paths instead of writing files, and times the hooks that decide.
class TimedCheckpoint : public pl::ModelCheckpoint {
 public:
  TimedCheckpoint(pl::ModelCheckpointOptions o, bool write) : ModelCheckpoint(std::move(o)), write_(write) {}
  double hook_seconds = 0.0;
  std::size_t saves = 0;

  void on_train_batch_end(pl::Trainer& t, pl::LightningModule& m, const pl::StepOutput& out, const pl::Batch& b,
                          std::int64_t i) override {
    const auto start = Clock::now();
    ModelCheckpoint::on_train_batch_end(t, m, out, b, i);
    hook_seconds += std::chrono::duration<double>(Clock::now() - start).count();
  }
  void on_train_epoch_end(pl::Trainer& t, pl::LightningModule& m) override {
    const auto start = Clock::now();
    ModelCheckpoint::on_train_epoch_end(t, m);
    hook_seconds += std::chrono::duration<double>(Clock::now() - start).count();
  }
  void _save_checkpoint(pl::Trainer& trainer, const std::string& filepath) override {
    ++saves;
    if (write_) {
      ModelCheckpoint::_save_checkpoint(trainer, filepath);
    } else {
      paths_.push_back(filepath);
      mark_checkpoint_saved(trainer, filepath);
    }
  }

 private:
  bool write_;
  std::vector<std::string> paths_;
};

struct Result {
  double seconds = 0.0;
  double hook_seconds = 0.0;
  std::size_t saves = 0;
};

Result run(std::int64_t steps, const std::string& dir, std::shared_ptr<TimedCheckpoint> checkpoint) {
  auto module = std::make_shared<Trivial>();
  auto options = lamin::test::quiet_options(dir).max_epochs(1).enable_checkpointing(checkpoint != nullptr);
  if (checkpoint) options.callbacks({checkpoint});
  pl::Trainer trainer(options);
  auto data = pl::DataLoader::from_tensors(torch::ones({steps, 1}), torch::zeros({steps, 1}), 1);
  const auto start = Clock::now();
  trainer.fit(*module, data);
  Result r;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (checkpoint) {
    r.hook_seconds = checkpoint->hook_seconds;
    r.saves = checkpoint->saves;
  }
  return r;
}

pl::ModelCheckpointOptions options(const std::string& dir, bool every_step) {
  auto o = pl::ModelCheckpointOptions().dirpath(dir).monitor("loss").save_top_k(-1);
  if (every_step) o.every_n_train_steps(1);
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t steps = argc > 1 ? std::atoll(argv[1]) : 10000;
  torch::set_num_threads(1);
  lamin::log::set_level(lamin::log::Level::error);
  const lamin::test::TempDir scratch("bench_ckpt");
  const std::string root = scratch.str();

  const int repeats = 3;
  Result base{1e30}, epoch{1e30}, every{1e30};
  for (int r = 0; r < repeats; ++r) {
    const std::string d = root + "/r" + std::to_string(r);
    Result b = run(steps, d + "/base", nullptr);
    Result e = run(steps, d + "/epoch", std::make_shared<TimedCheckpoint>(options(d + "/epoch/ckpts", false), false));
    Result s = run(steps, d + "/every", std::make_shared<TimedCheckpoint>(options(d + "/every/ckpts", true), false));
    if (b.seconds < base.seconds) base = b;
    if (e.seconds < epoch.seconds) epoch = e;
    if (s.seconds < every.seconds) every = s;
  }
  const std::int64_t write_steps = std::min<std::int64_t>(steps, 200);
  Result written =
      run(write_steps, root + "/write", std::make_shared<TimedCheckpoint>(options(root + "/write/ckpts", true), true));

  const double n = static_cast<double>(steps);
  std::printf("ModelCheckpoint(monitor=\"loss\", save_top_k=-1), %lld steps of a one-weight model, best of %d runs\n",
              static_cast<long long>(steps), repeats);
  std::printf("  no checkpoint callback:           %8.2f us/step\n", base.seconds / n * 1e6);
  std::printf("  default trigger (epoch end):      %8.2f us/step  (hooks %.3f us/step, %zu saves, +%.2f us/step vs none)\n",
              epoch.seconds / n * 1e6, epoch.hook_seconds / n * 1e6, epoch.saves,
              (epoch.seconds - base.seconds) / n * 1e6);
  std::printf("  every_n_train_steps=1, no writes: %8.2f us/step  (hooks %.2f us/step, %zu saves, +%.2f us/step vs none)\n",
              every.seconds / n * 1e6, every.hook_seconds / n * 1e6, every.saves,
              (every.seconds - base.seconds) / n * 1e6);
  std::printf("  with real checkpoint files (%lld steps): %.1f us/step in the hooks (the file write dominates)\n",
              static_cast<long long>(write_steps), written.hook_seconds / static_cast<double>(write_steps) * 1e6);
  return 0;
}
