// The fit loop: hook order, logging and callback_metrics, limits, exceptions, distributed gating.

#include <gtest/gtest.h>
#include <pwd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <thread>
#include <vector>

#include "common/torch/training.hpp"
#include "lamin/error.hpp"
#include "lamin/pl/early_stopping.hpp"
#include "lamin/pl/model_checkpoint.hpp"
#include "lamin/pl/trainer.hpp"

using namespace lamin::pl;
using namespace lamin::test;

namespace {

std::vector<std::string>* g_trace = nullptr;
void trace(const std::string& s) {
  if (g_trace) g_trace->push_back(s);
}

struct RecordingCallback : Callback {
  void setup(Trainer&, LightningModule&, const std::string& stage) override { trace("cb:setup:" + stage); }
  void teardown(Trainer&, LightningModule&, const std::string& stage) override { trace("cb:teardown:" + stage); }
  void on_fit_start(Trainer&, LightningModule&) override { trace("cb:on_fit_start"); }
  void on_fit_end(Trainer&, LightningModule&) override { trace("cb:on_fit_end"); }
  void on_sanity_check_start(Trainer&, LightningModule&) override { trace("cb:on_sanity_check_start"); }
  void on_sanity_check_end(Trainer&, LightningModule&) override { trace("cb:on_sanity_check_end"); }
  void on_train_start(Trainer&, LightningModule&) override { trace("cb:on_train_start"); }
  void on_train_end(Trainer&, LightningModule&) override { trace("cb:on_train_end"); }
  void on_train_epoch_start(Trainer&, LightningModule&) override { trace("cb:on_train_epoch_start"); }
  void on_train_epoch_end(Trainer&, LightningModule&) override { trace("cb:on_train_epoch_end"); }
  void on_train_batch_start(Trainer&, LightningModule&, const Batch&, std::int64_t) override {
    trace("cb:on_train_batch_start");
  }
  void on_train_batch_end(Trainer&, LightningModule&, const StepOutput&, const Batch&, std::int64_t) override {
    trace("cb:on_train_batch_end");
  }
  void on_validation_start(Trainer&, LightningModule&) override { trace("cb:on_validation_start"); }
  void on_validation_end(Trainer&, LightningModule&) override { trace("cb:on_validation_end"); }
  void on_validation_epoch_start(Trainer&, LightningModule&) override { trace("cb:on_validation_epoch_start"); }
  void on_validation_epoch_end(Trainer&, LightningModule&) override { trace("cb:on_validation_epoch_end"); }
  void on_validation_batch_start(Trainer&, LightningModule&, const Batch&, std::int64_t) override {
    trace("cb:on_validation_batch_start");
  }
  void on_validation_batch_end(Trainer&, LightningModule&, const StepOutput&, const Batch&, std::int64_t) override {
    trace("cb:on_validation_batch_end");
  }
  void on_before_backward(Trainer&, LightningModule&, const at::Tensor&) override { trace("cb:on_before_backward"); }
  void on_after_backward(Trainer&, LightningModule&) override { trace("cb:on_after_backward"); }
  void on_before_optimizer_step(Trainer&, LightningModule&, torch::optim::Optimizer&) override {
    trace("cb:on_before_optimizer_step");
  }
  void on_before_zero_grad(Trainer&, LightningModule&, torch::optim::Optimizer&) override {
    trace("cb:on_before_zero_grad");
  }
  void on_exception(Trainer&, LightningModule&, const std::exception& e) override {
    trace(std::string("cb:on_exception:") + e.what());
  }
};

struct RecordingModule : LinearModule {
  std::string fail_in;
  void check(const std::string& hook) {
    trace("m:" + hook);
    if (hook == fail_in) throw std::runtime_error("planned failure in " + hook);
  }
  torch::Tensor training_step(const Batch& b, std::int64_t i) override {
    check("training_step");
    return LinearModule::training_step(b, i);
  }
  void validation_step(const Batch& b, std::int64_t i) override {
    check("validation_step");
    LinearModule::validation_step(b, i);
  }
  void setup(const std::string& stage) override { check("setup:" + stage); }
  void teardown(const std::string& stage) override { check("teardown:" + stage); }
  void on_fit_start() override { check("on_fit_start"); }
  void on_fit_end() override { check("on_fit_end"); }
  void on_train_start() override { check("on_train_start"); }
  void on_train_end() override { check("on_train_end"); }
  void on_train_epoch_start() override { check("on_train_epoch_start"); }
  void on_train_epoch_end() override { check("on_train_epoch_end"); }
  int on_train_batch_start(const Batch&, std::int64_t) override {
    check("on_train_batch_start");
    return 0;
  }
  void on_train_batch_end(const at::Tensor&, const Batch&, std::int64_t) override { check("on_train_batch_end"); }
  void on_validation_start() override { check("on_validation_start"); }
  void on_validation_end() override { check("on_validation_end"); }
  void on_validation_epoch_start() override { check("on_validation_epoch_start"); }
  void on_validation_epoch_end() override { check("on_validation_epoch_end"); }
  void on_validation_batch_start(const Batch&, std::int64_t) override { check("on_validation_batch_start"); }
  void on_validation_batch_end(const Batch&, std::int64_t) override { check("on_validation_batch_end"); }
  void on_validation_model_eval() override {
    check("on_validation_model_eval");
    eval();
  }
  void on_validation_model_train() override {
    check("on_validation_model_train");
    train();
  }
  void on_before_backward(const at::Tensor&) override { check("on_before_backward"); }
  void backward(const at::Tensor& loss) override {
    check("backward");
    loss.backward();
  }
  void on_after_backward() override { check("on_after_backward"); }
  void on_before_optimizer_step(torch::optim::Optimizer&) override { check("on_before_optimizer_step"); }
  void on_before_zero_grad(torch::optim::Optimizer&) override { check("on_before_zero_grad"); }
  OptimizerConfig configure_optimizers() override {
    trace("m:configure_optimizers");
    return LinearModule::configure_optimizers();
  }
};

std::vector<std::string> validation_run() {
  return {"m:on_validation_model_eval", "cb:on_validation_start",     "m:on_validation_start",
          "cb:on_validation_epoch_start", "m:on_validation_epoch_start", "cb:on_validation_batch_start",
          "m:on_validation_batch_start", "m:validation_step",          "cb:on_validation_batch_end",
          "m:on_validation_batch_end",   "cb:on_validation_epoch_end",  "m:on_validation_epoch_end",
          "cb:on_validation_end",        "m:on_validation_end",         "m:on_validation_model_train"};
}

std::vector<std::string> train_batch() {
  return {"cb:on_train_batch_start", "m:on_train_batch_start",  "m:training_step",
          "cb:on_before_zero_grad",  "m:on_before_zero_grad",   "cb:on_before_backward",
          "m:on_before_backward",    "m:backward",              "cb:on_after_backward",
          "m:on_after_backward",     "cb:on_before_optimizer_step", "m:on_before_optimizer_step",
          "cb:on_train_batch_end",   "m:on_train_batch_end"};
}

void append(std::vector<std::string>& out, const std::vector<std::string>& more) {
  out.insert(out.end(), more.begin(), more.end());
}

}  // namespace

