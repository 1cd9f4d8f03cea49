// ModelCheckpoint inside real Trainer::fit runs: Lightning's behavioural tests of spec section 6.A (items 9-56) on
// real files, plus the early failure for an unwritable dirpath.

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/torch/training.hpp"
#include "lamin/error.hpp"
#include "lamin/log.hpp"
#include "lamin/pl/checkpoint_io.hpp"
#include "lamin/pl/model_checkpoint.hpp"
#include "lamin/pl/module.hpp"
#include "lamin/pl/trainer.hpp"

namespace fs = std::filesystem;
namespace pl = lamin::pl;
using pl::ModelCheckpoint;
using pl::ModelCheckpointOptions;
using Files = std::set<std::string>;

namespace {

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

pl::DataLoader loader(std::int64_t n) {
  return pl::DataLoader::from_tensors(torch::ones({n, 1}), torch::zeros({n, 1}), 1);
}

pl::TrainerOptions base_options(const Root& root, std::int64_t epochs) {
  return lamin::test::quiet_options(root.str()).enable_checkpointing(true).max_epochs(epochs);
}

void fit(pl::TrainerOptions options, Scripted& module, std::int64_t n_train, std::int64_t n_val,
         std::optional<std::string> ckpt_path = std::nullopt) {
  pl::Trainer trainer(std::move(options));
  trainer.fit(module, loader(n_train), n_val > 0 ? loader(n_val) : pl::DataLoader{}, std::move(ckpt_path));
}

Files files_in(const std::string& dir) {
  Files names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    names.insert(it->path().filename().string());
  }
  return names;
}

std::string name_of(const std::string& path) { return fs::path(path).filename().string(); }

nlohmann::json callback_state(const std::string& file, const std::string& key) {
  const pl::CheckpointDict ckpt = pl::load_checkpoint_file(file);
  return pl::ivalue_to_json(ckpt.at("callbacks").toGenericDict().at(key));
}

void log_f(Scripted& m, const std::string& name, double v, bool on_step = true, bool on_epoch = false) {
  m.log(name, v, pl::LogOptions().on_step(on_step).on_epoch(on_epoch));
}

}  // namespace

// 6.A.9
TEST(ModelCheckpointFit, FileExtension) {
  Root root;
  auto cb = std::make_shared<ModelCheckpoint>(
      ModelCheckpointOptions().dirpath(root / "ckpts").monitor("early_stop_on").save_last(true));
  cb->file_extension = ".tpkc";
  auto m = std::make_shared<Scripted>();
  m->step_logs = [](Scripted& s, std::int64_t) { log_f(s, "early_stop_on", 0.5); };
  fit(base_options(root, 5).max_steps(1).callbacks({cb}), *m, 4, 0);
  EXPECT_EQ(files_in(root / "ckpts"), (Files{"epoch=0-step=1.tpkc", "last.tpkc"}));
}

// 6.A.10
TEST(ModelCheckpointFit, LinkNeedsALocalPath) {
  Root root;
  auto cb = std::make_shared<ModelCheckpoint>(
      ModelCheckpointOptions().dirpath("memory://not-a-filesystem-path").save_last("link"));
  auto m = std::make_shared<Scripted>();
  try {
    fit(base_options(root, 1).callbacks({cb}), *m, 2, 0);
    FAIL();
  } catch (const lamin::ConfigurationError& e) {
    EXPECT_EQ(std::string(e.what()),
              "`ModelCheckpoint(save_last='link')` is only supported for local file paths, got "
              "`dirpath=memory://not-a-filesystem-path`.");
  }
}

// An unwritable dirpath fails in setup, naming the folder, before any training.
TEST(ModelCheckpointFit, UnwritableDirpathFailsBeforeTheFirstEpoch) {
  Root root;
  std::ofstream(root / "file.txt") << "not a folder";
  auto cb = std::make_shared<ModelCheckpoint>(ModelCheckpointOptions().dirpath(root / "file.txt/ckpts"));
  auto m = std::make_shared<Scripted>();
  int steps = 0;
  m->step_logs = [&](Scripted&, std::int64_t) { ++steps; };
  try {
    fit(base_options(root, 1).callbacks({cb}), *m, 2, 0);
    FAIL();
  } catch (const lamin::StorageError& e) {
    EXPECT_NE(std::string(e.what()).find(root / "file.txt/ckpts"), std::string::npos) << e.what();
  }
  EXPECT_EQ(steps, 0);
}

