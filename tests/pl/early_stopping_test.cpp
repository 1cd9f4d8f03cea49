// EarlyStopping with a real Trainer: patience, mode/min_delta, thresholds, non-finite values, missing monitor,
// the check_on_train_epoch_end rule, the sanity check, messages, state and state_key.

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "common/torch/training.hpp"
#include "lamin/error.hpp"
#include "lamin/log.hpp"
#include "lamin/pl/early_stopping.hpp"
#include "lamin/pl/module.hpp"
#include "lamin/pl/trainer.hpp"

namespace {

namespace fs = std::filesystem;
namespace pl = lamin::pl;

using lamin::test::quiet_options;
using lamin::test::random_dataloader;
using lamin::test::TempDir;

// Logs `val_loss` from a script: indexed by epoch, or by validation run when `per_run` (the last value repeats).
struct ScriptedModule : pl::LightningModule {
  torch::nn::Linear layer{nullptr};
  std::vector<double> values;
  bool per_run = false;
  std::int64_t runs = 0;

  explicit ScriptedModule(std::vector<double> v) : values(std::move(v)) {
    layer = register_module("layer", torch::nn::Linear(2, 1));
  }
  at::Tensor training_step(const pl::Batch& batch, std::int64_t) override {
    auto loss = torch::mse_loss(layer->forward(batch.data), batch.target);
    log("train_loss", loss);
    return loss;
  }
  void validation_step(const pl::Batch&, std::int64_t) override {
    const std::int64_t i = per_run ? runs : trainer().current_epoch();
    log("val_loss", values[std::min<std::size_t>(static_cast<std::size_t>(i), values.size() - 1)]);
  }
  void on_validation_end() override {
    if (!trainer().sanity_checking()) ++runs;
  }
  pl::OptimizerConfig configure_optimizers() override {
    std::shared_ptr<torch::optim::Optimizer> opt =
        std::make_shared<torch::optim::SGD>(parameters(), torch::optim::SGDOptions(0.01));
    return opt;
  }
};

pl::DataLoader loader() { return random_dataloader(16, 2, 4); }  // 4 batches

pl::TrainerOptions options(const TempDir& tmp, std::shared_ptr<pl::Callback> cb, std::int64_t max_epochs = 20) {
  return quiet_options(tmp.str()).max_epochs(max_epochs).callbacks({std::move(cb)});
}

// Collects the info messages EarlyStopping writes when verbose.
class InfoCapture {
 public:
  InfoCapture() {
    lamin::log::set_level(lamin::log::Level::info);
    handle_ = lamin::log::add_listener([this](lamin::log::Level, std::string_view m) { messages.emplace_back(m); });
  }
  ~InfoCapture() { lamin::log::remove_listener(handle_); }
  bool contains(const std::string& text) const {
    for (const auto& m : messages)
      if (m.find(text) != std::string::npos) return true;
    return false;
  }
  std::vector<std::string> messages;