TEST(TrainerHooks, FitCallsEveryHookInLightningsOrder) {
  TempDir root("hooks");
  auto [x, y] = regression_data(4);
  std::vector<std::string> got;
  g_trace = &got;
  RecordingModule module;
  Trainer trainer(quiet_options(root.str())
                      .max_epochs(1)
                      .num_sanity_val_steps(1)
                      .callbacks({std::make_shared<RecordingCallback>()}));
  trainer.fit(module, DataLoader::from_tensors(x, y, 2), DataLoader::from_tensors(x, y, 4));
  g_trace = nullptr;

  std::vector<std::string> want = {"cb:setup:fit", "m:setup:fit", "m:configure_optimizers", "cb:on_fit_start",
                                   "m:on_fit_start", "cb:on_sanity_check_start"};
  append(want, validation_run());
  append(want, {"cb:on_sanity_check_end", "cb:on_train_start", "m:on_train_start", "cb:on_train_epoch_start",
                "m:on_train_epoch_start"});
  append(want, train_batch());
  append(want, train_batch());
  append(want, validation_run());
  append(want, {"cb:on_train_epoch_end", "m:on_train_epoch_end", "cb:on_train_end", "m:on_train_end",
                "cb:on_fit_end", "m:on_fit_end", "cb:teardown:fit", "m:teardown:fit"});
  EXPECT_EQ(got, want);
  EXPECT_EQ(trainer.global_step(), 2);
  EXPECT_EQ(trainer.current_epoch(), 1);
}

