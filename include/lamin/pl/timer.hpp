#pragma once
// Timer: Lightning's callback that tracks the time spent in training, validation and test, and stops training when
// a time limit is reached. `TrainerOptions::max_time` adds one.

#include <chrono>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "lamin/pl/callback.hpp"

namespace lamin::pl {

/// Lightning's `Timer`. With a `duration`, training stops (`trainer.should_stop()`, so `min_epochs` / `min_steps`
/// still hold) once the time spent since `on_train_start`, plus what a resumed checkpoint had already spent, reaches
/// it: checked after every training batch (`interval` "step") or every training epoch ("epoch"), and at fit start,
/// so a checkpoint whose time is used up stops at once. Its state, `{"time_elapsed": {stage: seconds}}` for the
/// stages train, sanity_check, validate, test and predict, is saved in checkpoints under "Timer".
class Timer : public Callback {
 public:
  using Seconds = std::chrono::duration<double>;

  /// Throws lamin::ConfigurationError for an interval other than "step" or "epoch".
  explicit Timer(std::optional<Seconds> duration = std::nullopt, const std::string& interval = "step",
                 bool verbose = true);
  /// `duration` as Lightning's "DD:HH:MM:SS" string, e.g. "00:12:00:00" for twelve hours.
  explicit Timer(const std::string& duration, const std::string& interval = "step", bool verbose = true);
  explicit Timer(const char* duration, const std::string& interval = "step", bool verbose = true)
      : Timer(std::string(duration), interval, verbose) {}

  /// Parses "DD:HH:MM:SS" (days of any number of digits, then two digits each); throws lamin::ConfigurationError.
  static Seconds parse_duration(const std::string& text);

  /// The limit in seconds, if any.
  std::optional<double> duration() const { return duration_; }
  const std::string& interval() const { return interval_; }

  /// When `stage` ("train", "validate", "test", "sanity_check", "predict") last started / ended, in seconds on the
  /// steady clock; nullopt if it has not. Throws lamin::ConfigurationError for another stage name.
  std::optional<double> start_time(const std::string& stage = "train") const;
  std::optional<double> end_time(const std::string& stage = "train") const;
  /// Seconds spent in `stage` (so far, if it is running); for "train", plus the time a resumed checkpoint recorded.
  double time_elapsed(const std::string& stage = "train") const;
  /// `duration - time_elapsed(stage)`, or nullopt without a duration.
  std::optional<double> time_remaining(const std::string& stage = "train") const;

  std::string state_key() const override { return "Timer"; }
  nlohmann::json state_dict() const override;
  void load_state_dict(const nlohmann::json& state) override;

  void on_train_start(Trainer&, LightningModule&) override;
  void on_train_end(Trainer&, LightningModule&) override;
  void on_validation_start(Trainer&, LightningModule&) override;
  void on_validation_end(Trainer&, LightningModule&) override;
  void on_test_start(Trainer&, LightningModule&) override;
  void on_test_end(Trainer&, LightningModule&) override;
  void on_fit_start(Trainer& trainer, LightningModule&) override;
  void on_train_batch_end(Trainer& trainer, LightningModule&, const StepOutput&, const Batch&,
                          std::int64_t batch_idx) override;
  void on_train_epoch_end(Trainer& trainer, LightningModule&) override;

 private:
  void check_time_remaining(Trainer& trainer);
  static double now();

  std::optional<double> duration_;
  std::string interval_;
  bool verbose_;
  std::map<std::string, std::optional<double>> start_, end_;
  nlohmann::json offset_ = 0;  // the train time a checkpoint recorded (kept as loaded: Python int 0 or a float)
};

/// Python's `str(timedelta(seconds=s))` for whole seconds: "0:00:05", "1 day, 2:03:04".
std::string format_timedelta(std::int64_t seconds);

}  // namespace lamin::pl
