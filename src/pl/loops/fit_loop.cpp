#include "loops/fit_loop.hpp"

#include <torch/torch.h>

#include "lamin/error.hpp"
#include "lamin/log.hpp"
#include "lamin/pl/early_stopping.hpp"
#include "lamin/pl/model_checkpoint.hpp"
#include "loops/context.hpp"

namespace lamin::pl::detail {

void FitLoop::setup_data(const DataLoader& train, const DataLoader& val) {
  const TrainerOptions& o = context_.options;
  bool validation = static_cast<bool>(val);
  if (validation) {
    val_loop_.setup_data(val);
    if (o.fast_dev_run() > 0) val_loop_.set_max_batches(std::min(val_loop_.max_batches(), o.fast_dev_run()));
    validation = val_loop_.max_batches() > 0;
  } else {
    val_loop_.set_max_batches(0);
  }
  epoch_loop_.setup_data(train, validation);
  if (!o.max_epochs() && o.max_steps() == -1 && !o.max_time() && o.fast_dev_run() == 0) {
    lamin::log::warn_once("`max_epochs` was not set. Setting it to 1000 epochs. To train without an epoch limit, "
                          "set `max_epochs=-1`.");
  }
}

std::int64_t FitLoop::max_epochs() const {
  const TrainerOptions& o = context_.options;
  if (o.fast_dev_run() > 0) return 1;
  if (o.max_epochs()) return *o.max_epochs();
  return o.max_steps() == -1 && !o.max_time() ? 1000 : -1;
}

bool FitLoop::done() {
  if (epoch_loop_.done()) return true;
  if (max_epochs() != -1 && current_epoch_ >= max_epochs()) return true;
  if (context_.should_stop) {
    if (epoch_loop_.can_stop_early()) return true;
    lamin::log::info("Trainer was signaled to stop but the required `min_epochs=" +
                     std::to_string(context_.options.min_epochs().value_or(0)) + "` or `min_steps=" +
                     std::to_string(context_.options.min_steps().value_or(-1)) +
                     "` has not been met. Training will continue...");
    context_.should_stop = false;
  }
  return false;
}

void FitLoop::run_sanity_check(const DataLoader& val) {
  TrainerContext& c = context_;
  const TrainerOptions& o = c.options;
  if (!epoch_loop_.enable_validation() || o.num_sanity_val_steps() == 0 || o.fast_dev_run() != 0 || has_run_) return;
  const std::int64_t steps = o.num_sanity_val_steps() < 0 ? val_loop_.max_batches()
                                                          : std::min(o.num_sanity_val_steps(), val_loop_.max_batches());
  c.sanity_checking = true;
  c.call_callbacks("on_sanity_check_start", [&](Callback& cb) { cb.on_sanity_check_start(c.trainer, *c.module); });
  val_loop_.run(val, steps);
  c.call_callbacks("on_sanity_check_end", [&](Callback& cb) { cb.on_sanity_check_end(c.trainer, *c.module); });
  c.sanity_checking = false;
  c.callback_metrics.clear();
  c.progress_bar_metrics.clear();
}

void FitLoop::run(const DataLoader& train, const DataLoader& val) {
  TrainerContext& c = context_;
  run_sanity_check(val);
  epoch_loop_.restart_val_timer();
  c.call_callbacks("on_train_start", [&](Callback& cb) { cb.on_train_start(c.trainer, *c.module); });
  c.call_module("on_train_start", [](LightningModule& mod) { mod.on_train_start(); });
  while (!done()) run_epoch(train, val);
  c.call_callbacks("on_train_end", [&](Callback& cb) { cb.on_train_end(c.trainer, *c.module); });
  c.call_module("on_train_end", [](LightningModule& mod) { mod.on_train_end(); });
  has_run_ = true;
}

void FitLoop::run_epoch(const DataLoader& train, const DataLoader& val) {
  TrainerContext& c = context_;
  Trainer& t = c.trainer;
  LightningModule& m = *c.module;
  epoch_progress_.increment_ready();
  c.call_callbacks("on_train_epoch_start", [&](Callback& cb) { cb.on_train_epoch_start(t, m); });
  c.call_module("on_train_epoch_start", [](LightningModule& mod) { mod.on_train_epoch_start(); });
  epoch_progress_.increment_started();
  if (epoch_loop_.num_training_batches() > 0) epoch_loop_.run(train, val);
  epoch_progress_.increment_processed();

  // Epoch end: the training epoch's values become visible, then the hooks in Lightning's three parts (other
  // callbacks, the module, then checkpointing and early stopping).
  c.logging.publish_epoch_metrics(c.logging.train_results);
  c.logging.epoch_end_reached = true;
  auto monitors = [](const Callback& cb) {
    return dynamic_cast<const Checkpoint*>(&cb) != nullptr || dynamic_cast<const EarlyStopping*>(&cb) != nullptr;
  };
  auto epoch_end = [&](bool monitoring) {
    for (auto& cb : c.callbacks) {
      if (monitors(*cb) != monitoring) continue;
      c.current_fx = "on_train_epoch_end";  // again for each: a callback's own calls may have changed it
      cb->on_train_epoch_end(t, m);
    }
  };
  epoch_end(false);
  c.call_module("on_train_epoch_end", [](LightningModule& mod) { mod.on_train_epoch_end(); });
  epoch_end(true);
  c.logging.epoch_end_reached = false;
  epoch_loop_.step_schedulers("epoch", true);
  c.logging.send_to_loggers(LoggerConnector::epoch_row(c.logging.train_results),
                            epoch_loop_.batches_that_stepped() - 1);
  c.logging.train_results.clear();
  epoch_progress_.increment_completed();
  ++current_epoch_;
}

nlohmann::json FitLoop::state_dict() const {
  nlohmann::json fit = {{"state_dict", nlohmann::json::object()}, {"epoch_progress", epoch_progress_.to_json()}};
  epoch_loop_.save_state(fit);
  const nlohmann::json eval = {{"state_dict", nlohmann::json::object()}, {"batch_progress", Progress{}.to_json()}};
  return {{"fit_loop", fit}, {"validate_loop", eval}, {"test_loop", eval}, {"predict_loop", eval}};
}

void FitLoop::load_state_dict(const nlohmann::json& loops, std::int64_t global_step) {
  nlohmann::json fit = loops.is_object() ? loops.value("fit_loop", nlohmann::json::object()) : nlohmann::json();
  if (!fit.is_object()) fit = nlohmann::json::object();
  epoch_progress_.from_json(fit.value("epoch_progress", nlohmann::json::object()));
  const bool batches_done = epoch_loop_.load_state(fit, global_step);
  Tracker& ep = epoch_progress_.current;
  Tracker& et = epoch_progress_.total;
  const bool inside_epoch = ep.started > ep.completed;
  if (inside_epoch && (ep.processed > ep.completed || batches_done)) {
    // Saved at the end of an epoch (in on_train_epoch_end, or after its last batch): the next fit starts the next
    // epoch.
    ep.completed = ep.processed = ep.ready = ep.started;
    et.completed = et.processed = et.ready = et.started;
  } else if (inside_epoch) {
    const std::int64_t start_batch = epoch_loop_.resume_inside_epoch();
    ep.ready = ep.started = ep.completed;
    et.ready = et.started = et.completed;
    if (start_batch > 0) {
      lamin::log::warn("You're resuming from a checkpoint that ended before the epoch ended and your dataloader is "
                       "not resumable. This can cause unreliable results if further training is done. Consider "
                       "using an end-of-epoch checkpoint or make your dataloader resumable by implementing the "
                       "`state_dict` / `load_state_dict` interface.");
    }
  }
  current_epoch_ = ep.completed;
}

}  // namespace lamin::pl::detail