TEST(TrainerHooks, ExceptionsReachOnExceptionThenTheCaller) {
  TempDir root("exception");
  auto [x, y] = regression_data(4);
  std::vector<std::string> got;
  g_trace = &got;
  RecordingModule module;
  module.fail_in = "on_train_epoch_end";
  Trainer trainer(quiet_options(root.str()).max_epochs(2).callbacks({std::make_shared<RecordingCallback>()}));
  EXPECT_THROW(trainer.fit(module, DataLoader::from_tensors(x, y, 2)), std::runtime_error);
  g_trace = nullptr;
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back(), "cb:on_exception:planned failure in on_train_epoch_end");
  // on_fit_end and teardown are not called after a failure.
  EXPECT_EQ(std::count(got.begin(), got.end(), "cb:on_fit_end"), 0);
}

namespace {

/// Logs Lightning's recorded sequence: train_loss = base[e] + 0.25·b (step and epoch), val_loss per epoch.
struct ScriptedModule : LinearModule {
  std::vector<double> base{3, 2, 2.5, 1};
  std::vector<double> val{0.5, 0.3, 0.4, 0.2};
  torch::Tensor training_step(const Batch& b, std::int64_t i) override {
    auto loss = torch::mse_loss(layer->forward(b.data), b.target);
    log("train_loss", base[trainer().current_epoch()] + 0.25 * static_cast<double>(i),
        LogOptions().on_step(true).on_epoch(true));
    return loss;
  }
  void validation_step(const Batch&, std::int64_t) override {}
  void on_validation_epoch_end() override {
    if (!trainer().sanity_checking()) log("val_loss", val[trainer().current_epoch()]);
  }
};

struct MetricsProbe : Callback {
  std::vector<MetricMap> at_epoch_end, at_validation_end;
  void on_train_epoch_end(Trainer& t, LightningModule&) override { at_epoch_end.push_back(t.callback_metrics()); }
  void on_validation_end(Trainer& t, LightningModule&) override { at_validation_end.push_back(t.callback_metrics()); }
};

}  // namespace

TEST(TrainerLogging, CallbackMetricsAreForkedAndStickyAsInLightning) {
  TempDir root("metrics");
  auto [x, y] = regression_data(4);
  ScriptedModule module;
  auto probe = std::make_shared<MetricsProbe>();
  Trainer trainer(quiet_options(root.str()).max_epochs(2).callbacks({probe}));
  trainer.fit(module, DataLoader::from_tensors(x, y, 1), DataLoader::from_tensors(x, y, 2));

  ASSERT_EQ(probe->at_validation_end.size(), 2u);
  // At validation end of epoch 0: the last step value, no `_epoch` key yet, and the validation value.
  const MetricMap& v0 = probe->at_validation_end[0];
  EXPECT_EQ(v0.keys(), (std::vector<std::string>{"train_loss", "train_loss_step", "val_loss"}));
  EXPECT_DOUBLE_EQ(v0.at("train_loss").value, 3.75);
  EXPECT_DOUBLE_EQ(v0.at("val_loss").value, static_cast<double>(0.5f));

  // At epoch end: train_loss switches to the epoch mean, train_loss_epoch appears.
  const MetricMap& e0 = probe->at_epoch_end[0];
  EXPECT_DOUBLE_EQ(e0.at("train_loss").value, 3.375);
  EXPECT_DOUBLE_EQ(e0.at("train_loss_epoch").value, 3.375);
  EXPECT_DOUBLE_EQ(e0.at("train_loss_step").value, 3.75);
  EXPECT_DOUBLE_EQ(e0.at("val_loss").value, static_cast<double>(0.5f));
  const MetricMap& e1 = probe->at_epoch_end[1];
  EXPECT_DOUBLE_EQ(e1.at("train_loss").value, 2.375);
  EXPECT_DOUBLE_EQ(e1.at("val_loss").value, static_cast<double>(0.3f));

  // logged_metrics holds the forked names only, plus epoch.
  EXPECT_FALSE(trainer.logged_metrics().contains("train_loss"));
  EXPECT_TRUE(trainer.logged_metrics().contains("train_loss_epoch"));
  EXPECT_TRUE(trainer.logged_metrics().contains("epoch"));
}