// 6.A.11
TEST(ModelCheckpointFit, LinkPrimitive) {
  Root root;
  pl::Trainer trainer(base_options(root, 1).enable_checkpointing(false));
  ModelCheckpoint cb{ModelCheckpointOptions()};
  const std::string file = root / "file.ckpt";
  std::ofstream(file) << "data";
  const std::string link = root / "link.ckpt";
  cb._link_checkpoint(trainer, file, link);
  ASSERT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(fs::read_symlink(link).string(), "file.ckpt");
  EXPECT_EQ(fs::canonical(link), fs::canonical(file));

  // replaces a file, a link and a folder
  std::ofstream(root / "other.ckpt") << "other";
  cb._link_checkpoint(trainer, root / "other.ckpt", link);
  EXPECT_EQ(fs::read_symlink(link).string(), "other.ckpt");
  fs::remove(link);
  std::ofstream(link) << "a file";
  cb._link_checkpoint(trainer, file, link);
  EXPECT_TRUE(fs::is_symlink(link));
  fs::remove(link);
  fs::create_directories(fs::path(link) / "inner");
  cb._link_checkpoint(trainer, file, link);
  EXPECT_TRUE(fs::is_symlink(link));
  // links to folders
  fs::create_directories(root / "folder");
  cb._link_checkpoint(trainer, root / "folder", root / "folder_link");
  EXPECT_EQ(fs::read_symlink(root / "folder_link").string(), "folder");
  // a link to itself is a no-op
  cb._link_checkpoint(trainer, file, file);
  EXPECT_FALSE(fs::is_symlink(file));
  // cwd-relative paths
  const fs::path cwd = fs::current_path();
  fs::current_path(root.str());
  fs::create_directories("x/z/z");
  std::ofstream("x/z/z/file") << "data";
  cb._link_checkpoint(trainer, "x/z/z/file", "x/z/z/link");
  EXPECT_EQ(fs::read_symlink("x/z/z/link").string(), "file");
  fs::current_path(cwd);
}

namespace {

/// Runs `action` at on_train_start (global step 0), as Lightning's tests call the private steps on a fresh trainer.
class AtTrainStart : public ModelCheckpoint {
 public:
  AtTrainStart(ModelCheckpointOptions o, std::function<void(AtTrainStart&, pl::Trainer&)> action)
      : ModelCheckpoint(std::move(o)), action_(std::move(action)) {}
  void on_train_start(pl::Trainer& trainer, pl::LightningModule& module) override {
    ModelCheckpoint::on_train_start(trainer, module);
    action_(*this, trainer);
  }

 private:
  std::function<void(AtTrainStart&, pl::Trainer&)> action_;
};

}  // namespace

// 6.A.12
TEST(ModelCheckpointFit, SaveLastCheckpointDirectly) {
  Root root;
  auto cb = std::make_shared<AtTrainStart>(
      ModelCheckpointOptions().dirpath(root / "ckpts").save_top_k(0).save_last(true),
      [](AtTrainStart& self, pl::Trainer& t) {
        pl::MetricMap m;
        m.set("foo", pl::Scalar::integer(1));
        self._save_last_checkpoint(t, m);
      });
  cb->checkpoint_name_last = "{foo}-last";
  auto m = std::make_shared<Scripted>();
  fit(base_options(root, 1).callbacks({cb}), *m, 1, 0);
  EXPECT_EQ(files_in(root / "ckpts"), Files{"foo=1-last.ckpt"});
  const std::string path = root / "ckpts/foo=1-last.ckpt";
  EXPECT_EQ(callback_state(path, cb->state_key()).at("last_model_path"), path);
}

// 6.A.13 and 6.A.14
TEST(ModelCheckpointFit, NoneMonitorCheckpointDirectlyAndNothingSaved) {
  Root root;
  auto cb = std::make_shared<AtTrainStart>(
      ModelCheckpointOptions().dirpath(root / "ckpts").every_n_epochs(0),
      [](AtTrainStart& self, pl::Trainer& t) { self._save_none_monitor_checkpoint(t, {}); });
  auto m = std::make_shared<Scripted>();
  fit(base_options(root, 1).callbacks({cb}), *m, 1, 0);
  EXPECT_EQ(files_in(root / "ckpts"), Files{"epoch=0-step=0.ckpt"});
  const std::string path = root / "ckpts/epoch=0-step=0.ckpt";
  EXPECT_EQ(callback_state(path, cb->state_key()).at("best_model_path"), path);

  auto nothing = std::make_shared<AtTrainStart>(
      ModelCheckpointOptions().dirpath(root / "none").save_top_k(0).save_last(false).monitor("foo"),
      [](AtTrainStart& self, pl::Trainer& t) {
        pl::MetricMap metrics;
        metrics.set("foo", pl::Scalar::f32(123));
        self._save_topk_checkpoint(t, metrics);
        self._save_last_checkpoint(t, metrics);
        EXPECT_EQ(self.last_global_step_saved(), 0);
      });
  auto m2 = std::make_shared<Scripted>();
  fit(base_options(root, 1).callbacks({nothing}), *m2, 1, 0);
  EXPECT_FALSE(fs::exists(root / "none"));
}

// 6.A.15 with a dirpath resolved by setup.
TEST(ModelCheckpointFit, StateOfADefaultCallback) {
  Root root;
  auto cb = std::make_shared<ModelCheckpoint>();
  auto m = std::make_shared<Scripted>();
  fit(base_options(root, 1).callbacks({cb}), *m, 2, 0);
  ASSERT_EQ(*cb->dirpath(), root / "checkpoints");
  nlohmann::json state = cb->state_dict();
  state["dirpath"] = root / "elsewhere";
  state["best_model_path"] = "epoch=10-step=1436.ckpt";
  lamin::log::WarningCapture warnings;
  cb->load_state_dict(state);
  EXPECT_TRUE(warnings.contains("The dirpath has changed from"));
  EXPECT_EQ(cb->best_model_path(), "epoch=10-step=1436.ckpt");
  EXPECT_EQ(*cb->dirpath(), root / "checkpoints");
}

