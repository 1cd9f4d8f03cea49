#pragma once
// Trainer: Lightning's fit / validate / test loops for LibTorch modules.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/optim/optimizer.h>

#include "lamin/arg.hpp"
#include "lamin/pl/callback.hpp"
#include "lamin/pl/data.hpp"
#include "lamin/pl/logger.hpp"
#include "lamin/pl/metrics.hpp"
#include "lamin/pl/module.hpp"
#include "lamin/pl/optim.hpp"
#include "lamin/pl/strategy.hpp"

namespace lamin::pl {

class ModelCheckpoint;
class EarlyStopping;
class ProgressBar;

/// A Python `int | float` option (Lightning gives ints and floats different meanings, e.g. `val_check_interval=1`
/// validates after every batch while `1.0` validates once per epoch).
class IntOrFloat {
 public:
  IntOrFloat(int v) : is_int_(true), int_(v) {}  // NOLINT: implicit on purpose
  IntOrFloat(long v) : is_int_(true), int_(v) {}  // NOLINT
  IntOrFloat(long long v) : is_int_(true), int_(static_cast<std::int64_t>(v)) {}  // NOLINT
  IntOrFloat(double v) : is_int_(false), float_(v) {}  // NOLINT
  bool is_int() const { return is_int_; }
  std::int64_t as_int() const { return is_int_ ? int_ : static_cast<std::int64_t>(float_); }
  double as_double() const { return is_int_ ? static_cast<double>(int_) : float_; }
  /// Python's `==` between the number and a double.
  bool operator==(double other) const { return as_double() == other; }

 private:
  bool is_int_;
  std::int64_t int_ = 0;
  double float_ = 0.0;
};

/// Lightning's `val_check_interval`: a number (an int counts training batches, a float is a fraction of the epoch),
/// or a wall-clock duration, as `"DD:HH:MM:SS"` or any `std::chrono` duration (Lightning's `timedelta` and dict
/// forms). Time-based, validation runs after the first training batch that ends once the interval has passed since
/// the last validation (or since training started), whatever the epoch; `check_val_every_n_epoch` still gates the
/// epochs it may run in.
class ValCheckInterval {
 public:
  ValCheckInterval(int v) : number_(v) {}        // NOLINT: implicit on purpose, as the Python argument
  ValCheckInterval(long v) : number_(v) {}       // NOLINT
  ValCheckInterval(long long v) : number_(v) {}  // NOLINT
  ValCheckInterval(double v) : number_(v) {}     // NOLINT
  ValCheckInterval(IntOrFloat v) : number_(v) {}  // NOLINT
  template <typename Rep, typename Period>
  ValCheckInterval(std::chrono::duration<Rep, Period> d)  // NOLINT
      : number_(1.0), seconds_(checked_seconds(std::chrono::duration<double>(d).count())) {}
  /// "DD:HH:MM:SS" (four integers). Throws ConfigurationError with Lightning's message otherwise.
  ValCheckInterval(const char* dd_hh_mm_ss);         // NOLINT
  ValCheckInterval(const std::string& dd_hh_mm_ss);  // NOLINT

  bool is_time_based() const { return seconds_.has_value(); }
  /// The interval in seconds when time-based.
  std::optional<double> seconds() const { return seconds_; }
  /// The number form (1.0 when time-based, which is not a number of batches).
  const IntOrFloat& number() const { return number_; }
  bool is_int() const { return !is_time_based() && number_.is_int(); }
  std::int64_t as_int() const { return number_.as_int(); }
  double as_double() const { return number_.as_double(); }
  /// Python's `==` with a number: a duration equals none (so "once per epoch" checks are false for it).
  bool operator==(double other) const { return !is_time_based() && number_ == other; }

