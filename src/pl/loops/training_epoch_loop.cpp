#include <torch/torch.h>

#include "lamin/error.hpp"
#include "lamin/log.hpp"
#include "loops/context.hpp"
#include "loops/fit_loop.hpp"

namespace lamin::pl::detail {

void TrainingEpochLoop::setup_data(const DataLoader& train, bool validation) {
  const TrainerOptions& o = context_.options;
  enable_validation_ = validation;
  num_training_batches_ = limited_batches(train, o.limit_train_batches(), "train");
  if (o.fast_dev_run() > 0) num_training_batches_ = std::min(num_training_batches_, o.fast_dev_run());
  const ValCheckInterval& vci = o.val_check_interval();
  if (vci.is_time_based()) {
    val_check_batch_ = 0;  // validation follows the clock, not a batch count
  } else if (vci.is_int()) {
    val_check_batch_ = vci.as_int();
    if (val_check_batch_ < 1) throw ConfigurationError("`val_check_interval` must be >= 1 when it is an int");
    if (val_check_batch_ > num_training_batches_ && o.check_val_every_n_epoch() && enable_validation_) {
      throw ConfigurationError("`val_check_interval` (" + std::to_string(val_check_batch_) +
                               ") must be less than or equal to the number of the training batches (" +
                               std::to_string(num_training_batches_) +
                               "). If you want to disable validation set `limit_val_batches` to 0.0 instead. If "
                               "you want to validate based on the total training batches, set "
                               "`check_val_every_n_epoch=None`.");
    }
  } else {
    if (vci.as_double() < 0.0 || vci.as_double() > 1.0) {
      throw ConfigurationError("`val_check_interval` should be an int or a float in [0.0, 1.0]");
    }
    val_check_batch_ = std::max<std::int64_t>(
        1, static_cast<std::int64_t>(static_cast<double>(num_training_batches_) * vci.as_double()));
  }
}

bool TrainingEpochLoop::done() const {
  const std::int64_t max_steps = context_.options.max_steps();
  return max_steps != -1 && global_step_ >= max_steps;
}

bool TrainingEpochLoop::can_stop_early() const {
  const TrainerOptions& o = context_.options;
  const bool epochs_ok = !o.min_epochs() || context_.trainer.current_epoch() >= *o.min_epochs();
  const bool steps_ok = !o.min_steps() || global_step_ >= *o.min_steps();
  return epochs_ok && steps_ok;
}

bool TrainingEpochLoop::should_check_val(std::int64_t batch_idx) const {
  const auto every = context_.options.check_val_every_n_epoch();
  if (!enable_validation_ || (every && (context_.trainer.current_epoch() + 1) % *every != 0)) return false;
  if (context_.should_stop && can_stop_early()) return true;
  if (const auto interval = context_.options.val_check_interval().seconds()) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - last_val_time_).count() >= *interval;
  }
  const std::int64_t iteration = every ? batch_idx : total_batch_idx_;
  return (iteration + 1) % val_check_batch_ == 0;
}

void TrainingEpochLoop::run(const DataLoader& train, const DataLoader& val) {
  context_.logging.train_results.clear();
  batch_progress_.reset_current();
  auto cursor = train.epoch();
  std::optional<Batch> next = cursor();
  std::int64_t batch_idx = start_batch_idx_;
  if (start_batch_idx_ > 0) {
    Tracker& current = batch_progress_.current;
    current.ready = current.started = current.processed = current.completed = start_batch_idx_;
  }
  start_batch_idx_ = 0;
  while (next) {
    if (done() || (context_.should_stop && can_stop_early())) break;
    if (batch_idx >= num_training_batches_) break;
    Batch raw = std::move(*next);
    next = batch_idx + 1 < num_training_batches_ ? cursor() : std::nullopt;
    is_last_batch_ = !next.has_value();
    batch_idx_ = batch_idx;
    if (!run_batch(raw, batch_idx)) break;
    if (val && should_check_val(batch_idx)) {
      val_loop_.run(val);
      restart_val_timer();  // a time-based interval counts from the end of a validation
    }
    if (stepped_) ++batches_that_stepped_;
    ++total_batch_idx_;
    ++batch_idx;
  }
}

bool TrainingEpochLoop::run_batch(const Batch& raw, std::int64_t batch_idx) {
  TrainerContext& c = context_;
  Trainer& t = c.trainer;
  LightningModule& m = *c.module;
  Batch batch = c.prepare_batch(raw);
  batch_progress_.increment_ready();
  c.call_callbacks("on_train_batch_start", [&](Callback& cb) { cb.on_train_batch_start(t, m, batch, batch_idx); });
  int response = 0;
  c.call_module("on_train_batch_start",
                [&](LightningModule& mod) { response = mod.on_train_batch_start(batch, batch_idx); });
  if (response == -1) return false;
  batch_progress_.increment_started();

  at::Tensor loss;
  {
    Precision::Autocast autocast(c.precision, c.strategy->root_device());
    c.call_module("training_step", [&](LightningModule& mod) { loss = mod.training_step(batch, batch_idx); });
  }
  const std::int64_t accumulate = c.options.accumulate_grad_batches();
  const bool should_step = (batch_idx + 1) % accumulate == 0 || is_last_batch_;
  if (loss.defined()) optimize(loss, batch_idx, should_step);
  stepped_ = should_step && loss.defined();
  batch_progress_.increment_processed();
  if (stepped_) step_schedulers("step", false);
  if (is_last_batch_ || batch_idx + 1 >= num_training_batches_) step_schedulers("epoch", false);

  c.call_callbacks("on_train_batch_end", [&](Callback& cb) { cb.on_train_batch_end(t, m, loss, batch, batch_idx); });
  c.call_module("on_train_batch_end", [&](LightningModule& mod) { mod.on_train_batch_end(loss, batch, batch_idx); });
  batch_progress_.increment_completed();
  if ((batches_that_stepped_ + 1) % c.options.log_every_n_steps() == 0 || c.should_stop) {
    c.logging.send_to_loggers(LoggerConnector::step_row(c.logging.train_results), batches_that_stepped_);
  }
  return true;
}