 private:
  int handle_;
};

TEST(EarlyStopping, StopsWhenPatienceIsExhausted) {
  TempDir tmp;
  auto es = std::make_shared<pl::EarlyStopping>(pl::EarlyStoppingOptions().monitor("val_loss").patience(3).verbose(true));
  ScriptedModule module({0.5, 0.4, 0.45, 0.41, 0.42, 0.1});
  InfoCapture info;
  pl::Trainer trainer(options(tmp, es));
  trainer.fit(module, loader(), loader());
  EXPECT_EQ(es->stopped_epoch(), 4);
  EXPECT_EQ(trainer.current_epoch(), 5);  // epochs 0..4 ran, not 20
  EXPECT_EQ(es->wait_count(), 3);
  EXPECT_EQ(es->best_score(), 0.4f);
  EXPECT_EQ(es->stopping_reason(), pl::EarlyStoppingReason::patience_exhausted);
  const std::string stop =
      "Monitored metric val_loss did not improve in the last 3 records. Best score: 0.400. Signaling Trainer to stop.";
  EXPECT_EQ(es->stopping_reason_message(), std::optional<std::string>(stop));
  EXPECT_TRUE(info.contains("Metric val_loss improved. New best score: 0.500"));
  EXPECT_TRUE(info.contains("Metric val_loss improved by 0.100 >= min_delta = 0.0. New best score: 0.400"));
  EXPECT_TRUE(info.contains(stop));
  EXPECT_TRUE(es->check_on_train_epoch_end().value_or(false));  // validation once per epoch
}

TEST(EarlyStopping, MaxModeWithMinDelta) {
  TempDir tmp;
  auto es = std::make_shared<pl::EarlyStopping>(
      pl::EarlyStoppingOptions().monitor("val_loss").mode("max").min_delta(0.05).patience(2));
  ScriptedModule module({0.5, 0.54, 0.6, 0.62, 0.64, 0.9});
  pl::Trainer trainer(options(tmp, es));
  trainer.fit(module, loader(), loader());
  // 0.54 and 0.62/0.64 are not better by more than 0.05; 0.6 is.
  EXPECT_EQ(es->stopped_epoch(), 4);
  EXPECT_EQ(es->best_score(), 0.6f);
  EXPECT_EQ(es->min_delta(), 0.05);
}

TEST(EarlyStopping, StoppingThreshold) {
  TempDir tmp;
  auto es = std::make_shared<pl::EarlyStopping>(
      pl::EarlyStoppingOptions().monitor("val_loss").stopping_threshold(0.1).patience(100));
  ScriptedModule module({0.5, 0.3, 0.05, 0.01});
  pl::Trainer trainer(options(tmp, es));
  trainer.fit(module, loader(), loader());
  EXPECT_EQ(es->stopped_epoch(), 2);
  EXPECT_EQ(es->stopping_reason(), pl::EarlyStoppingReason::stopping_threshold);
  EXPECT_EQ(*es->stopping_reason_message(),
            "Stopping threshold reached: val_loss = 0.05000000074505806 < 0.1. Signaling Trainer to stop.");
}

TEST(EarlyStopping, DivergenceThreshold) {
  TempDir tmp;
  auto es = std::make_shared<pl::EarlyStopping>(
      pl::EarlyStoppingOptions().monitor("val_loss").divergence_threshold(1.0).patience(100));
  ScriptedModule module({0.5, 0.4, 5.0, 0.1});
  pl::Trainer trainer(options(tmp, es));
  trainer.fit(module, loader(), loader());
  EXPECT_EQ(es->stopped_epoch(), 2);
  EXPECT_EQ(es->stopping_reason(), pl::EarlyStoppingReason::divergence_threshold);
  EXPECT_EQ(*es->stopping_reason_message(),
            "Divergence threshold reached: val_loss = 5.0 < 1.0. Signaling Trainer to stop.");
}

TEST(EarlyStopping, NonFiniteValueStops) {
  TempDir tmp;
  auto es = std::make_shared<pl::EarlyStopping>("val_loss");
  ScriptedModule module({0.5, std::numeric_limits<double>::quiet_NaN(), 0.1});
  pl::Trainer trainer(options(tmp, es));
  trainer.fit(module, loader(), loader());
  EXPECT_EQ(es->stopped_epoch(), 1);
  EXPECT_EQ(es->stopping_reason(), pl::EarlyStoppingReason::non_finite_metric);
  EXPECT_EQ(*es->stopping_reason_message(),
            "Monitored metric val_loss = nan is not finite. Previous best value was 0.500. Signaling Trainer to stop.");
}

TEST(EarlyStopping, MissingMonitorRaisesWhenStrict) {
  TempDir tmp;
  auto es = std::make_shared<pl::EarlyStopping>("val_acc");
  ScriptedModule module({0.5});
  pl::Trainer trainer(options(tmp, es, 3));
  try {
    trainer.fit(module, loader(), loader());
    FAIL() << "expected an error";
  } catch (const lamin::ConfigurationError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("Early stopping conditioned on metric `val_acc` which is not available. Pass in or modify "
                        "your `EarlyStopping` callback to use any of the following: `"),
              std::string::npos)
        << what;
    EXPECT_NE(what.find("`val_loss`"), std::string::npos) << what;
  }
}