TEST(TrainerLogging, OnStepIsRejectedInEpochLevelHooks) {
  struct BadModule : LinearModule {
    void on_train_epoch_end() override { log("x", 1.0, LogOptions().on_step(true)); }
  };
  TempDir root("badlog");
  auto [x, y] = regression_data(4);
  BadModule module;
  Trainer trainer(quiet_options(root.str()).max_epochs(1));
  EXPECT_THROW(trainer.fit(module, DataLoader::from_tensors(x, y, 2)), lamin::ConfigurationError);
}

namespace {
struct CountValidation : Callback {
  int runs = 0;
  std::vector<std::int64_t> steps;
  void on_validation_end(Trainer& t, LightningModule&) override {
    if (!t.sanity_checking()) ++runs, steps.push_back(t.global_step());
  }
};
}  // namespace

TEST(TrainerLimits, ValCheckIntervalFractionIntAndEveryNEpochs) {
  TempDir root("limits");
  auto [x, y] = regression_data(10);
  {
    LinearModule module;
    auto count = std::make_shared<CountValidation>();
    Trainer trainer(quiet_options(root.str()).max_epochs(1).val_check_interval(0.3).callbacks({count}));
    trainer.fit(module, DataLoader::from_tensors(x, y, 1), DataLoader::from_tensors(x, y, 5));
    // 10 batches, 0.3 → every 3 batches, not forced at the epoch end.
    EXPECT_EQ(count->steps, (std::vector<std::int64_t>{3, 6, 9}));
  }
  {
    LinearModule module;
    auto count = std::make_shared<CountValidation>();
    Trainer trainer(quiet_options(root.str()).max_epochs(4).check_val_every_n_epoch(2).callbacks({count}));
    trainer.fit(module, DataLoader::from_tensors(x, y, 5), DataLoader::from_tensors(x, y, 5));
    EXPECT_EQ(count->steps, (std::vector<std::int64_t>{4, 8}));
  }
  {
    LinearModule module;
    Trainer trainer(quiet_options(root.str()).max_epochs(1).val_check_interval(20));
    EXPECT_THROW(trainer.fit(module, DataLoader::from_tensors(x, y, 1), DataLoader::from_tensors(x, y, 5)),
                 lamin::ConfigurationError);
  }
}

namespace {
// Training steps that take at least `step_ms` each.
struct SlowLinearModule : LinearModule {
  int step_ms = 0;
  torch::Tensor training_step(const Batch& batch, std::int64_t i) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(step_ms));
    return LinearModule::training_step(batch, i);
  }
};

// The global step at every validation, and the time from the previous validation's end (or the training start)
// to its start.
struct TimedValidation : Callback {
  using Clock = std::chrono::steady_clock;
  std::vector<std::int64_t> steps;
  std::vector<double> gaps_s;
  Clock::time_point last;
  void on_train_start(Trainer&, LightningModule&) override { last = Clock::now(); }
  void on_validation_start(Trainer& t, LightningModule&) override {
    if (!t.sanity_checking()) gaps_s.push_back(std::chrono::duration<double>(Clock::now() - last).count());
  }
  void on_validation_end(Trainer& t, LightningModule&) override {
    if (t.sanity_checking()) return;
    steps.push_back(t.global_step());
    last = Clock::now();
  }
};
}  // namespace