// 6.A.19
TEST(ModelCheckpointFit, ShouldSaveOnTrainEpochEnd) {
  struct Case {
    double interval;
    std::int64_t val_batches;
    bool expected;
  };
  for (const Case c : {Case{0.5, 0, true}, Case{0.5, 1, false}, Case{0.8, 1, false}}) {
    Root root;
    bool resolved = !c.expected;
    auto cb = std::make_shared<AtTrainStart>(
        ModelCheckpointOptions().dirpath(root / "ckpts"),
        [&](AtTrainStart& self, pl::Trainer& t) { resolved = self.should_save_on_train_epoch_end(t); });
    auto m = std::make_shared<Scripted>();
    fit(base_options(root, 1).val_check_interval(c.interval).limit_val_batches(c.val_batches).callbacks({cb}), *m, 4,
        2);
    EXPECT_EQ(resolved, c.expected) << c.interval << " " << c.val_batches;
  }
}

// 6.A.20
TEST(ModelCheckpointFit, TrainerCallbackConfiguration) {
  Root root;
  pl::Trainer none(base_options(root, 1).enable_checkpointing(false));
  EXPECT_EQ(none.checkpoint_callback(), nullptr);
  pl::Trainer by_default(base_options(root, 1));
  EXPECT_EQ(by_default.checkpoint_callbacks().size(), 1u);
  auto a = std::make_shared<ModelCheckpoint>(ModelCheckpointOptions().monitor("a"));
  auto b = std::make_shared<ModelCheckpoint>(ModelCheckpointOptions().monitor("b"));
  pl::Trainer two(base_options(root, 1).callbacks({a, b}));
  EXPECT_EQ(two.checkpoint_callback(), a.get());
  EXPECT_EQ(two.checkpoint_callbacks().size(), 2u);
  try {
    pl::Trainer bad(base_options(root, 1).enable_checkpointing(false).callbacks({a}));
    FAIL();
  } catch (const lamin::ConfigurationError& e) {
    EXPECT_NE(std::string(e.what()).find("`enable_checkpointing=False` but found `ModelCheckpoint`"), std::string::npos);
  }
}

// 6.A.23 and 6.A.24
TEST(ModelCheckpointFit, NoDirpathNoLoggerAndToYaml) {
  for (int k : {-1, 0, 1, 2}) {
    Root root;
    auto cb = std::make_shared<ModelCheckpoint>(
        ModelCheckpointOptions().filename("{epoch}").monitor("epoch").mode("max").save_top_k(k));
    auto m = std::make_shared<Scripted>();
    fit(base_options(root, 2).callbacks({cb}), *m, 2, 0);
    EXPECT_EQ(*cb->dirpath(), root / "checkpoints");
    if (k == -1) {
      EXPECT_EQ(files_in(root / "checkpoints"), (Files{"epoch=0.ckpt", "epoch=1.ckpt"}));
    }
    cb->to_yaml(root / "best.yaml");
    std::ifstream in(root / "best.yaml");
    const std::string text((std::istreambuf_iterator<char>(in)), {});
    std::string expected;
    std::vector<ModelCheckpoint::ScoredPath> sorted = cb->best_k_models();
    std::sort(sorted.begin(), sorted.end());
    for (const auto& [path, score] : sorted) expected += path + ": " + std::to_string(static_cast<int>(score)) + "\n";
    EXPECT_EQ(text, sorted.empty() ? "{}\n" : expected) << k;
  }
}

// 6.A.26
TEST(ModelCheckpointFit, ConstantNameNoMonitor) {
  Root root;
  class Watch : public pl::Callback {
   public:
    explicit Watch(std::string dir) : dir_(std::move(dir)) {}
    void on_train_epoch_start(pl::Trainer& t, pl::LightningModule&) override {
      if (t.current_epoch() > 0) seen.push_back(files_in(dir_));
    }
    std::vector<Files> seen;

   private:
    std::string dir_;
  };
  auto watch = std::make_shared<Watch>(root / "ckpts");
  auto cb = std::make_shared<ModelCheckpoint>(ModelCheckpointOptions().dirpath(root / "ckpts").filename("model"));
  auto m = std::make_shared<Scripted>();
  fit(base_options(root, 3).callbacks({watch, cb}), *m, 1, 0);
  ASSERT_EQ(watch->seen.size(), 2u);
  for (const auto& s : watch->seen) EXPECT_EQ(s, Files{"model.ckpt"});
}

// 6.A.27
TEST(ModelCheckpointFit, SaveLastWithCustomLastName) {
  for (const char* mode : {"true", "link"}) {
    Root root;
    auto cb = std::make_shared<ModelCheckpoint>(ModelCheckpointOptions()
                                                    .dirpath(root / "ckpts")
                                                    .monitor("early_stop_on")
                                                    .save_top_k(-1)
                                                    .save_last(std::string(mode)));
    cb->checkpoint_name_last = "last-{epoch}";
    auto m = std::make_shared<Scripted>();
    m->step_logs = [](Scripted& s, std::int64_t b) { log_f(s, "early_stop_on", 1.0 / (b + 1)); };
    fit(base_options(root, 3).callbacks({cb}), *m, 10, 0);
    EXPECT_EQ(files_in(root / "ckpts"),
              (Files{"epoch=0-step=10.ckpt", "epoch=1-step=20.ckpt", "epoch=2-step=30.ckpt", "last-epoch=2.ckpt"}));
    const std::string last = root / "ckpts/last-epoch=2.ckpt";
    EXPECT_EQ(cb->last_model_path(), last);
    EXPECT_EQ(fs::is_symlink(last), std::string(mode) == "link");
    EXPECT_EQ(fs::canonical(last).string(), std::string(mode) == "link" ? root / "ckpts/epoch=2-step=30.ckpt" : last);
    EXPECT_EQ(fs::canonical(last).string(), fs::canonical(cb->last_checkpoint_saved()).string());
  }
}

