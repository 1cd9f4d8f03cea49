#pragma once
// What the trainer's loops share: the configuration, the attached module and its optimizers, the strategy and
// precision, the metric views, and the hook calls that record which hook is running (for `log`'s defaults).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lamin/pl/callback.hpp"
#include "lamin/pl/logger.hpp"
#include "lamin/pl/metrics.hpp"
#include "lamin/pl/module.hpp"
#include "lamin/pl/strategy.hpp"
#include "lamin/pl/trainer.hpp"
#include "loops/logger_connector.hpp"
#include "loops/precision.hpp"

namespace lamin::pl::detail {

/// The module's trainer-owned fields (LightningModule befriends this, not the loops).
struct ModuleAccess {
  static void attach(LightningModule& module, Trainer* trainer) { module.trainer_ = trainer; }
  /// Remembers is_training() before an evaluation pass, for on_validation_model_train / on_test_model_train.
  static void remember_mode(LightningModule& module) { module.mode_before_evaluation_ = module.is_training(); }
};

struct TrainerContext {
  TrainerContext(Trainer& owner, TrainerOptions trainer_options)
      : trainer(owner), options(std::move(trainer_options)), logging(*this) {}
  TrainerContext(const TrainerContext&) = delete;
  TrainerContext& operator=(const TrainerContext&) = delete;

  Trainer& trainer;
  TrainerOptions options;
  /// The user's callbacks, then the defaults, with every Checkpoint at the end (the order hooks run in).
  std::vector<std::shared_ptr<Callback>> callbacks;
  std::vector<std::shared_ptr<Logger>> loggers;
  std::shared_ptr<Strategy> strategy;
  Precision precision;
  LoggerConnector logging;

  LightningModule* module = nullptr;
  LightningDataModule* datamodule = nullptr;
  std::vector<std::shared_ptr<torch::optim::Optimizer>> optimizers;
  std::vector<SchedulerConfig> schedulers;
  /// The checkpoint the running fit resumed from (absolute).
  std::optional<std::string> ckpt_path;
  /// Callback states of that checkpoint that no callback of this trainer took: written again into every checkpoint
  /// this fit saves, so that a later run with those callbacks finds them.
  c10::impl::GenericDict kept_callback_states{c10::StringType::get(), c10::AnyType::get()};

  TrainerFn fn = TrainerFn::none;
  bool should_stop = false;
  bool sanity_checking = false;
  /// A validation, test or predict pass is running (inside fit or on its own).
  bool in_evaluation = false;
  MetricMap callback_metrics;
  MetricMap logged_metrics;
  MetricMap progress_bar_metrics;

  /// The hook running now, and the size of the batch it sees.
  std::string current_fx;
  std::int64_t current_batch_size = 1;

  /// Calls `f(callback)` for every callback, in hook order, as the hook `fx`.
  template <typename F>
  void call_callbacks(const char* fx, F&& f) {
    current_fx = fx;
    for (auto& cb : callbacks) f(*cb);
  }
  /// Calls `f(module)` as the hook `fx`.
  template <typename F>
  void call_module(const char* fx, F&& f) {
    current_fx = fx;
    f(*module);
  }
  /// The batch on the strategy's device, cast for the precision; its size becomes current_batch_size.
  Batch prepare_batch(const Batch& raw) {
    Batch batch = precision.convert_input(strategy->batch_to_device(raw));
    current_batch_size = batch_size_of(batch);
    return batch;
  }
};

/// Refuses option values Lightning refuses, with its messages.
void validate_options(const TrainerOptions& options);
/// The device `accelerator` and `device_index` name ("auto": CUDA when available).
c10::Device accelerator_device(const TrainerOptions& options);
/// The number of batches a loop runs: `limit` (an int: at most that many; a float: that fraction of the loader's
/// length) applied to `loader`; `what` names the loader in Lightning's messages ("train", "val", ...).
std::int64_t limited_batches(const DataLoader& loader, const IntOrFloat& limit, const char* what);

}  // namespace lamin::pl::detail
