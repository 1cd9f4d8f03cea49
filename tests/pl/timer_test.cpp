// Timer and TrainerOptions::max_time: Lightning's duration format, stopping mid-epoch or at the epoch end,
// min_epochs still honoured, the state saved in checkpoints and a resumed run whose time is used up.
//
// Steps sleep so that elapsed time has a lower bound; every assertion holds however slow the machine is (a slower
// step only makes the limit come sooner in steps).

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "common/torch/training.hpp"
#include "lamin/error.hpp"
#include "lamin/pl/checkpoint_io.hpp"
#include "lamin/pl/model_checkpoint.hpp"
#include "lamin/pl/timer.hpp"
#include "lamin/pl/trainer.hpp"

using namespace lamin::pl;
using namespace std::chrono_literals;
using namespace lamin::test;

namespace {

struct SlowModule : LinearModule {
  std::chrono::milliseconds step_time{20};
  at::Tensor training_step(const Batch& batch, std::int64_t i) override {
    std::this_thread::sleep_for(step_time);
    return LinearModule::training_step(batch, i);
  }
};

DataLoader ten_batches() {
  auto [x, y] = regression_data(40);
  return DataLoader::from_tensors(x, y, 4);
}

}  // namespace

TEST(Timer, ParsesLightningsDurationFormat) {
  EXPECT_DOUBLE_EQ(Timer::parse_duration("00:12:00:00").count(), 12 * 3600.0);
  EXPECT_DOUBLE_EQ(Timer::parse_duration(" 1:00:00:05 ").count(), 86405.0);
  EXPECT_DOUBLE_EQ(Timer::parse_duration("100:23:59:59").count(), ((100 * 24 + 23) * 60 + 59) * 60 + 59.0);
  for (const char* bad : {"12:00:00", "00:1:00:00", "00:12:00:00:00", "00:12:00:0x", "", "aa:bb:cc:dd"}) {
    try {
      Timer t(bad);
      FAIL() << bad << " was accepted";
    } catch (const lamin::ConfigurationError& e) {
      EXPECT_NE(std::string(e.what()).find("Expected a string in the format DD:HH:MM:SS"), std::string::npos)
          << e.what();
    }
  }
  EXPECT_THROW(Timer(1s, "batch"), lamin::ConfigurationError);
  EXPECT_THROW(Timer(-1s), lamin::ConfigurationError);
  Timer t("00:00:01:30", "epoch");
  EXPECT_EQ(t.duration(), 90.0);
  EXPECT_EQ(t.interval(), "epoch");
  EXPECT_THROW(t.time_elapsed("training"), lamin::ConfigurationError);
  EXPECT_EQ(format_timedelta(5), "0:00:05");
  EXPECT_EQ(format_timedelta(86400 + 2 * 3600 + 3 * 60 + 4), "1 day, 2:03:04");
  EXPECT_EQ(format_timedelta(3 * 86400), "3 days, 0:00:00");
}

TEST(Timer, StopsTrainingMidEpochOnceTheLimitIsReached) {
  TempDir dir;
  auto timer = std::make_shared<Timer>(100ms);  // 10 steps of >= 20 ms cannot fit
  Trainer trainer(quiet_options(dir.str()).max_epochs(5).callbacks({timer}));
  SlowModule m;
  EXPECT_EQ(timer->start_time(), std::nullopt);
  trainer.fit(m, ten_batches());
  EXPECT_GE(trainer.global_step(), 1);
  EXPECT_LT(trainer.global_step(), 10);  // stopped inside the first epoch
  EXPECT_GE(timer->time_elapsed(), 0.1);
  ASSERT_TRUE(timer->start_time() && timer->end_time());
  EXPECT_LT(*timer->start_time(), *timer->end_time());
  EXPECT_LE(*timer->time_remaining(), 0.0);
  // Without a running stage the elapsed time stays put.
  const double elapsed = timer->time_elapsed();
  std::this_thread::sleep_for(20ms);
  EXPECT_DOUBLE_EQ(timer->time_elapsed(), elapsed);
}