// 6.A.28 and 6.A.33
TEST(ModelCheckpointFit, SaveLastWithoutMonitor) {
  Root root;
  auto cb = std::make_shared<ModelCheckpoint>(
      ModelCheckpointOptions().dirpath(root / "ckpts").save_top_k(-1).save_last(true));
  auto m = std::make_shared<Scripted>();
  fit(base_options(root, 2).callbacks({cb}), *m, 10, 0);
  EXPECT_EQ(cb->best_model_path(), root / "ckpts/epoch=1-step=20.ckpt");
  EXPECT_EQ(cb->last_model_path(), root / "ckpts/last.ckpt");
  EXPECT_FALSE(cb->best_model_score());
  EXPECT_TRUE(cb->best_k_models().empty());
  EXPECT_EQ(cb->kth_best_model_path(), "");
  EXPECT_EQ(files_in(root / "ckpts"), (Files{"epoch=0-step=10.ckpt", "epoch=1-step=20.ckpt", "last.ckpt"}));

  Root root0;
  auto top0 = std::make_shared<ModelCheckpoint>(
      ModelCheckpointOptions().dirpath(root0 / "ckpts").save_top_k(0).save_last(true));
  auto m0 = std::make_shared<Scripted>();
  fit(base_options(root0, 2).callbacks({top0}), *m0, 2, 0);
  EXPECT_EQ(files_in(root0 / "ckpts"), Files{"last.ckpt"});
  EXPECT_FALSE(fs::is_symlink(root0 / "ckpts/last.ckpt"));
  EXPECT_EQ(top0->best_model_path(), "");
  EXPECT_TRUE(top0->best_k_models().empty());
}

// 6.A.29
TEST(ModelCheckpointFit, EveryNEpochs) {
  for (int n : {0, 1, 2, 3}) {
    Root root;
    auto cb = std::make_shared<ModelCheckpoint>(
        ModelCheckpointOptions().dirpath(root / "ckpts").filename("{epoch}").save_top_k(-1).every_n_epochs(n));
    auto m = std::make_shared<Scripted>();
    fit(base_options(root, 5).callbacks({cb}), *m, 1, 1);
    Files expected;
    for (int e = 0; e < 5 && n > 0; ++e)
      if ((e + 1) % n == 0) expected.insert("epoch=" + std::to_string(e) + ".ckpt");
    EXPECT_EQ(files_in(root / "ckpts"), expected) << n;
  }
}

// 6.A.30
TEST(ModelCheckpointFit, EveryNTrainSteps) {
  Root root;
  auto cb = std::make_shared<ModelCheckpoint>(ModelCheckpointOptions()
                                                  .dirpath(root / "ckpts")
                                                  .filename("{step}")
                                                  .save_top_k(-1)
                                                  .every_n_epochs(0)
                                                  .every_n_train_steps(16));
  auto m = std::make_shared<Scripted>();
  fit(base_options(root, 2).callbacks({cb}), *m, 64, 0);
  Files expected;
  for (int s = 16; s <= 128; s += 16) expected.insert("step=" + std::to_string(s) + ".ckpt");
  EXPECT_EQ(files_in(root / "ckpts"), expected);
}

// 6.A.31
TEST(ModelCheckpointFit, SaveOnException) {
  for (const char* hook : {"training_step", "validation_step", "on_train_epoch_end", "on_validation_epoch_end",
                           "on_train_batch_end", "on_train_end", "on_fit_end", "on_validation_start"}) {
    Root root;
    auto cb = std::make_shared<ModelCheckpoint>(ModelCheckpointOptions()
                                                    .dirpath(root / "ckpts")
                                                    .filename("exception")
                                                    .every_n_epochs(7)
                                                    .save_on_exception(true));
    auto m = std::make_shared<Scripted>();
    m->raise_in = hook;
    EXPECT_THROW(fit(base_options(root, 4).callbacks({cb}), *m, 2, 2), std::runtime_error) << hook;
    ASSERT_EQ(files_in(root / "ckpts"), Files{"exception.ckpt"}) << hook;
    const pl::CheckpointDict ckpt = pl::load_checkpoint_file(root / "ckpts/exception.ckpt");
    EXPECT_GT(ckpt.at("state_dict").toGenericDict().size(), 0u);
  }
  // not during the sanity check, not under fast_dev_run
  {
    Root root;
    auto cb = std::make_shared<ModelCheckpoint>(
        ModelCheckpointOptions().dirpath(root / "ckpts").filename("exception").save_on_exception(true));
    auto m = std::make_shared<Scripted>();
    m->raise_in = "on_validation_start";
    EXPECT_THROW(fit(base_options(root, 4).num_sanity_val_steps(2).callbacks({cb}), *m, 2, 2), std::runtime_error);
    EXPECT_FALSE(fs::exists(root / "ckpts/exception.ckpt"));
  }
  {
    Root root;
    auto cb = std::make_shared<ModelCheckpoint>(
        ModelCheckpointOptions().dirpath(root / "ckpts").filename("exception").save_on_exception(true));
    auto m = std::make_shared<Scripted>();
    m->raise_in = "on_train_end";
    EXPECT_THROW(fit(base_options(root, 4).fast_dev_run(1).callbacks({cb}), *m, 2, 2), std::runtime_error);
    EXPECT_FALSE(fs::exists(root / "ckpts/exception.ckpt"));
  }
}