 private:
  static double checked_seconds(double s);
  IntOrFloat number_;
  std::optional<double> seconds_;
};

/// Trainer settings, with Lightning's names and defaults.
struct TrainerOptions {
  /// Default: 1000 when max_steps is -1 and there is no max_time (with a warning), unlimited otherwise.
  LAMIN_ARG(std::optional<std::int64_t>, max_epochs) = std::nullopt;
  LAMIN_ARG(std::int64_t, max_steps) = -1;
  /// Stop training after this much time (Lightning's `max_time`): adds a `Timer` checking after every step, unless
  /// `callbacks` has one. With it and no `max_epochs` / `max_steps`, the epoch limit is lifted instead of 1000.
  LAMIN_ARG(std::optional<std::chrono::duration<double>>, max_time) = std::nullopt;
  LAMIN_ARG(std::optional<std::int64_t>, min_epochs) = std::nullopt;
  LAMIN_ARG(std::optional<std::int64_t>, min_steps) = std::nullopt;
  LAMIN_ARG(IntOrFloat, limit_train_batches) = 1.0;
  LAMIN_ARG(IntOrFloat, limit_val_batches) = 1.0;
  LAMIN_ARG(IntOrFloat, limit_test_batches) = 1.0;
  LAMIN_ARG(IntOrFloat, limit_predict_batches) = 1.0;
  /// A number of batches (int), a fraction of the epoch (float), or a duration ("DD:HH:MM:SS", std::chrono).
  LAMIN_ARG(ValCheckInterval, val_check_interval) = 1.0;
  /// nullopt: validation is counted in global batches (Lightning's `check_val_every_n_epoch=None`).
  LAMIN_ARG(std::optional<std::int64_t>, check_val_every_n_epoch) = 1;
  LAMIN_ARG(std::int64_t, num_sanity_val_steps) = 2;
  LAMIN_ARG(std::int64_t, accumulate_grad_batches) = 1;
  LAMIN_ARG(std::optional<double>, gradient_clip_val) = std::nullopt;
  /// "norm" or "value".
  LAMIN_ARG(std::string, gradient_clip_algorithm) = "norm";
  LAMIN_ARG(std::int64_t, log_every_n_steps) = 50;
  /// 0: off; n >= 1: run n batches of training and validation, with no checkpoints or logs (true == 1).
  LAMIN_ARG(std::int64_t, fast_dev_run) = 0;
  /// Default: the current working directory.
  LAMIN_ARG(std::string, default_root_dir) = "";
  /// "cpu", "cuda", "gpu" or "auto".
  LAMIN_ARG(std::string, accelerator) = "auto";
  /// Device index for "cuda" (Lightning's `devices=[i]`); one device per process.
  LAMIN_ARG(std::int64_t, device_index) = 0;
  /// Lightning's `strategy`: null ("auto") is a SingleDeviceStrategy on the accelerator's device with the ranks
  /// of the environment; a given one decides the device itself (`accelerator` and `device_index` are not read).
  LAMIN_ARG(std::shared_ptr<Strategy>, strategy) = nullptr;
  /// "32-true", "64-true", "16-true", "bf16-true" (weights and inputs cast), "16-mixed", "bf16-mixed" (CUDA
  /// autocast; on CPU "bf16-mixed" uses CPU autocast). "16-mixed" scales the loss (torch.amp.GradScaler's rules);
  /// on CPU it warns and becomes "bf16-mixed", as in Lightning.
  LAMIN_ARG(std::string, precision) = "32-true";
  LAMIN_ARG(std::vector<std::shared_ptr<Callback>>, callbacks) = {};
  LAMIN_ARG(bool, enable_checkpointing) = true;
  /// Shown only when stderr is a terminal.
  LAMIN_ARG(bool, enable_progress_bar) = true;
  /// Seeds LibTorch's generators at the start of fit when set.
  LAMIN_ARG(std::optional<std::uint64_t>, seed) = std::nullopt;

 public:
  /// `logger=True` (a default TensorBoardLogger at default_root_dir) or `logger=False` (none).
  TrainerOptions& logger(bool enabled) {
    default_logger_ = enabled;
    loggers_.clear();
    return *this;
  }
  TrainerOptions& logger(std::shared_ptr<Logger> logger) { return loggers({std::move(logger)}); }
  TrainerOptions& loggers(std::vector<std::shared_ptr<Logger>> loggers) {
    loggers_ = std::move(loggers);
    default_logger_ = false;
    return *this;
  }
  bool default_logger() const { return default_logger_; }
  const std::vector<std::shared_ptr<Logger>>& loggers() const { return loggers_; }

 private:
  bool default_logger_ = true;
  std::vector<std::shared_ptr<Logger>> loggers_;
};

/// What the trainer is doing (Lightning's `trainer.state.fn`).
enum class TrainerFn { none, fitting, validating, testing, predicting };

class Trainer {
 public:
  explicit Trainer(TrainerOptions options = {});
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  /// Trains `module`. `ckpt_path`: a checkpoint file to resume from, or "last" / "best".
  /// Exceptions reach every callback's on_exception and then the caller.
  void fit(LightningModule& module, DataLoader train_dataloader, DataLoader val_dataloader = {},
           std::optional<std::string> ckpt_path = std::nullopt);
  void fit(LightningModule& module, LightningDataModule& datamodule,
           std::optional<std::string> ckpt_path = std::nullopt);
  /// One validation pass; returns the epoch-level metrics.
  MetricMap validate(LightningModule& module, DataLoader val_dataloader);
  /// One test pass; returns the epoch-level metrics.
  MetricMap test(LightningModule& module, DataLoader test_dataloader);
  /// One prediction pass (Lightning's `trainer.predict`): `predict_step` on every batch, in eval mode without
  /// gradients; returns its outputs in batch order, moved to the CPU as Lightning does. With
  /// `return_predictions = false` nothing is kept (the outputs reach `on_predict_batch_end` only, for callbacks that
  /// write them out) and the result is empty. Logging is not available here, as in Lightning.
  std::vector<at::Tensor> predict(LightningModule& module, DataLoader predict_dataloader,
                                  bool return_predictions = true);

