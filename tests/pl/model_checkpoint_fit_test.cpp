// ModelCheckpoint inside real Trainer::fit runs: Lightning's behavioural tests of spec section 6.A (items 9-56) on
// real files, plus the early failure for an unwritable dirpath. Files, links, save_last, schedules and exceptions
// here; top-k, scores, reruns and resuming in model_checkpoint_topk_test.cpp.

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "lamin/error.hpp"
#include "lamin/log.hpp"
#include "pl/model_checkpoint_fit.hpp"

using namespace mc_fit;  // NOLINT: the shared fixtures of the ModelCheckpoint fit tests

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