namespace {

class MockClock : public Recording {
 public:
  using Recording::Recording;

 protected:
  double monotonic_now() const override {
    const double t = now_;
    now_ += 7.0;
    return t;
  }

 private:
  mutable double now_ = 0.0;
};

}  // namespace

// 6.A.32
TEST(ModelCheckpointFit, TrainTimeInterval) {
  Root root;
  auto cb = std::make_shared<MockClock>(ModelCheckpointOptions()
                                            .dirpath(root / "ckpts")
                                            .filename("{epoch}-{step}")
                                            .save_top_k(-1)
                                            .train_time_interval(std::chrono::minutes(1)));
  auto m = std::make_shared<Scripted>();
  fit(base_options(root, 2).callbacks({cb}), *m, 64, 0);
  EXPECT_EQ(files_in(root / "ckpts").size(), 14u);
  EXPECT_EQ(name_of(cb->saved.front()), "epoch=0-step=9.ckpt");
}

// 6.A.34
TEST(ModelCheckpointFit, TopKAllOnEpoch) {
  Root root;
  auto cb = std::make_shared<ModelCheckpoint>(
      ModelCheckpointOptions().dirpath(root / "ckpts").monitor("epoch").mode("max").filename("{epoch}").save_top_k(-1));
  auto m = std::make_shared<Scripted>();
  fit(base_options(root, 3).callbacks({cb}), *m, 2, 0);
  EXPECT_EQ(cb->best_model_path(), root / "ckpts/epoch=2.ckpt");
  EXPECT_EQ(*cb->best_model_score(), 2);
  EXPECT_EQ(cb->best_k_models().size(), 3u);
  EXPECT_EQ(cb->kth_best_model_path(), root / "ckpts/epoch=0.ckpt");
  EXPECT_EQ(callback_state(root / "ckpts/epoch=2.ckpt", cb->state_key()).at("best_model_score"), 2);
}

// 6.A.36
TEST(ModelCheckpointFit, DefaultCheckpointing) {
  Root root;
  auto m = std::make_shared<Scripted>();
  pl::Trainer trainer(base_options(root, 3));
  trainer.fit(*m, loader(5), loader(5));
  EXPECT_EQ(files_in(root / "checkpoints"), Files{"epoch=2-step=15.ckpt"});
  EXPECT_EQ(trainer.checkpoint_callback()->best_model_path(), root / "checkpoints/epoch=2-step=15.ckpt");
}

// 6.A.37
TEST(ModelCheckpointFit, LastHasTheSameContentAsTheNewestFile) {
  Root root;
  auto cb = std::make_shared<ModelCheckpoint>(ModelCheckpointOptions()
                                                  .dirpath(root / "ckpts")
                                                  .monitor("early_stop_on")
                                                  .filename("{epoch}")
                                                  .save_top_k(3)
                                                  .save_last(true));
  auto m = std::make_shared<Scripted>();
  m->step_logs = [](Scripted& s, std::int64_t) { log_f(s, "early_stop_on", 1.0 / (s.trainer().current_epoch() + 1)); };
  fit(base_options(root, 3).callbacks({cb}), *m, 2, 0);
  const auto last = pl::load_checkpoint_file(root / "ckpts/last.ckpt");
  const auto newest = pl::load_checkpoint_file(root / "ckpts/epoch=2.ckpt");
  for (const char* key : {"epoch", "global_step"}) EXPECT_EQ(last.at(key).toInt(), newest.at(key).toInt());
  auto s1 = pl::ivalue_to_json(last.at("callbacks")), s2 = pl::ivalue_to_json(newest.at("callbacks"));
  s1.begin()->erase("last_model_path");
  s2.begin()->erase("last_model_path");
  EXPECT_EQ(s1, s2);
  const auto w1 = last.at("state_dict").toGenericDict(), w2 = newest.at("state_dict").toGenericDict();
  for (const auto& e : w1) EXPECT_TRUE(torch::equal(e.value().toTensor(), w2.at(e.key()).toTensor()));
}

// 6.A.38 and 6.A.40
TEST(ModelCheckpointFit, NaNScores) {
  const double nan = std::nan("");
  struct Case {
    const char* mode;
    std::vector<double> values;
    double best;
  };
  for (const Case& c : {Case{"max", {nan, 5, 7, 8}, 8}, Case{"min", {nan, 8, 7, 5}, 5}}) {
    Root root;
    auto cb = std::make_shared<Recording>(ModelCheckpointOptions().dirpath(root / "ckpts").monitor("abc").mode(c.mode));
    auto m = std::make_shared<Scripted>();
    m->val_logs = [&](Scripted& s) { s.log("abc", c.values[s.trainer().current_epoch()]); };
    fit(base_options(root, 4).callbacks({cb}), *m, 1, 1);
    EXPECT_EQ(cb->saved.size(), 4u) << c.mode;
    EXPECT_EQ(*cb->best_model_score(), c.best);
  }
  for (const char* mode : {"min", "max"}) {
    Root root;
    auto cb = std::make_shared<ModelCheckpoint>(ModelCheckpointOptions().dirpath(root / "ckpts").monitor("foo").mode(mode));
    auto m = std::make_shared<Scripted>();
    m->step_logs = [&](Scripted& s, std::int64_t) { log_f(s, "foo", nan); };
    fit(base_options(root, 1).callbacks({cb}), *m, 2, 0);
    const double inf = std::string(mode) == "min" ? std::numeric_limits<double>::infinity()
                                                  : -std::numeric_limits<double>::infinity();
    EXPECT_EQ(*cb->best_model_score(), inf);
    EXPECT_EQ(*cb->current_score(), inf);
  }
}