TEST(TrainerLimits, ValCheckIntervalAsADuration) {
  // Lightning's forms: "DD:HH:MM:SS", timedelta (any std::chrono duration here), with its messages for bad strings.
  EXPECT_EQ(ValCheckInterval("01:02:03:04").seconds(), 93784.0);
  EXPECT_EQ(ValCheckInterval(std::chrono::milliseconds(1500)).seconds(), 1.5);
  EXPECT_TRUE(ValCheckInterval(std::chrono::hours(2)).is_time_based());
  EXPECT_FALSE(ValCheckInterval(0.5).is_time_based());
  EXPECT_TRUE(ValCheckInterval(1.0) == 1.0);
  EXPECT_FALSE(ValCheckInterval("00:00:00:01") == 1.0);  // a duration is no "once per epoch"
  auto message = [](const char* text) {
    try {
      ValCheckInterval v(text);
      return std::string("no error");
    } catch (const lamin::ConfigurationError& e) {
      return std::string(e.what());
    }
  };
  EXPECT_EQ(message("1:02:03"), "Invalid time format for `val_check_interval`: '1:02:03'. Expected 'DD:HH:MM:SS'.");
  EXPECT_EQ(message("00:00:1.5:00"),
            "Non-integer component in `val_check_interval` string: '00:00:1.5:00'. Use 'DD:HH:MM:SS'.");
  EXPECT_EQ(message("00::00:00"), "Non-integer component in `val_check_interval` string: '00::00:00'. Use 'DD:HH:MM:SS'.");
  EXPECT_NE(message("-1:00:00:00").find("non-negative"), std::string::npos);
  EXPECT_THROW(ValCheckInterval(std::chrono::seconds(-5)), lamin::ConfigurationError);

  TempDir root("val_time");
  auto [x, y] = regression_data(4);
  {
    // A zero interval validates after every training batch.
    LinearModule module;
    auto timed = std::make_shared<TimedValidation>();
    Trainer trainer(quiet_options(root.str()).max_epochs(1).val_check_interval("00:00:00:00").callbacks({timed}));
    trainer.fit(module, DataLoader::from_tensors(x, y, 1), DataLoader::from_tensors(x, y, 2));
    EXPECT_EQ(timed->steps, (std::vector<std::int64_t>{1, 2, 3, 4}));
    EXPECT_TRUE(trainer.val_check_interval_is_time_based());
    EXPECT_EQ(trainer.val_check_batch(), 0);
  }
  {
    // An interval that never elapses: no validation at all, not even at the epoch ends.
    LinearModule module;
    auto timed = std::make_shared<TimedValidation>();
    Trainer trainer(quiet_options(root.str()).max_epochs(2).val_check_interval(std::chrono::hours(1)).callbacks({timed}));
    trainer.fit(module, DataLoader::from_tensors(x, y, 1), DataLoader::from_tensors(x, y, 2));
    EXPECT_TRUE(timed->steps.empty());
    EXPECT_EQ(trainer.global_step(), 8);
  }
  {
    // Steps of at least 40 ms, an interval of 100 ms: validation never comes before the interval has passed since
    // the last one (or the start), and comes within the epoch (8 steps take at least 320 ms).
    SlowLinearModule module;
    module.step_ms = 40;
    auto timed = std::make_shared<TimedValidation>();
    Trainer trainer(quiet_options(root.str())
                        .max_epochs(1)
                        .val_check_interval(std::chrono::milliseconds(100))
                        .callbacks({timed}));
    auto [x8, y8] = regression_data(8);
    trainer.fit(module, DataLoader::from_tensors(x8, y8, 1), DataLoader::from_tensors(x8, y8, 4));
    ASSERT_FALSE(timed->steps.empty());
    for (const double gap : timed->gaps_s) EXPECT_GE(gap, 0.095);
    EXPECT_GE(timed->steps.front(), 3);  // 40 ms steps: 100 ms pass during the third
  }
}

TEST(TrainerLimits, TimeBasedValidationMovesCheckpointingAndEarlyStoppingToValidationEnd) {
  TempDir root("val_time_ckpt");
  auto [x, y] = regression_data(3);
  LinearModule module;
  auto ckpt = std::make_shared<ModelCheckpoint>(
      ModelCheckpointOptions().dirpath((root.path() / "ckpts").string()).monitor("val_loss").save_top_k(-1));
  auto stop = std::make_shared<EarlyStopping>(EarlyStoppingOptions().monitor("val_loss").patience(100));
  Trainer trainer(
      quiet_options(root.str()).max_epochs(1).enable_checkpointing(true).val_check_interval("00:00:00:00").callbacks(
          {ckpt, stop}));
  trainer.fit(module, DataLoader::from_tensors(x, y, 1), DataLoader::from_tensors(x, y, 3));
  EXPECT_FALSE(ckpt->should_save_on_train_epoch_end(trainer));
  // One checkpoint per validation (after every batch here), none at the epoch end.
  for (const char* name : {"epoch=0-step=1.ckpt", "epoch=0-step=2.ckpt", "epoch=0-step=3.ckpt"}) {
    EXPECT_TRUE(std::filesystem::exists(root.path() / "ckpts" / name)) << name;
  }
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(root.path() / "ckpts"),
                          std::filesystem::directory_iterator()),
            3);
  // EarlyStopping checks after each validation (Lightning 2.6 fails in its setup here: no `val_check_interval`).
  EXPECT_EQ(stop->check_on_train_epoch_end(), std::optional<bool>(false));
  EXPECT_TRUE(std::isfinite(stop->best_score()));
}