TEST(Timer, TheEpochIntervalFinishesTheEpoch) {
  TempDir dir;
  auto timer = std::make_shared<Timer>(50ms, "epoch");
  Trainer trainer(quiet_options(dir.str()).max_epochs(5).callbacks({timer}));
  SlowModule m;
  trainer.fit(m, ten_batches());
  EXPECT_EQ(trainer.global_step(), 10);
  EXPECT_EQ(trainer.current_epoch(), 1);
}

TEST(Timer, MinEpochsStillHold) {
  TempDir dir;
  auto timer = std::make_shared<Timer>(0s);
  Trainer trainer(quiet_options(dir.str()).max_epochs(5).min_epochs(2).callbacks({timer}));
  SlowModule m;
  m.step_time = 0ms;
  trainer.fit(m, ten_batches());
  EXPECT_EQ(trainer.global_step(), 20);
  EXPECT_EQ(trainer.current_epoch(), 2);
}

TEST(Timer, MaxTimeAddsATimerAndLiftsTheEpochDefault) {
  TempDir dir;
  Trainer trainer(quiet_options(dir.str()).max_time(100ms));
  EXPECT_EQ(trainer.max_epochs(), -1);  // not 1000: the time limit ends the run
  int timers = 0;
  for (const auto& cb : trainer.callbacks()) timers += dynamic_cast<Timer*>(cb.get()) != nullptr;
  EXPECT_EQ(timers, 1);
  SlowModule m;
  trainer.fit(m, ten_batches());
  EXPECT_LT(trainer.global_step(), 10);

  // A Timer of the user's own wins over max_time.
  auto mine = std::make_shared<Timer>(1h);
  Trainer with_mine(quiet_options(dir.str()).max_time(100ms).callbacks({mine}));
  timers = 0;
  for (const auto& cb : with_mine.callbacks()) timers += dynamic_cast<Timer*>(cb.get()) != nullptr;
  EXPECT_EQ(timers, 1);
  EXPECT_EQ(Trainer(quiet_options(dir.str())).max_epochs(), 1000);
}

TEST(Timer, StateIsSavedAndAResumeWithItsTimeUsedUpStopsAtOnce) {
  TempDir dir;
  const std::string ckpt_dir = dir.str() + "/ckpt";
  std::string last;
  {
    auto timer = std::make_shared<Timer>();  // no limit: only measures
    auto ckpt = std::make_shared<ModelCheckpoint>(ModelCheckpointOptions().dirpath(ckpt_dir).save_last(true));
    Trainer trainer(quiet_options(dir.str()).enable_checkpointing(true).max_epochs(2).callbacks({timer, ckpt}));
    SlowModule m;
    m.step_time = 10ms;
    trainer.fit(m, ten_batches());
    last = ckpt->last_model_path();
  }
  const CheckpointDict saved = load_checkpoint_file(last);
  const nlohmann::json state = ivalue_to_json(saved.at("callbacks").toGenericDict().at("Timer"));
  const auto& elapsed = state.at("time_elapsed");
  for (const char* stage : {"train", "sanity_check", "validate", "test", "predict"}) {
    EXPECT_TRUE(elapsed.contains(stage)) << stage;
  }
  EXPECT_TRUE(elapsed.at("train").is_number_float());
  EXPECT_GE(elapsed.at("train").get<double>(), 0.1);  // at least 10 steps of 10 ms before the last save
  EXPECT_TRUE(elapsed.at("predict").is_number_integer());  // Python's int 0 for a stage that never ran
  EXPECT_EQ(elapsed.at("predict"), 0);

  // Resuming with a limit below the recorded time: on_fit_start stops the run before any step.
  auto timer = std::make_shared<Timer>(50ms);
  Trainer resumed(quiet_options(dir.str()).max_epochs(10).callbacks({timer}));
  SlowModule m;
  resumed.fit(m, ten_batches(), {}, last);
  EXPECT_EQ(resumed.global_step(), 20);
  EXPECT_GE(timer->time_elapsed(), elapsed.at("train").get<double>());
}