// 6.A.39
TEST(ModelCheckpointFit, CurrentScore) {
  Root root;
  auto cb = std::make_shared<Recording>(ModelCheckpointOptions().dirpath(root / "ckpts").monitor("foo").save_top_k(3));
  auto m = std::make_shared<Scripted>();
  m->step_logs = [](Scripted& s, std::int64_t) { log_f(s, "foo", (s.trainer().current_epoch() + 1) / 10.0); };
  fit(base_options(root, 3).callbacks({cb}), *m, 1, 0);
  EXPECT_EQ(*cb->current_score(), static_cast<double>(0.3f));
  std::vector<double> scores;
  for (const auto& f : cb->saved) scores.push_back(callback_state(f, cb->state_key()).at("current_score"));
  std::sort(scores.begin(), scores.end());
  EXPECT_EQ(scores, (std::vector<double>{0.1f, 0.2f, 0.3f}));
}

// 6.A.42 and 6.A.44
TEST(ModelCheckpointFit, RerunIntoTheSameFolder) {
  for (bool counter : {true, false}) {
    Root root;
    for (int run = 0; run < 2; ++run) {
      auto cb = std::make_shared<ModelCheckpoint>(ModelCheckpointOptions()
                                                      .dirpath(root / "ckpts")
                                                      .monitor("epoch")
                                                      .mode("max")
                                                      .save_top_k(-1)
                                                      .filename("{epoch}")
                                                      .save_last(!counter)
                                                      .enable_version_counter(counter));
      auto m = std::make_shared<Scripted>();
      fit(base_options(root, 2).callbacks({cb}), *m, 1, 0);
      Files names;
      for (const auto& [path, score] : cb->best_k_models()) names.insert(name_of(path));
      if (counter && run == 1) {
        EXPECT_EQ(names, (Files{"epoch=0-v1.ckpt", "epoch=1-v1.ckpt"}));
      }
      if (!counter) {
        EXPECT_EQ(names, (Files{"epoch=0.ckpt", "epoch=1.ckpt"}));
        EXPECT_EQ(name_of(cb->last_model_path()), "last.ckpt");
      }
    }
    const Files expected = counter ? Files{"epoch=0.ckpt", "epoch=1.ckpt", "epoch=0-v1.ckpt", "epoch=1-v1.ckpt"}
                                   : Files{"epoch=0.ckpt", "epoch=1.ckpt", "last.ckpt"};
    EXPECT_EQ(files_in(root / "ckpts"), expected);
  }
}

// 6.A.43
TEST(ModelCheckpointFit, RefitWithTheSameTrainer) {
  Root root;
  auto cb = std::make_shared<ModelCheckpoint>(
      ModelCheckpointOptions().dirpath(root / "ckpts").filename("test").monitor("epoch").mode("max").save_top_k(-1));
  cb->starting_version = 9;
  auto m = std::make_shared<Scripted>();
  pl::Trainer trainer(base_options(root, 2).callbacks({cb}));
  trainer.fit(*m, loader(1));
  trainer.mutable_options().max_epochs(4);
  trainer.fit(*m, loader(1));
  const Files expected{"test.ckpt", "test-v9.ckpt", "test-v10.ckpt", "test-v11.ckpt"};
  Files names;
  for (const auto& [path, score] : cb->best_k_models()) names.insert(name_of(path));
  EXPECT_EQ(names, expected);
  EXPECT_EQ(files_in(root / "ckpts"), expected);
}

// 6.A.45 and 6.A.46
TEST(ModelCheckpointFit, ValidationScheduleDecidesSaves) {
  {
    Root root;
    auto cb = std::make_shared<ModelCheckpoint>(
        ModelCheckpointOptions().dirpath(root / "ckpts").monitor("epoch").save_top_k(-1).filename("{epoch}"));
    auto m = std::make_shared<Scripted>();
    fit(base_options(root, 5).check_val_every_n_epoch(2).callbacks({cb}), *m, 1, 1);
    EXPECT_EQ(files_in(root / "ckpts"), (Files{"epoch=1.ckpt", "epoch=3.ckpt"}));
  }
  {
    Root root;
    auto cb = std::make_shared<ModelCheckpoint>(
        ModelCheckpointOptions().dirpath(root / "ckpts").monitor("val_acc").mode("max").save_top_k(-1));
    auto m = std::make_shared<Scripted>();
    m->val_logs = [](Scripted& s) { s.log("val_acc", 1.23); };
    fit(base_options(root, 1).val_check_interval(0.2).callbacks({cb}), *m, 10, 1);
    EXPECT_EQ(files_in(root / "ckpts"), (Files{"epoch=0-step=2.ckpt", "epoch=0-step=4.ckpt", "epoch=0-step=6.ckpt",
                                              "epoch=0-step=8.ckpt", "epoch=0-step=10.ckpt"}));
  }
}