TEST(TrainerLimits, MaxStepsStopsMidEpochAndLimitsApply) {
  TempDir root("maxsteps");
  auto [x, y] = regression_data(10);
  LinearModule module;
  Trainer trainer(quiet_options(root.str()).max_steps(7).limit_train_batches(5));
  trainer.fit(module, DataLoader::from_tensors(x, y, 1));
  EXPECT_EQ(trainer.global_step(), 7);
  EXPECT_EQ(trainer.current_epoch(), 2);  // epoch 1 stopped after 2 of 5 batches, and still counts as run
  EXPECT_EQ(trainer.num_training_batches(), 5);

  LinearModule half;
  Trainer t2(quiet_options(root.str()).max_epochs(1).limit_train_batches(0.5));
  t2.fit(half, DataLoader::from_tensors(x, y, 1));
  EXPECT_EQ(t2.global_step(), 5);
}

TEST(TrainerLimits, AccumulateGradBatchesStepsEveryNBatches) {
  TempDir root("accumulate");
  auto [x, y] = regression_data(8);
  LinearModule module;
  Trainer trainer(quiet_options(root.str()).max_epochs(2).accumulate_grad_batches(3));
  trainer.fit(module, DataLoader::from_tensors(x, y, 1));
  // 8 batches per epoch: steps after batches 3, 6 and the last one → 3 per epoch.
  EXPECT_EQ(trainer.global_step(), 6);
}

TEST(TrainerConfig, InvalidOptionsAreConfigurationErrors) {
  EXPECT_THROW(Trainer(TrainerOptions().accumulate_grad_batches(0)), lamin::ConfigurationError);
  EXPECT_THROW(Trainer(TrainerOptions().precision("8-bit")), lamin::ConfigurationError);
  EXPECT_THROW(Trainer(TrainerOptions().accelerator("tpu")), lamin::ConfigurationError);
  if (!torch::cuda::is_available()) {
    EXPECT_THROW(Trainer(TrainerOptions().accelerator("cuda")), lamin::ConfigurationError);
  }
}

TEST(TrainerDistributed, RankAndWorldSizeComeFromTheEnvironmentAndGateWrites) {
  TempDir root("rank");
  ::setenv("RANK", "1", 1);
  ::setenv("WORLD_SIZE", "2", 1);
  ::setenv("LOCAL_RANK", "1", 1);
  {
    auto [x, y] = regression_data(4);
    LinearModule module;
    Trainer trainer(quiet_options(root.str()).max_epochs(1));
    EXPECT_FALSE(trainer.is_global_zero());
    EXPECT_EQ(trainer.world_size(), 2);
    EXPECT_EQ(trainer.local_rank(), 1);
    trainer.fit(module, DataLoader::from_tensors(x, y, 2));
    trainer.save_checkpoint((root / "rank1.ckpt").string());
    EXPECT_FALSE(std::filesystem::exists(root / "rank1.ckpt"));
  }
  ::unsetenv("RANK");
  ::unsetenv("WORLD_SIZE");
  ::unsetenv("LOCAL_RANK");
}

TEST(TrainerData, DataModuleAndTorchDataLoadersWork) {
  struct Data : LightningDataModule {
    bool setup_called = false;
    void setup(const std::string& stage) override { setup_called = stage == "fit"; }
    DataLoader train_dataloader() override {
      auto [x, y] = regression_data(12);
      return DataLoader::from_dataset(torch::data::datasets::TensorDataset({x}), 4);
    }
  };
  struct TensorModule : LinearModule {
    torch::Tensor training_step(const Batch& b, std::int64_t) override {
      // TensorDataset yields Example<Tensor, NoTarget>; Stack gives batches of 4 rows.
      EXPECT_EQ(b.data.size(0), 4);
      return layer->forward(b.data).pow(2).mean();
    }
  };
  TempDir root("datamodule");
  Data data;
  data.save_hyperparameters({{"batch_size", 4}});
  TensorModule module;
  Trainer trainer(quiet_options(root.str()).max_epochs(2));
  trainer.fit(module, data);
  EXPECT_TRUE(data.setup_called);
  EXPECT_EQ(trainer.num_training_batches(), 3);
  EXPECT_EQ(trainer.global_step(), 6);
}