void TrainingEpochLoop::optimize(const at::Tensor& loss, std::int64_t batch_idx, bool should_step) {
  TrainerContext& c = context_;
  Trainer& t = c.trainer;
  LightningModule& m = *c.module;
  const std::int64_t accumulate = c.options.accumulate_grad_batches();
  GradScaler* scaler = c.precision.grad_scaler();
  if (batch_idx % accumulate == 0) {
    for (auto& opt : c.optimizers) {
      c.call_callbacks("on_before_zero_grad", [&](Callback& cb) { cb.on_before_zero_grad(t, m, *opt); });
      c.call_module("on_before_zero_grad", [&](LightningModule& mod) { mod.on_before_zero_grad(*opt); });
      opt->zero_grad();
    }
  }
  at::Tensor scaled = accumulate > 1 ? loss / static_cast<double>(accumulate) : loss;
  if (scaler) scaled = scaler->scale(scaled);  // the hooks see the scaled loss, as in Lightning
  c.call_callbacks("on_before_backward", [&](Callback& cb) { cb.on_before_backward(t, m, scaled); });
  c.call_module("on_before_backward", [&](LightningModule& mod) { mod.on_before_backward(scaled); });
  c.call_module("backward", [&](LightningModule& mod) { mod.backward(scaled); });
  c.call_callbacks("on_after_backward", [&](Callback& cb) { cb.on_after_backward(t, m); });
  c.call_module("on_after_backward", [&](LightningModule& mod) { mod.on_after_backward(); });
  if (!should_step) return;
  c.strategy->reduce_gradients(m);
  const auto clip = c.options.gradient_clip_val();
  for (auto& opt : c.optimizers) {
    if (scaler) scaler->unscale(*opt);  // the hooks and clipping see unscaled gradients
    c.call_callbacks("on_before_optimizer_step", [&](Callback& cb) { cb.on_before_optimizer_step(t, m, *opt); });
    c.call_module("on_before_optimizer_step", [&](LightningModule& mod) { mod.on_before_optimizer_step(*opt); });
    if (clip && *clip > 0.0) {
      c.call_module("configure_gradient_clipping", [&](LightningModule& mod) {
        mod.configure_gradient_clipping(*opt, *clip, c.options.gradient_clip_algorithm());
      });
    }
    c.current_fx = "optimizer_step";
    if (scaler) {
      scaler->step(*opt);  // skipped when a gradient is inf or NaN
      scaler->update();
    } else {
      opt->step();
    }
  }
  ++global_step_;
}

void TrainingEpochLoop::step_schedulers(const std::string& interval, bool plateau) {
  const TrainerContext& c = context_;
  for (auto& cfg : c.schedulers) {
    if (cfg.interval != interval || cfg.scheduler->is_plateau() != plateau) continue;
    const std::int64_t count = interval == "step" ? global_step_ : c.trainer.current_epoch() + 1;
    if (count % cfg.frequency != 0) continue;
    if (!cfg.scheduler->is_plateau()) {
      cfg.scheduler->step();
      continue;
    }
    const Scalar* v = c.callback_metrics.find(cfg.monitor);
    if (v != nullptr) {
      cfg.scheduler->step(v->value);
      continue;
    }
    if (cfg.strict) {
      std::string names;
      for (const auto& e : c.callback_metrics) names += (names.empty() ? "'" : ", '") + e.first + "'";
      throw ConfigurationError("ReduceLROnPlateau conditioned on metric " + cfg.monitor +
                               " which is not available. Available metrics are: [" + names +
                               "]. Condition can be set using `monitor` key in lr scheduler dict");
    }
    lamin::log::warn("ReduceLROnPlateau conditioned on metric " + cfg.monitor +
                     " which is not available but strict is set to `False`. Skipping learning rate update.");
  }
}

void TrainingEpochLoop::save_state(nlohmann::json& fit_loop) const {
  nlohmann::json batch = batch_progress_.to_json();
  batch["is_last_batch"] = is_last_batch_;
  fit_loop["epoch_loop.state_dict"] = {{"_batches_that_stepped", batches_that_stepped_}};
  fit_loop["epoch_loop.batch_progress"] = batch;
}

bool TrainingEpochLoop::load_state(const nlohmann::json& fit_loop, std::int64_t global_step) {
  global_step_ = global_step;
  const nlohmann::json batch = fit_loop.value("epoch_loop.batch_progress", nlohmann::json::object());
  batch_progress_.from_json(batch);
  batches_that_stepped_ =
      fit_loop.value("epoch_loop.state_dict", nlohmann::json::object()).value("_batches_that_stepped", global_step);
  start_batch_idx_ = 0;
  total_batch_idx_ = batch_progress_.total.completed;
  return batch.value("is_last_batch", false) && batch_progress_.current.completed == batch_progress_.current.ready;
}

std::int64_t TrainingEpochLoop::resume_inside_epoch() {
  Tracker& current = batch_progress_.current;
  const std::int64_t interrupted = current.ready - current.completed;
  if (interrupted > 0) {
    batches_that_stepped_ += interrupted;
    current.completed = current.processed = current.started = current.ready;
    Tracker& total = batch_progress_.total;
    total.completed = total.processed = total.started = total.ready;
  }
  start_batch_idx_ = current.completed;
  total_batch_idx_ = batch_progress_.total.completed;
  return start_batch_idx_;
}

}  // namespace lamin::pl::detail