// 6.A.47 and 6.A.50 (resume into another folder leaves the old one alone)
TEST(ModelCheckpointFit, ResumeIntoAnotherFolder) {
  Root root;
  auto first = std::make_shared<ModelCheckpoint>(ModelCheckpointOptions()
                                                     .filename("{step}")
                                                     .monitor("step")
                                                     .mode("max")
                                                     .save_last(true)
                                                     .save_top_k(2)
                                                     .every_n_train_steps(1));
  auto m = std::make_shared<Scripted>();
  fit(base_options(root, 1).callbacks({first}), *m, 3, 0);
  EXPECT_EQ(files_in(root / "checkpoints"), (Files{"last.ckpt", "step=2.ckpt", "step=3.ckpt"}));
  auto second = std::make_shared<ModelCheckpoint>(ModelCheckpointOptions()
                                                      .dirpath(root / "new")
                                                      .filename("{step}")
                                                      .monitor("step")
                                                      .mode("max")
                                                      .save_last(true)
                                                      .save_top_k(2)
                                                      .every_n_train_steps(1));
  auto m2 = std::make_shared<Scripted>();
  fit(base_options(root, 2).callbacks({second}), *m2, 3, 0, root / "checkpoints/step=3.ckpt");
  EXPECT_TRUE(fs::exists(root / "checkpoints/last.ckpt"));
  EXPECT_TRUE(fs::exists(root / "checkpoints/step=2.ckpt"));
}

// 6.A.48 and 6.A.49
TEST(ModelCheckpointFit, LastVersioningAndEveryNEpochs) {
  Root root;
  for (int run = 0; run < 2; ++run) {
    auto cb = std::make_shared<ModelCheckpoint>(
        ModelCheckpointOptions().dirpath(root / "ckpts").save_top_k(0).save_last(true));
    auto m = std::make_shared<Scripted>();
    fit(base_options(root, 2).callbacks({cb}), *m, 1, 0);
  }
  EXPECT_EQ(files_in(root / "ckpts"), (Files{"last.ckpt", "last-v1.ckpt"}));
  EXPECT_FALSE(fs::is_symlink(root / "ckpts/last-v1.ckpt"));
  for (int n : {0, 5}) {
    Root r;
    auto cb = std::make_shared<Recording>(ModelCheckpointOptions()
                                              .dirpath(r / "ckpts")
                                              .every_n_epochs(n)
                                              .save_top_k(0)
                                              .save_last(true)
                                              .save_on_train_epoch_end(true));
    auto m = std::make_shared<Scripted>();
    fit(base_options(r, 2).callbacks({cb}), *m, 1, 0);
    EXPECT_EQ(cb->saved.size(), 1u) << n;
    EXPECT_NE(cb->last_model_path(), "");
  }
}

// 6.A.51 and 6.A.52
TEST(ModelCheckpointFit, LastOnlyWhenSomethingWasSaved) {
  {
    Root root;
    auto cb = std::make_shared<ModelCheckpoint>(
        ModelCheckpointOptions().dirpath(root / "ckpts").save_last(true).save_on_train_epoch_end(false));
    auto m = std::make_shared<Scripted>();
    fit(base_options(root, 2).callbacks({cb}), *m, 2, 0);
    EXPECT_TRUE(fs::exists(root / "ckpts/last.ckpt"));
  }
  {
    Root root;
    auto cb = std::make_shared<ModelCheckpoint>(ModelCheckpointOptions()
                                                    .dirpath(root / "ckpts")
                                                    .filename("best-{epoch}-{val_loss:.2f}")
                                                    .monitor("val_loss")
                                                    .save_last(true)
                                                    .every_n_epochs(1)
                                                    .save_on_train_epoch_end(false));
    auto m = std::make_shared<Scripted>();
    m->val_logs = [](Scripted& s) {
      const auto e = s.trainer().current_epoch();
      s.log("val_loss", e % 2 == 0 ? 1.0 - 0.1 * e : 1.0 + 0.1 * e);
    };
    fit(base_options(root, 4).callbacks({cb}), *m, 2, 1);
    EXPECT_EQ(files_in(root / "ckpts"), (Files{"best-epoch=2-val_loss=0.80.ckpt", "last.ckpt"}));
  }
}

// 6.A.53
TEST(ModelCheckpointFit, SaveCounts) {
  struct Case {
    std::int64_t epochs;
    double interval;
    std::size_t saves;
    std::int64_t k;
    std::size_t monitored_saves;
  };
  for (const Case c : {Case{1, 1.0, 1, 1, 1}, Case{2, 1.0, 2, 2, 2}, Case{1, 0.25, 4, 2, 4}, Case{2, 0.3, 6, 2, 6}}) {
    for (const char* last : {"false", "true", "link"}) {
      Root root;
      auto plain = std::make_shared<Recording>(ModelCheckpointOptions().dirpath(root / "a").save_last(std::string(last)));
      auto monitored = std::make_shared<Recording>(ModelCheckpointOptions()
                                                       .dirpath(root / "b")
                                                       .monitor("my_loss")
                                                       .save_top_k(c.k)
                                                       .save_last(std::string(last)));
      auto m = std::make_shared<Scripted>();
      m->step_logs = [](Scripted& s, std::int64_t) { log_f(s, "my_loss", 1000.0 - s.trainer().global_step()); };
      fit(base_options(root, c.epochs).val_check_interval(c.interval).limit_val_batches(1).callbacks({plain, monitored}),
          *m, 64, 4);
      const std::size_t factor = std::string(last) == "true" ? 2 : 1;
      EXPECT_EQ(plain->saved.size(), c.saves * factor) << c.epochs << " " << c.interval << " " << last;
      EXPECT_EQ(monitored->saved.size(), c.monitored_saves * factor) << c.epochs << " " << c.interval << " " << last;
    }
  }
}