TEST(TrainerPaths, DefaultRootDirIsNormpathOfExpanduserAsInLightning) {
  const std::string home = std::getenv("HOME");
  EXPECT_EQ(Trainer(TrainerOptions().default_root_dir("~/runs/./a/..")).default_root_dir(),
            home + "/runs");
  // `~name` is another user's home (or stays as written), never $HOME with the name glued on.
  EXPECT_EQ(Trainer(TrainerOptions().default_root_dir("~no-such-user-lamin/x")).default_root_dir(),
            "~no-such-user-lamin/x");
  EXPECT_EQ(Trainer(TrainerOptions().default_root_dir("~root/x")).default_root_dir(),
            std::filesystem::path(getpwnam("root")->pw_dir).append("x").string());
}

namespace {

/// A one-device strategy that records what the trainer asks of it.
struct RecordingStrategy : Strategy {
  explicit RecordingStrategy(ProcessRanks ranks) : Strategy(ranks) {}
  c10::Device root_device() const override { return torch::kCPU; }
  void reduce_gradients(LightningModule& module) override {
    calls.push_back("reduce_gradients");
    // The gradients of this step exist and have not been stepped on yet.
    for (const auto& p : module.parameters()) grads_defined = grads_defined && p.grad().defined();
  }
  void barrier(const std::string& name) override { calls.push_back("barrier " + name); }
  std::vector<std::string> calls;
  bool grads_defined = true;
};

struct OptimizerStepProbe : Callback {
  explicit OptimizerStepProbe(std::vector<std::string>& calls) : calls_(calls) {}
  void on_before_optimizer_step(Trainer&, LightningModule&, torch::optim::Optimizer&) override {
    calls_.push_back("on_before_optimizer_step");
  }
  std::vector<std::string>& calls_;
};

}  // namespace

TEST(TrainerStrategy, AutoIsOneDeviceWithTheEnvironmentsRanks) {
  Trainer trainer(TrainerOptions().accelerator("cpu").enable_progress_bar(false).logger(false));
  auto* single = dynamic_cast<SingleDeviceStrategy*>(&trainer.strategy());
  ASSERT_NE(single, nullptr);
  EXPECT_EQ(single->root_device(), torch::Device(torch::kCPU));
  EXPECT_EQ(trainer.device(), torch::Device(torch::kCPU));
  EXPECT_TRUE(trainer.is_global_zero());
  ::setenv("RANK", "one", 1);
  EXPECT_THROW(Trainer(TrainerOptions().accelerator("cpu")), lamin::ConfigurationError);
  ::unsetenv("RANK");
}

TEST(TrainerStrategy, GradientsAreReducedOncePerOptimizerStepBeforeItsHooks) {
  TempDir root("strategy");
  auto [x, y] = regression_data(8);
  LinearModule module;
  auto strategy = std::make_shared<RecordingStrategy>(ProcessRanks{1, 0, 2});
  auto probe = std::make_shared<OptimizerStepProbe>(strategy->calls);
  Trainer trainer(quiet_options(root.str()).max_epochs(2).accumulate_grad_batches(3).strategy(strategy).callbacks(
      {probe}));
  EXPECT_EQ(&trainer.strategy(), strategy.get());
  EXPECT_FALSE(trainer.is_global_zero());
  EXPECT_EQ(trainer.world_size(), 2);
  trainer.fit(module, DataLoader::from_tensors(x, y, 1));
  ASSERT_EQ(trainer.global_step(), 6);
  std::vector<std::string> expected;
  for (int step = 0; step < 6; ++step) {
    expected.insert(expected.end(), {"reduce_gradients", "on_before_optimizer_step"});
  }
  EXPECT_EQ(strategy->calls, expected);
  EXPECT_TRUE(strategy->grads_defined);
  // Rank 1 writes no checkpoint, and waits at the barrier.
  trainer.save_checkpoint((root / "rank1.ckpt").string());
  EXPECT_FALSE(std::filesystem::exists(root / "rank1.ckpt"));
  EXPECT_EQ(strategy->calls.back(), "barrier Trainer.save_checkpoint");
}
