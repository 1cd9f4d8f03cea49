#pragma once
// LibTorch helpers of the lamin::lightning tests: LaminDB's test fixtures (SimpleModel, a 100-sample dataloader
// with 10 batches per epoch and no validation, a dirpath per test, a fresh SQLite instance) over a real Trainer, and
// an observer that records every artifact event. Header-only; only torch-enabled builds include it.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/files.hpp"
#include "common/torch/training.hpp"
#include "lamin/db.hpp"
#include "lamin/lightning.hpp"
#include "lamin/log.hpp"
#include "lamin/pl/csv_logger.hpp"
#include "lamin/pl/trainer.hpp"

namespace lamin::test {

namespace ll = lamin::lightning;
namespace pl = lamin::pl;
using json = nlohmann::json;

/// LaminDB's SimpleModel: Linear(10 -> 1), logs `train_loss` every step, Adam.
struct SimpleModel : pl::LightningModule {
  torch::nn::Linear layer{nullptr};
  double fixed_loss = 0.0;  // when set: the logged loss is this value (e.g. NaN)
  bool use_fixed = false;

  SimpleModel() { layer = register_module("layer", torch::nn::Linear(10, 1)); }
  explicit SimpleModel(const json& hparams) : SimpleModel() { save_hyperparameters(hparams); }

  torch::Tensor training_step(const pl::Batch& batch, std::int64_t) override {
    auto loss = torch::mse_loss(layer->forward(batch.data), batch.target);
    if (use_fixed) {
      log("train_loss", fixed_loss);
    } else {
      log("train_loss", loss);
    }
    return loss;
  }
  pl::OptimizerConfig configure_optimizers() override {
    return std::make_shared<torch::optim::Adam>(parameters(), torch::optim::AdamOptions(1e-2));
  }
};

/// 100 random samples, batches of 10.
inline pl::DataLoader simple_dataloader(std::uint64_t seed = 0) { return random_dataloader(100, 10, 10, seed); }

/// A DataModule with hyperparameters.
struct HparamsDataModule : pl::LightningDataModule {
  explicit HparamsDataModule(const json& hp) { save_hyperparameters(hp); }
  pl::DataLoader train_dataloader() override { return simple_dataloader(); }
};

/// A fresh instance and folders per test; any tracked run is finished at the end.
class LightningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info->test_suite_name()) + "." + info->name();
    for (auto& c : name)
      if (c == '/') c = '_';
    tmp = std::make_unique<TempDir>("ll");
    instance = lamin::init(tmp->path() / "instance");
    // LaminDB's fixture: "lightning_checkpoints/<test name>/" (absolute here, trailing slash kept).
    dirpath = (tmp->path() / "lightning_checkpoints" / name).string() + "/";
    root = (tmp->path() / "root").string();
    std::filesystem::create_directories(root);
  }
  void TearDown() override {
    if (lamin::context().run()) lamin::finish();
  }

  /// dirpath without its trailing slash (what keys start with).
  std::string dirpath_stripped() const { return dirpath.substr(0, dirpath.size() - 1); }
  /// `Path(tmp).name`.
  std::string tmp_name() const { return tmp->path().filename().string(); }

  void lightning_features() { ll::save_lightning_features(instance); }

  /// quiet_options in `root` with checkpointing on (the tests pass their own checkpoint callbacks).
  pl::TrainerOptions trainer_options(std::int64_t max_epochs) const {
    return quiet_options(root).enable_checkpointing(true).max_epochs(max_epochs);
  }

  /// Trains SimpleModel (or `model`) with the callbacks.
  void fit(std::vector<std::shared_ptr<pl::Callback>> callbacks, std::int64_t max_epochs,
           std::shared_ptr<pl::Logger> logger = nullptr, pl::LightningModule* model = nullptr) {
    auto opts = trainer_options(max_epochs).callbacks(std::move(callbacks));
    if (logger) opts.logger(logger);
    pl::Trainer trainer(opts);
    SimpleModel fallback;
    trainer.fit(model ? *model : fallback, simple_dataloader());
  }

  std::vector<lamin::Artifact> under(const std::string& prefix) const {
    return instance->artifacts().key_startswith(prefix + "/").all();
  }
  std::vector<lamin::Artifact> checkpoints_under(const std::string& prefix) const {
    return instance->artifacts().key_startswith(prefix + "/").kind("model").all();
  }
  /// The `lamindb.lightning` feature type (find_feature skips types, so from the list).
  lamin::Feature lightning_type() const {
    for (const auto& f : instance->features())
      if (f.is_type && f.name == ll::kLightningFeatureType) return f;
    throw lamin::NotFoundError("no lamindb.lightning feature type");
  }
  lamin::Feature lightning_feature(const std::string& name) const {
    auto f = instance->find_feature(name, lightning_type());
    if (!f) throw lamin::NotFoundError("no lamindb.lightning feature " + name);
    return *f;
  }

  std::unique_ptr<TempDir> tmp;
  lamin::Instance instance;
  std::string dirpath;
  std::string root;
};

/// Records every event it sees.
struct RecordingObserver : ll::ArtifactObserver {
  std::vector<std::shared_ptr<ll::ArtifactEvent>> events;
  void on_artifact_saved(const ll::ArtifactSavedEvent& e) override {
    events.push_back(std::make_shared<ll::ArtifactSavedEvent>(e));
  }
  void on_artifact_removed(const ll::ArtifactRemovedEvent& e) override {
    events.push_back(std::make_shared<ll::ArtifactRemovedEvent>(e));
  }
  std::vector<std::string> kinds() const {
    std::vector<std::string> k;
    for (const auto& e : events) k.push_back(e->kind);
    return k;
  }
  std::shared_ptr<ll::ArtifactEvent> first_of(const std::string& kind) const {
    for (const auto& e : events)
      if (e->kind == kind && !e->removed()) return e;
    return nullptr;
  }
};

}  // namespace lamin::test