// 6.A.54 and 6.A.55
TEST(ModelCheckpointFit, StepAndTimeTriggersWithMetrics) {
  {
    Root root;
    auto cb = std::make_shared<ModelCheckpoint>(ModelCheckpointOptions()
                                                    .dirpath(root / "ckpts")
                                                    .monitor("train_score")
                                                    .mode("max")
                                                    .every_n_train_steps(1)
                                                    .every_n_epochs(0)
                                                    .save_on_train_epoch_end(false));
    auto m = std::make_shared<Scripted>();
    m->step_logs = [](Scripted& s, std::int64_t) { log_f(s, "train_score", s.trainer().global_step() + 1.0); };
    fit(base_options(root, 2).callbacks({cb}), *m, 2, 0);
    EXPECT_EQ(*cb->best_model_score(), 4.0);
  }
  struct Case {
    std::optional<std::int64_t> steps;
    bool time;
    std::optional<std::int64_t> check_val;
    std::vector<double> scores;
    std::int64_t epochs, batches;
    double interval;
  };
  const std::vector<Case> cases = {
      {2, false, 1, {0.1, 0.5, 1.0}, 3, 2, 1.0},          {std::nullopt, true, 1, {0.2, 0.4, 0.9}, 3, 2, 1.0},
      {2, false, 2, {0.1, 0.5, 1.0, 3.0}, 4, 2, 1.0},     {std::nullopt, true, 2, {0.2, 0.6}, 2, 2, 1.0},
      {1, false, 1, {0.1, 0.9}, 1, 4, 0.5},
  };
  for (const auto& c : cases) {
    Root root;
    auto o = ModelCheckpointOptions().dirpath(root / "ckpts").monitor("auroc").mode("max").save_on_train_epoch_end(false);
    if (c.steps) o.every_n_train_steps(*c.steps);
    if (c.time) o.train_time_interval(std::chrono::seconds(0));
    auto cb = std::make_shared<ModelCheckpoint>(o);
    auto m = std::make_shared<Scripted>();
    std::int64_t runs = 0;
    const bool by_run = c.interval != 1.0;
    m->val_logs = [&](Scripted& s) {
      const auto index = by_run ? runs++ : s.trainer().current_epoch();
      s.log("auroc", c.scores[std::min<std::size_t>(index, c.scores.size() - 1)]);
    };
    fit(base_options(root, c.epochs).check_val_every_n_epoch(c.check_val).val_check_interval(c.interval).callbacks({cb}),
        *m, c.batches, 1);
    ASSERT_TRUE(cb->best_model_score());
    EXPECT_EQ(*cb->best_model_score(), static_cast<double>(static_cast<float>(c.scores.back())));
  }
}

// 6.A.56
TEST(ModelCheckpointFit, LinkWithoutEpochSaves) {
  Root root;
  auto cb = std::make_shared<ModelCheckpoint>(
      ModelCheckpointOptions().dirpath(root / "ckpts").save_last("link").save_top_k(-1).every_n_epochs(10));
  auto m = std::make_shared<Scripted>();
  fit(base_options(root, 2).callbacks({cb}), *m, 2, 1);
  const std::string last = root / "ckpts/last.ckpt";
  ASSERT_TRUE(fs::exists(last));
  EXPECT_FALSE(fs::is_symlink(last));
}

// Ties with save_top_k=-1 go to the first path in dict order, for the best and for the kth (worst) alike.
TEST(ModelCheckpointFit, TopKAllTiesGoToTheFirstPath) {
  for (const char* mode : {"min", "max"}) {
    Root root;
    auto cb = std::make_shared<ModelCheckpoint>(
        ModelCheckpointOptions().dirpath(root / "ckpts").monitor("v").mode(mode).save_top_k(-1).filename("{epoch}"));
    auto m = std::make_shared<Scripted>();
    const bool min = std::string(mode) == "min";
    const std::vector<double> values = min ? std::vector<double>{0.5, 0.5, 0.4, 0.4, 0.6, 0.6}
                                           : std::vector<double>{0.5, 0.5, 0.6, 0.6, 0.4, 0.4};
    m->val_logs = [&](Scripted& s) { s.log("v", values[s.trainer().current_epoch()]); };
    fit(base_options(root, 6).callbacks({cb}), *m, 1, 1);
    EXPECT_EQ(name_of(cb->best_model_path()), "epoch=2.ckpt") << mode;
    EXPECT_EQ(name_of(cb->kth_best_model_path()), "epoch=4.ckpt") << mode;
    EXPECT_EQ(cb->best_k_models().size(), 6u);
  }
}