  /// Writes Lightning's checkpoint dict for the current state to `path`, atomically and durably (parent folders
  /// are created). Only the global-zero process writes.
  void save_checkpoint(const std::string& path, bool weights_only = false);

  // ---- what Lightning users read -----------------------------------------------------------------------------
  std::int64_t current_epoch() const;
  std::int64_t global_step() const;
  const MetricMap& callback_metrics() const;
  const MetricMap& logged_metrics() const;
  const MetricMap& progress_bar_metrics() const;
  /// The first logger's log_dir (CSV/TensorBoard), else its save_dir, else default_root_dir.
  std::string log_dir() const;
  /// Device placement, gradient reduction, barriers and rank-zero decisions (one device per process today).
  Strategy& strategy() const;
  bool is_global_zero() const { return strategy().is_global_zero(); }
  int global_rank() const { return strategy().global_rank(); }
  int local_rank() const { return strategy().local_rank(); }
  int world_size() const { return strategy().world_size(); }
  const std::vector<std::shared_ptr<Logger>>& loggers() const;
  std::shared_ptr<Logger> logger() const { return loggers().empty() ? nullptr : loggers().front(); }
  /// The callbacks in the order their hooks run: the user's, then the defaults, with every Checkpoint last.
  const std::vector<std::shared_ptr<Callback>>& callbacks() const;
  ModelCheckpoint* checkpoint_callback() const;
  std::vector<ModelCheckpoint*> checkpoint_callbacks() const;
  EarlyStopping* early_stopping_callback() const;
  bool should_stop() const;
  void set_should_stop(bool stop);
  bool sanity_checking() const;
  TrainerFn state() const;
  /// Fitting, outside a validation pass.
  bool training() const;
  const TrainerOptions& options() const;
  TrainerOptions& mutable_options();
  /// max_epochs after Lightning's resolution (-1: unlimited).
  std::int64_t max_epochs() const;
  std::int64_t max_steps() const { return options().max_steps(); }
  std::int64_t fast_dev_run() const { return options().fast_dev_run(); }
  std::string default_root_dir() const;
  /// The checkpoint the running fit resumed from (absolute), if any.
  const std::optional<std::string>& ckpt_path() const;
  torch::Device device() const { return strategy().root_device(); }
  const std::vector<std::shared_ptr<torch::optim::Optimizer>>& optimizers() const;
  const std::vector<SchedulerConfig>& lr_scheduler_configs() const;
  LightningModule* lightning_module() const;
  LightningDataModule* datamodule() const;

  // ---- loop state read by callbacks (ModelCheckpoint, EarlyStopping, progress bar) ---------------------------
  std::int64_t num_training_batches() const;
  /// The batches of a validation pass: the fit's (0 when validation is disabled), or validate()'s.
  std::int64_t num_val_batches() const;
  /// Validation runs after every this many batches (0 with a time-based `val_check_interval`: Lightning's None).
  std::int64_t val_check_batch() const;
  std::optional<std::int64_t> check_val_every_n_epoch() const { return options().check_val_every_n_epoch(); }
  const ValCheckInterval& val_check_interval() const { return options().val_check_interval(); }
  bool val_check_interval_is_time_based() const { return options().val_check_interval().is_time_based(); }
  /// A val dataloader exists and limit_val_batches > 0.
  bool enable_validation() const;
  /// The running training batch is the last of its epoch (known by one-batch look-ahead).
  bool is_last_batch() const;
  /// The fit's most recent non-sanity validation run processed at least one batch.
  bool validation_has_run() const;
  std::int64_t batches_that_stepped() const;
  /// Index of the batch being trained in the current epoch.
  std::int64_t batch_idx() const;

  // ---- used by LightningModule::log --------------------------------------------------------------------------
  void log_from_module(const std::string& name, double value, const LogOptions& options);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lamin::pl
