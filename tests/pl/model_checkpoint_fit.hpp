#pragma once
// What the ModelCheckpoint fit tests share: a fresh root folder, a one-weight module whose logging each test scripts,
// a ModelCheckpoint that records every write, removal and link, and short ways to fit and to look at the files.

#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/torch/training.hpp"
#include "lamin/pl/checkpoint_io.hpp"
#include "lamin/pl/model_checkpoint.hpp"
#include "lamin/pl/module.hpp"
#include "lamin/pl/trainer.hpp"

namespace mc_fit {

namespace fs = std::filesystem;
namespace pl = lamin::pl;
using pl::ModelCheckpoint;
using pl::ModelCheckpointOptions;
using Files = std::set<std::string>;

/// A fresh folder whose `/` gives strings, as ModelCheckpoint's paths are.
class Root : public lamin::test::TempDir {
 public:
  Root() : TempDir("mc_fit") {}
  std::string operator/(const std::string& rel) const { return (path() / rel).string(); }
};

/// A one-weight module whose logging is scripted per test.
struct Scripted : pl::LightningModule {
  torch::nn::Linear layer{nullptr};
  std::function<void(Scripted&, std::int64_t)> step_logs;
  std::function<void(Scripted&)> val_logs;
  std::function<void(Scripted&)> epoch_logs;
  std::string raise_in;

  Scripted() { layer = register_module("layer", torch::nn::Linear(1, 1)); }
  // Raises in `raise_in` once an optimizer step was taken (nothing is saved at step 0), or in the sanity check.
  void maybe_raise(const std::string& hook) {
    if (hook == raise_in && (trainer().global_step() > 0 || trainer().sanity_checking())) {
      throw std::runtime_error("planned failure in " + hook);
    }
  }
  torch::Tensor training_step(const pl::Batch& batch, std::int64_t batch_idx) override {
    maybe_raise("training_step");
    if (step_logs) step_logs(*this, batch_idx);
    return torch::mse_loss(layer->forward(batch.data), batch.target);
  }
  void validation_step(const pl::Batch&, std::int64_t) override { maybe_raise("validation_step"); }
  pl::OptimizerConfig configure_optimizers() override {
    return std::shared_ptr<torch::optim::Optimizer>(
        std::make_shared<torch::optim::SGD>(parameters(), torch::optim::SGDOptions(0.01)));
  }
  void on_validation_epoch_end() override {
    maybe_raise("on_validation_epoch_end");
    if (val_logs && !trainer().sanity_checking()) val_logs(*this);
  }
  void on_train_epoch_end() override {
    maybe_raise("on_train_epoch_end");
    if (epoch_logs) epoch_logs(*this);
  }
  void on_validation_start() override { maybe_raise("on_validation_start"); }
  void on_train_batch_end(const at::Tensor&, const pl::Batch&, std::int64_t) override {
    maybe_raise("on_train_batch_end");
  }
  void on_train_end() override { maybe_raise("on_train_end"); }
  void on_fit_end() override { maybe_raise("on_fit_end"); }
};

/// Records every file write, removal and link, in order.
class Recording : public ModelCheckpoint {
 public:
  using ModelCheckpoint::ModelCheckpoint;
  std::vector<std::string> saved, removed, linked;
  void _save_checkpoint(pl::Trainer& trainer, const std::string& filepath) override {
    ModelCheckpoint::_save_checkpoint(trainer, filepath);
    saved.push_back(filepath);
  }
  void _remove_checkpoint(pl::Trainer& trainer, const std::string& filepath) override {
    ModelCheckpoint::_remove_checkpoint(trainer, filepath);
    removed.push_back(filepath);
  }
  void _link_checkpoint(pl::Trainer& trainer, const std::string& filepath, const std::string& linkpath) override {
    ModelCheckpoint::_link_checkpoint(trainer, filepath, linkpath);
    linked.push_back(linkpath);
  }
};

inline pl::DataLoader loader(std::int64_t n) {
  return pl::DataLoader::from_tensors(torch::ones({n, 1}), torch::zeros({n, 1}), 1);
}

inline pl::TrainerOptions base_options(const Root& root, std::int64_t epochs) {
  return lamin::test::quiet_options(root.str()).enable_checkpointing(true).max_epochs(epochs);
}

inline void fit(pl::TrainerOptions options, Scripted& module, std::int64_t n_train, std::int64_t n_val,
         std::optional<std::string> ckpt_path = std::nullopt) {
  pl::Trainer trainer(std::move(options));
  trainer.fit(module, loader(n_train), n_val > 0 ? loader(n_val) : pl::DataLoader{}, std::move(ckpt_path));
}

inline Files files_in(const std::string& dir) {
  Files names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    names.insert(it->path().filename().string());
  }
  return names;
}

inline std::string name_of(const std::string& path) { return fs::path(path).filename().string(); }

inline nlohmann::json callback_state(const std::string& file, const std::string& key) {
  const pl::CheckpointDict ckpt = pl::load_checkpoint_file(file);
  return pl::ivalue_to_json(ckpt.at("callbacks").toGenericDict().at(key));
}

inline void log_f(Scripted& m, const std::string& name, double v, bool on_step = true, bool on_epoch = false) {
  m.log(name, v, pl::LogOptions().on_step(on_step).on_epoch(on_epoch));
}


}  // namespace mc_fit