TEST(EarlyStopping, MissingMonitorIsSkippedWhenNotStrict) {
  TempDir tmp;
  auto es = std::make_shared<pl::EarlyStopping>(pl::EarlyStoppingOptions().monitor("val_acc").strict(false));
  ScriptedModule module({0.5});
  pl::Trainer trainer(options(tmp, es, 3));
  trainer.fit(module, loader(), loader());
  EXPECT_EQ(trainer.current_epoch(), 3);
  EXPECT_EQ(es->stopped_epoch(), 0);
  EXPECT_EQ(es->stopping_reason(), pl::EarlyStoppingReason::not_stopped);
}

TEST(EarlyStopping, ChecksAfterEachValidationWhenValidatingTwicePerEpoch) {
  TempDir tmp;
  auto es = std::make_shared<pl::EarlyStopping>(pl::EarlyStoppingOptions().monitor("val_loss").patience(2));
  ScriptedModule module({0.5, 0.6, 0.7, 0.8});
  module.per_run = true;
  pl::Trainer trainer(options(tmp, es).val_check_interval(0.5));
  trainer.fit(module, loader(), loader());
  EXPECT_EQ(es->check_on_train_epoch_end(), std::optional<bool>(false));
  // Runs 0, 1 in epoch 0; run 2 (the second without improvement) is the first validation of epoch 1.
  EXPECT_EQ(es->stopped_epoch(), 1);
  EXPECT_EQ(module.runs, 3);
}

TEST(EarlyStopping, SanityCheckIsIgnored) {
  TempDir tmp;
  auto es = std::make_shared<pl::EarlyStopping>(
      pl::EarlyStoppingOptions().monitor("val_loss").patience(1).check_on_train_epoch_end(false));
  ScriptedModule module({0.5});
  pl::Trainer trainer(options(tmp, es).num_sanity_val_steps(2));
  trainer.fit(module, loader(), loader());
  // Had the sanity run counted, 0.5 would be the best before epoch 0 and the run would stop in epoch 0.
  EXPECT_EQ(es->stopped_epoch(), 1);
}

TEST(EarlyStopping, StateKeyStateDictAndMode) {
  pl::EarlyStopping es("val_loss");
  EXPECT_EQ(es.state_key(), "EarlyStopping{'monitor': 'val_loss', 'mode': 'min'}");
  EXPECT_EQ(pl::EarlyStopping(pl::EarlyStoppingOptions().monitor("acc").mode("max")).state_key(),
            "EarlyStopping{'monitor': 'acc', 'mode': 'max'}");
  EXPECT_EQ(es.best_score(), std::numeric_limits<float>::infinity());
  EXPECT_EQ(es.min_delta(), -0.0);
  try {
    pl::EarlyStopping bad(pl::EarlyStoppingOptions().monitor("x").mode("avg"));
    FAIL() << "expected an error";
  } catch (const lamin::ConfigurationError& e) {
    EXPECT_STREQ(e.what(), "`mode` can be min, max, got avg");
  }

  const nlohmann::json state = {{"wait_count", 2},      {"stopped_epoch", 7},
                                {"best_score", 0.25},   {"patience", 5},
                                {"stopping_reason", 3}, {"stopping_reason_message", "done"}};
  es.load_state_dict(state);
  EXPECT_EQ(es.wait_count(), 2);
  EXPECT_EQ(es.stopped_epoch(), 7);
  EXPECT_EQ(es.best_score(), 0.25f);
  EXPECT_EQ(es.patience(), 5);
  EXPECT_EQ(es.stopping_reason(), pl::EarlyStoppingReason::patience_exhausted);
  EXPECT_EQ(es.state_dict(), state);

  pl::EarlyStopping fresh("val_loss");
  const nlohmann::json initial = fresh.state_dict();
  EXPECT_EQ(initial["wait_count"], 0);
  EXPECT_TRUE(initial["stopping_reason_message"].is_null());
  EXPECT_TRUE(std::isinf(initial["best_score"].get<double>()));
}

}  // namespace
