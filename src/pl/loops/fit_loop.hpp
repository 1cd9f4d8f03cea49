#pragma once
// Training (Lightning's `_FitLoop` over epochs and `_TrainingEpochLoop` over the batches of one, with its
// automatic optimization), each owning its progress.

#include <chrono>
#include <cstdint>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "lamin/pl/data.hpp"
#include "loops/evaluation_loop.hpp"
#include "trainer_internal.hpp"

namespace lamin::pl::detail {

struct TrainerContext;

class TrainingEpochLoop {
 public:
  TrainingEpochLoop(TrainerContext& context, EvaluationLoop& val_loop) : context_(context), val_loop_(val_loop) {}

  /// Sizes the epoch (limit_train_batches, fast_dev_run) and the validation interval; `validation`: whether a
  /// validation pass can run at all.
  void setup_data(const DataLoader& train, bool validation);
  /// The batches of one epoch (from the resumed batch on a resumed, unfinished epoch), validating where
  /// val_check_interval says.
  void run(const DataLoader& train, const DataLoader& val);
  /// Whether max_steps is reached.
  bool done() const;
  /// min_epochs / min_steps allow stopping.
  bool can_stop_early() const;
  /// Restarts the clock of a time-based val_check_interval.
  void restart_val_timer() { last_val_time_ = std::chrono::steady_clock::now(); }
  /// Steps the schedulers of `interval` ("epoch" or "step") whose frequency is due; plateau ones (`plateau`)
  /// with their monitored metric.
  void step_schedulers(const std::string& interval, bool plateau);

  std::int64_t global_step() const { return global_step_; }
  std::int64_t batches_that_stepped() const { return batches_that_stepped_; }
  std::int64_t batch_idx() const { return batch_idx_; }
  bool is_last_batch() const { return is_last_batch_; }
  std::int64_t num_training_batches() const { return num_training_batches_; }
  std::int64_t val_check_batch() const { return val_check_batch_; }
  bool enable_validation() const { return enable_validation_; }

  /// Lightning's `epoch_loop` entries of `loops.fit_loop` in a checkpoint.
  void save_state(nlohmann::json& fit_loop) const;
  /// Restores the counters from a checkpoint's `loops.fit_loop`; whether the save came after the epoch's last
  /// batch was done.
  bool load_state(const nlohmann::json& fit_loop, std::int64_t global_step);
  /// For a checkpoint saved inside an epoch: a batch interrupted by the save counts as done, as in Lightning,
  /// and the epoch goes on with the next one. Returns that batch's index.
  std::int64_t resume_inside_epoch();
  const Progress& batch_progress() const { return batch_progress_; }

 private:
  /// One batch: its hooks, the step, the optimizers when it closes an accumulation window. Returns false when
  /// `on_train_batch_start` asked to skip the rest of the epoch.
  bool run_batch(const Batch& raw, std::int64_t batch_idx);
  /// Lightning's closure: zero_grad at the start of an accumulation window, backward, and on `should_step` the
  /// optimizer hooks, clipping and steps.
  void optimize(const at::Tensor& loss, std::int64_t batch_idx, bool should_step);
  bool should_check_val(std::int64_t batch_idx) const;

  TrainerContext& context_;
  EvaluationLoop& val_loop_;
  Progress batch_progress_;
  std::int64_t global_step_ = 0;
  std::int64_t batches_that_stepped_ = 0;
  std::int64_t batch_idx_ = 0;
  std::int64_t total_batch_idx_ = 0;
  std::int64_t start_batch_idx_ = 0;  // first batch of a resumed, unfinished epoch
  bool is_last_batch_ = false;
  bool stepped_ = false;  // the batch just run stepped the optimizers
  bool enable_validation_ = false;
  std::int64_t num_training_batches_ = 0;
  std::int64_t val_check_batch_ = 1;
  std::chrono::steady_clock::time_point last_val_time_;
};

class FitLoop {
 public:
  explicit FitLoop(TrainerContext& context)
      : context_(context), val_loop_(context, EvaluationLoop::Stage::validation), epoch_loop_(context, val_loop_) {}

  /// Sizes the training and validation passes.
  void setup_data(const DataLoader& train, const DataLoader& val);
  /// The sanity check (first fit only), then epochs until max_epochs, max_steps or a stop allowed by
  /// min_epochs / min_steps.
  void run(const DataLoader& train, const DataLoader& val);

  std::int64_t current_epoch() const { return current_epoch_; }
  /// Lightning's max_epochs resolution: fast_dev_run 1, else the option, else 1000 when max_steps and max_time
  /// are unset, else unlimited (-1).
  std::int64_t max_epochs() const;
  TrainingEpochLoop& epoch_loop() { return epoch_loop_; }
  const TrainingEpochLoop& epoch_loop() const { return epoch_loop_; }
  const EvaluationLoop& val_loop() const { return val_loop_; }

  /// Lightning's `loops` checkpoint entry (fit_loop with its epoch loop; empty evaluation loops).
  nlohmann::json state_dict() const;
  /// Restores the progress from a checkpoint's `loops` entry and its `global_step`.
  void load_state_dict(const nlohmann::json& loops, std::int64_t global_step);

 private:
  bool done();
  void run_sanity_check(const DataLoader& val);
  void run_epoch(const DataLoader& train, const DataLoader& val);

  TrainerContext& context_;
  EvaluationLoop val_loop_;
  TrainingEpochLoop epoch_loop_;
  Progress epoch_progress_;
  std::int64_t current_epoch_ = 0;
  bool has_run_ = false;  // the sanity check runs before the first fit only
};

}  // namespace lamin::pl::detail
