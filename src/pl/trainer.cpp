#include "lamin/pl/trainer.hpp"

#include <torch/torch.h>
#include <torch/version.h>
#include <ATen/autocast_mode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/python.hpp"
#include "lamin/error.hpp"
#include "lamin/log.hpp"
#include "lamin/pl/checkpoint_io.hpp"
#include "lamin/pl/early_stopping.hpp"
#include "lamin/pl/model_checkpoint.hpp"
#include "lamin/pl/progress_bar.hpp"
#include "lamin/pl/tensorboard_logger.hpp"
#include "lamin/pl/timer.hpp"
#include "grad_scaler.hpp"
#include "trainer_internal.hpp"
#include "trainer_state.hpp"

namespace fs = std::filesystem;

namespace lamin::pl {

using detail::Progress;
using detail::ResultCollection;
using detail::ResultMetric;

namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  try {
    return std::stoi(v);
  } catch (...) {
    throw ConfigurationError(std::string("environment variable ") + name + "='" + v + "' is not an integer");
  }
}

/// Hooks from which `log` defaults to step-level values.
bool is_step_hook(const std::string& fx) {
  return fx == "training_step" || fx == "on_train_batch_start" || fx == "on_train_batch_end" ||
         fx == "on_before_backward" || fx == "on_after_backward" || fx == "on_before_optimizer_step" ||
         fx == "on_before_zero_grad" || fx == "backward" || fx == "optimizer_step";
}

bool is_eval_step_hook(const std::string& fx) {
  return fx == "validation_step" || fx == "test_step" || fx == "on_validation_batch_start" ||
         fx == "on_validation_batch_end" || fx == "on_test_batch_start" || fx == "on_test_batch_end";
}

/// Casts floating tensors of a batch for "X-true" precisions and moves the batch to the device.
Batch prepare_batch(const Batch& batch, const torch::Device& device, std::optional<at::ScalarType> dtype) {
  auto move = [&](const at::Tensor& t) -> at::Tensor {
    if (!t.defined()) return t;
    at::Tensor out = t.device() == device ? t : t.to(device, /*non_blocking=*/true);
    if (dtype && at::isFloatingType(out.scalar_type())) out = out.to(*dtype);
    return out;
  };
  return Batch(move(batch.data), move(batch.target));
}

/// Enables autocast for "16-mixed"/"bf16-mixed" while alive.
class AutocastGuard {
 public:
  AutocastGuard(bool enabled, torch::Device device, at::ScalarType dtype) : enabled_(enabled), device_(device) {
    if (!enabled_) return;
#if TORCH_VERSION_MAJOR >= 2 && TORCH_VERSION_MINOR >= 4 || TORCH_VERSION_MAJOR >= 3
    prev_ = at::autocast::is_autocast_enabled(device_.type());
    prev_dtype_ = at::autocast::get_autocast_dtype(device_.type());
    at::autocast::set_autocast_dtype(device_.type(), dtype);
    at::autocast::set_autocast_enabled(device_.type(), true);
#else
    if (device_.is_cuda()) {
      prev_ = at::autocast::is_enabled();
      prev_dtype_ = at::autocast::get_autocast_gpu_dtype();
      at::autocast::set_autocast_gpu_dtype(dtype);
      at::autocast::set_enabled(true);
    } else {
      prev_ = at::autocast::is_cpu_enabled();
      prev_dtype_ = at::autocast::get_autocast_cpu_dtype();
      at::autocast::set_autocast_cpu_dtype(dtype);
      at::autocast::set_cpu_enabled(true);
    }
#endif
  }
  ~AutocastGuard() {
    if (!enabled_) return;
#if TORCH_VERSION_MAJOR >= 2 && TORCH_VERSION_MINOR >= 4 || TORCH_VERSION_MAJOR >= 3
    at::autocast::set_autocast_enabled(device_.type(), prev_);
    at::autocast::set_autocast_dtype(device_.type(), prev_dtype_);
#else
    if (device_.is_cuda()) {
      at::autocast::set_enabled(prev_);
      at::autocast::set_autocast_gpu_dtype(prev_dtype_);
    } else {
      at::autocast::set_cpu_enabled(prev_);
      at::autocast::set_autocast_cpu_dtype(prev_dtype_);
    }
#endif
    at::autocast::clear_cache();
  }

 private:
  bool enabled_;
  torch::Device device_;
  bool prev_ = false;
  at::ScalarType prev_dtype_ = at::kFloat;
};

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Impl: loops and result collections
// ---------------------------------------------------------------------------------------------------------------

struct Trainer::Impl {
  explicit Impl(Trainer& t) : self(t) {}

  Trainer& self;
  ResultCollection train_results, eval_results;
  std::string current_fx;
  std::int64_t current_batch_size = 1;
  bool epoch_end_reached = false;  // logs now are epoch-level and visible immediately
  Progress epoch_progress, batch_progress, val_batch_progress;
  std::int64_t total_batch_idx = 0;
  std::int64_t start_batch_idx = 0;  // first batch index of a resumed, unfinished epoch
  std::optional<at::ScalarType> true_precision_dtype;
  bool autocast = false;
  at::ScalarType autocast_dtype = at::kHalf;
  std::unique_ptr<detail::GradScaler> grad_scaler;  // "16-mixed": dynamic loss scaling
  bool fit_has_run = false;
  std::chrono::steady_clock::time_point last_val_time;  // time-based val_check_interval: the timer's start
  std::vector<std::shared_ptr<Callback>> ordered;  // callbacks with Checkpoints moved to the end

  // ---- hooks ---------------------------------------------------------------------------------------------
  template <typename F>
  void callbacks(const char* fx, F&& f) {
    current_fx = fx;
    for (auto& cb : ordered) f(*cb);
  }
  template <typename F>
  void module(const char* fx, F&& f) {
    current_fx = fx;
    f(*self.module_);
  }

  // ---- precision -----------------------------------------------------------------------------------------
  /// The dtype of a "-true" precision (module and floating-point batches), or autocast for a "-mixed" one.
  void configure_precision() {
    std::string prec = self.options_.precision();
    true_precision_dtype.reset();
    autocast = false;
    if (prec == "64-true" || prec == "64") true_precision_dtype = at::kDouble;
    if (prec == "16-true") true_precision_dtype = at::kHalf;
    if (prec == "bf16-true") true_precision_dtype = at::kBFloat16;
    if ((prec == "16-mixed" || prec == "16") && !self.device_.is_cuda()) {
      lamin::log::warn("You passed `Trainer(accelerator='cpu', precision='16-mixed')` but AMP with fp16 is not "
                       "supported on CPU. Using `precision='bf16-mixed'` instead.");
      self.options_.precision("bf16-mixed");
      prec = "bf16-mixed";
    }
    if (prec == "16-mixed" || prec == "16") {
      autocast = true;
      autocast_dtype = at::kHalf;
      if (!grad_scaler) grad_scaler = std::make_unique<detail::GradScaler>();  // kept across fits, as Lightning's plugin
    } else {
      grad_scaler.reset();
    }
    if (prec == "bf16-mixed" || prec == "bf16") {
      autocast = true;
      autocast_dtype = at::kBFloat16;
    }
  }

  // ---- validate / test / predict -------------------------------------------------------------------------
  /// The frame the evaluation entry points share: attach the module with its precision and device, `prepare`
  /// (data sizes), `stage`'s setup hooks, `body`, its teardown hooks; on failure every callback's on_exception.
  template <typename Prepare, typename Body>
  auto run_stage(LightningModule& m, TrainerFn fn, const std::string& stage, Prepare&& prepare, Body&& body)
      -> decltype(body()) {
    configure_precision();
    self.module_ = &m;
    m.trainer_ = &self;
    self.fn_ = fn;
    try {
      m.to(self.device_);
      if (true_precision_dtype) m.to(*true_precision_dtype);
      prepare();
      for (auto& cb : ordered) cb->setup(self, m, stage);
      m.setup(stage);
      auto result = body();
      self.in_evaluation_ = false;
      for (auto& cb : ordered) cb->teardown(self, m, stage);
      m.teardown(stage);
      self.fn_ = TrainerFn::none;
      return result;
    } catch (const std::exception& e) {
      self.in_evaluation_ = false;
      for (auto& cb : ordered) cb->on_exception(self, m, e);
      self.fn_ = TrainerFn::none;
      throw;
    }
  }

  // ---- logging -------------------------------------------------------------------------------------------
  ResultCollection& active_results() { return self.in_evaluation_ ? eval_results : train_results; }

  void log(const std::string& name, double raw, const LogOptions& opts) {
    const std::string& fx = current_fx;
    bool on_step, on_epoch;
    if (is_step_hook(fx)) {
      on_step = opts.on_step().value_or(true);
      on_epoch = opts.on_epoch().value_or(false);
    } else if (is_eval_step_hook(fx)) {
      on_step = opts.on_step().value_or(false);
      on_epoch = opts.on_epoch().value_or(true);
    } else {
      if (opts.on_step().value_or(false)) {
        throw ConfigurationError("You can't `self.log(" + name + ", ..., on_step=True)` in `" + fx +
                                 "`, only `on_step=False` is allowed.");
      }
      on_step = false;
      on_epoch = opts.on_epoch().value_or(true);
    }
    if (!on_step && !on_epoch) return;
    const auto& fxn = opts.reduce_fx();
    if (fxn != "mean" && fxn != "sum" && fxn != "max" && fxn != "min") {
      throw ConfigurationError("`self.log(" + name + ", ..., reduce_fx=" + fxn +
                               ")` is not supported: use mean, sum, max or min");
    }
    if (name == "epoch" || name == "step") {
      // Logged epoch/step override the candidates ModelCheckpoint uses; keep them as logged.
    }
    const float v = static_cast<float>(raw);
    const std::int64_t bs = opts.batch_size().value_or(current_batch_size);
    bool added = false;
    ResultMetric& m = active_results().get_or_add(name, added);
    if (added) {
      m.on_step = on_step;
      m.on_epoch = on_epoch;
      m.prog_bar = opts.prog_bar();
      m.logger = opts.logger();
      m.reduce_fx = fxn;
      if (fxn == "max") m.value = -std::numeric_limits<float>::infinity();
      if (fxn == "min") m.value = std::numeric_limits<float>::infinity();
    }
    if (m.on_epoch) {
      if (m.reduce_fx == "mean") {
        m.value = m.value + v * static_cast<float>(bs);
        m.cumulated_batch_size += bs;
      } else if (m.reduce_fx == "sum") {
        m.value = m.value + v;
      } else if (m.reduce_fx == "max") {
        m.value = std::max(m.value, v);
      } else {
        m.value = std::min(m.value, v);
      }
      m.has_epoch_value = true;
    }
    m.step_value = v;
    m.has_step_value = true;

    // Live views.
    if (!self.in_evaluation_ && on_step) {
      self.callback_metrics_.set(name, Scalar::f32(v));
      if (m.forked()) self.callback_metrics_.set(name + "_step", Scalar::f32(v));
      if (m.prog_bar) self.progress_bar_metrics_.set(m.forked() ? name + "_step" : name, Scalar::f32(v));
    }
    if (epoch_end_reached && m.on_epoch && !self.sanity_checking_) {
      publish_epoch_metric(m, /*to_callbacks=*/true);
    }
  }

  void publish_epoch_metric(const ResultMetric& m, bool to_callbacks) {
    const Scalar value = Scalar::f32(m.epoch_value());
    if (to_callbacks) {
      self.callback_metrics_.set(m.name, value);
      if (m.forked()) self.callback_metrics_.set(m.name + "_epoch", value);
    }
    if (m.prog_bar) self.progress_bar_metrics_.set(m.forked() ? m.name + "_epoch" : m.name, value);
  }

  /// Epoch-level values of a collection → callback_metrics (and progress bar).
  void publish_epoch_metrics(const ResultCollection& results) {
    for (const auto& m : results.metrics())
      if (m.on_epoch && m.has_epoch_value) publish_epoch_metric(m, true);
  }

  /// Sends metrics to the loggers (one row) and records them as logged_metrics.
  void send_to_loggers(MetricMap row, std::int64_t step) {
    if (row.empty()) return;
    row.set("epoch", Scalar::integer(self.current_epoch_));
    for (const auto& e : row) self.logged_metrics_.set(e.first, e.second);
    if (!self.is_global_zero() || self.options_.fast_dev_run() > 0) return;
    for (auto& logger : self.loggers_) {
      logger->log_metrics(row, step);
      logger->save();
    }
  }

  MetricMap step_row(const ResultCollection& results) {
    MetricMap row;
    for (const auto& m : results.metrics())
      if (m.on_step && m.logger && m.has_step_value)
        row.set(m.forked() ? m.name + "_step" : m.name, Scalar::f32(m.step_value));
    return row;
  }

  MetricMap epoch_row(const ResultCollection& results) {
    MetricMap row;
    for (const auto& m : results.metrics())
      if (m.on_epoch && m.logger && m.has_epoch_value)
        row.set(m.forked() ? m.name + "_epoch" : m.name, Scalar::f32(m.epoch_value()));
    return row;
  }

  MetricMap epoch_map(const ResultCollection& results) {
    MetricMap out;
    for (const auto& m : results.metrics())
      if (m.on_epoch && m.has_epoch_value) out.set(m.name, Scalar::f32(m.epoch_value()));
    return out;
  }

  // ---- limits --------------------------------------------------------------------------------------------
  std::int64_t limited(const DataLoader& loader, const IntOrFloat& limit, const char* what) {
    const auto len = loader.size();
    if (limit.is_int()) {
      if (limit.as_int() < 0) throw ConfigurationError(std::string("`limit_") + what + "_batches` must be >= 0");
      return len ? std::min<std::int64_t>(*len, limit.as_int()) : limit.as_int();
    }
    const double f = limit.as_double();
    if (f < 0.0 || f > 1.0) {
      throw ConfigurationError(std::string("`limit_") + what + "_batches` must be an int or a float in [0.0, 1.0], got " +
                               std::to_string(f) + ".");
    }
    if (!len) {
      if (f == 1.0) return std::numeric_limits<std::int64_t>::max();
      throw ConfigurationError(std::string("a fractional `limit_") + what +
                               "_batches` needs a data loader whose length is known");
    }
    const auto n = static_cast<std::int64_t>(static_cast<double>(*len) * f);
    if (n == 0 && f > 0.0 && *len > 0) {
      throw ConfigurationError(std::string("You requested to check ") + std::to_string(f) + " of the `" + what +
                               "_dataloader` but " + std::to_string(f) + " * " + std::to_string(*len) +
                               " < 1. Please increase the `limit_" + what + "_batches` argument. Try at least `limit_" +
                               what + "_batches=" + std::to_string(1.0 / static_cast<double>(*len)) + "`");
    }
    return n;
  }

  // ---- evaluation ----------------------------------------------------------------------------------------
  /// One validation run inside fit (or the sanity check).
  void run_validation(const DataLoader& val, std::int64_t max_batches) {
    auto& m = *self.module_;
    self.in_evaluation_ = true;
    eval_results.clear();
    if (!self.sanity_checking_) self.val_has_run_ = false;
    m.mode_before_evaluation_ = m.is_training();
    module("on_validation_model_eval", [](LightningModule& mod) { mod.on_validation_model_eval(); });
    {
      torch::NoGradGuard no_grad;
      callbacks("on_validation_start", [&](Callback& c) { c.on_validation_start(self, m); });
      module("on_validation_start", [](LightningModule& mod) { mod.on_validation_start(); });
      callbacks("on_validation_epoch_start", [&](Callback& c) { c.on_validation_epoch_start(self, m); });
      module("on_validation_epoch_start", [](LightningModule& mod) { mod.on_validation_epoch_start(); });
      auto cursor = val.epoch();
      std::int64_t processed = 0;
      for (std::int64_t i = 0; i < max_batches; ++i) {
        auto raw = cursor();
        if (!raw) break;
        Batch batch = prepare_batch(*raw, self.device_, true_precision_dtype);
        current_batch_size = batch_size_of(batch);
        val_batch_progress.increment_ready();
        callbacks("on_validation_batch_start", [&](Callback& c) { c.on_validation_batch_start(self, m, batch, i); });
        module("on_validation_batch_start", [&](LightningModule& mod) { mod.on_validation_batch_start(batch, i); });
        val_batch_progress.increment_started();
        {
          AutocastGuard ac(autocast, self.device_, autocast_dtype);
          module("validation_step", [&](LightningModule& mod) { mod.validation_step(batch, i); });
        }
        val_batch_progress.increment_processed();
        callbacks("on_validation_batch_end", [&](Callback& c) { c.on_validation_batch_end(self, m, at::Tensor(), batch, i); });
        module("on_validation_batch_end", [&](LightningModule& mod) { mod.on_validation_batch_end(batch, i); });
        val_batch_progress.increment_completed();
        ++processed;
      }
      epoch_end_reached = true;
      callbacks("on_validation_epoch_end", [&](Callback& c) { c.on_validation_epoch_end(self, m); });
      module("on_validation_epoch_end", [](LightningModule& mod) { mod.on_validation_epoch_end(); });
      epoch_end_reached = false;
      if (!self.sanity_checking_) {
        publish_epoch_metrics(eval_results);
        send_to_loggers(epoch_row(eval_results), self.batches_that_stepped_);
        self.val_has_run_ = processed > 0;
      }
      callbacks("on_validation_end", [&](Callback& c) { c.on_validation_end(self, m); });
      module("on_validation_end", [](LightningModule& mod) { mod.on_validation_end(); });
    }
    module("on_validation_model_train", [](LightningModule& mod) { mod.on_validation_model_train(); });
    self.in_evaluation_ = false;
    last_val_time = std::chrono::steady_clock::now();  // a time-based interval counts from here
  }

  // ---- training ------------------------------------------------------------------------------------------
  bool can_stop_early() const {
    const auto& o = self.options_;
    const bool epochs_ok = !o.min_epochs() || self.current_epoch_ >= *o.min_epochs();
    const bool steps_ok = !o.min_steps() || self.global_step_ >= *o.min_steps();
    return epochs_ok && steps_ok;
  }

  bool max_steps_reached() const { return self.max_steps() != -1 && self.global_step_ >= self.max_steps(); }

  bool fit_done() {
    if (max_steps_reached()) return true;
    const std::int64_t max_epochs = self.max_epochs();
    if (max_epochs != -1 && self.current_epoch_ >= max_epochs) return true;
    if (self.should_stop_) {
      if (can_stop_early()) return true;
      lamin::log::info("Trainer was signaled to stop but the required `min_epochs=" +
                       std::to_string(self.options_.min_epochs().value_or(0)) + "` or `min_steps=" +
                       std::to_string(self.options_.min_steps().value_or(-1)) +
                       "` has not been met. Training will continue...");
      self.should_stop_ = false;
    }
    return false;
  }

  bool should_check_val_epoch() const {
    const auto every = self.options_.check_val_every_n_epoch();
    return self.enable_validation_ && (!every || (self.current_epoch_ + 1) % *every == 0);
  }

  bool should_check_val(std::int64_t batch_idx) {
    if (!should_check_val_epoch()) return false;
    if (self.should_stop_ && can_stop_early()) return true;
    if (const auto interval = self.options_.val_check_interval().seconds()) {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - last_val_time).count() >= *interval;
    }
    const std::int64_t iteration = self.options_.check_val_every_n_epoch() ? batch_idx : total_batch_idx;
    return (iteration + 1) % self.val_check_batch_ == 0;
  }

  void step_schedulers(const std::string& interval, bool plateau) {
    for (auto& cfg : self.schedulers_) {
      if (cfg.interval != interval || cfg.scheduler->is_plateau() != plateau) continue;
      const std::int64_t count = interval == "step" ? self.global_step_ : self.current_epoch_ + 1;
      if (count % cfg.frequency != 0) continue;
      if (cfg.scheduler->is_plateau()) {
        const Scalar* v = self.callback_metrics_.find(cfg.monitor);
        if (v == nullptr) {
          if (cfg.strict) {
            throw ConfigurationError("ReduceLROnPlateau conditioned on metric " + cfg.monitor +
                                     " which is not available. Available metrics are: " + metric_names() +
                                     ". Condition can be set using `monitor` key in lr scheduler dict");
          }
          lamin::log::warn("ReduceLROnPlateau conditioned on metric " + cfg.monitor +
                           " which is not available but strict is set to `False`. Skipping learning rate update.");
          continue;
        }
        cfg.scheduler->step(v->value);
      } else {
        cfg.scheduler->step();
      }
    }
  }

  std::string metric_names() const {
    std::string s = "[";
    bool first = true;
    for (const auto& e : self.callback_metrics_) {
      s += (first ? "'" : ", '") + e.first + "'";
      first = false;
    }
    return s + "]";
  }

  void run_training_epoch(const DataLoader& train, const DataLoader& val) {
    auto& m = *self.module_;
    train_results.clear();
    batch_progress.reset_current();
    const std::int64_t accumulate = self.options_.accumulate_grad_batches();
    auto cursor = train.epoch();
    std::optional<Batch> next = cursor();
    std::int64_t batch_idx = start_batch_idx;
    if (start_batch_idx > 0) {
      batch_progress.current.ready = batch_progress.current.started = batch_progress.current.processed =
          batch_progress.current.completed = start_batch_idx;
    }
    start_batch_idx = 0;
    while (next) {
      if (max_steps_reached() || (self.should_stop_ && can_stop_early())) break;
      if (batch_idx >= self.num_training_batches_) break;
      Batch raw = std::move(*next);
      next = batch_idx + 1 < self.num_training_batches_ ? cursor() : std::nullopt;
      self.is_last_batch_ = !next.has_value();
      self.batch_idx_ = batch_idx;
      Batch batch = prepare_batch(raw, self.device_, true_precision_dtype);
      current_batch_size = batch_size_of(batch);

      batch_progress.increment_ready();
      callbacks("on_train_batch_start", [&](Callback& c) { c.on_train_batch_start(self, m, batch, batch_idx); });
      int response = 0;
      module("on_train_batch_start", [&](LightningModule& mod) { response = mod.on_train_batch_start(batch, batch_idx); });
      if (response == -1) break;
      batch_progress.increment_started();

      at::Tensor loss;
      {
        AutocastGuard ac(autocast, self.device_, autocast_dtype);
        module("training_step", [&](LightningModule& mod) { loss = mod.training_step(batch, batch_idx); });
      }
      // Lightning's closure order: zero_grad (first batch of an accumulation window), backward, then the step.
      const bool should_step = (batch_idx + 1) % accumulate == 0 || self.is_last_batch_;
      if (loss.defined()) {
        if (batch_idx % accumulate == 0) {
          for (auto& opt : self.optimizers_) {
            callbacks("on_before_zero_grad", [&](Callback& c) { c.on_before_zero_grad(self, m, *opt); });
            module("on_before_zero_grad", [&](LightningModule& mod) { mod.on_before_zero_grad(*opt); });
            opt->zero_grad();
          }
        }
        at::Tensor scaled = accumulate > 1 ? loss / static_cast<double>(accumulate) : loss;
        if (grad_scaler) scaled = grad_scaler->scale(scaled);  // the hooks see the scaled loss, as in Lightning
        callbacks("on_before_backward", [&](Callback& c) { c.on_before_backward(self, m, scaled); });
        module("on_before_backward", [&](LightningModule& mod) { mod.on_before_backward(scaled); });
        module("backward", [&](LightningModule& mod) { mod.backward(scaled); });
        callbacks("on_after_backward", [&](Callback& c) { c.on_after_backward(self, m); });
        module("on_after_backward", [&](LightningModule& mod) { mod.on_after_backward(); });
        if (should_step) {
          for (auto& opt : self.optimizers_) {
            // "16-mixed": the gradients are unscaled before the hooks and clipping see them.
            if (grad_scaler) grad_scaler->unscale(*opt);
            callbacks("on_before_optimizer_step", [&](Callback& c) { c.on_before_optimizer_step(self, m, *opt); });
            module("on_before_optimizer_step", [&](LightningModule& mod) { mod.on_before_optimizer_step(*opt); });
            if (self.options_.gradient_clip_val() && *self.options_.gradient_clip_val() > 0.0) {
              module("configure_gradient_clipping", [&](LightningModule& mod) {
                mod.configure_gradient_clipping(*opt, *self.options_.gradient_clip_val(),
                                                self.options_.gradient_clip_algorithm());
              });
            }
            current_fx = "optimizer_step";
            if (grad_scaler) {
              grad_scaler->step(*opt);  // skipped when a gradient is inf or NaN
              grad_scaler->update();
            } else {
              opt->step();
            }
          }
          ++self.global_step_;
        }
      }
      batch_progress.increment_processed();
      if (should_step && loss.defined()) step_schedulers("step", false);
      if (self.is_last_batch_ || batch_idx + 1 >= self.num_training_batches_) step_schedulers("epoch", false);

      callbacks("on_train_batch_end", [&](Callback& c) { c.on_train_batch_end(self, m, loss, batch, batch_idx); });
      module("on_train_batch_end", [&](LightningModule& mod) { mod.on_train_batch_end(loss, batch, batch_idx); });
      batch_progress.increment_completed();

      if ((self.batches_that_stepped_ + 1) % self.options_.log_every_n_steps() == 0 || self.should_stop_) {
        send_to_loggers(step_row(train_results), self.batches_that_stepped_);
      }
      if (val && should_check_val(batch_idx)) run_validation(val, self.num_val_batches_);
      if (should_step && loss.defined()) ++self.batches_that_stepped_;
      ++total_batch_idx;
      ++batch_idx;
    }
  }

  void run_fit(const DataLoader& train, const DataLoader& val) {
    auto& m = *self.module_;
    // Sanity check.
    if (self.enable_validation_ && self.options_.num_sanity_val_steps() != 0 && self.options_.fast_dev_run() == 0 &&
        !fit_has_run) {
      const std::int64_t steps = self.options_.num_sanity_val_steps() < 0
                                     ? self.num_val_batches_
                                     : std::min(self.options_.num_sanity_val_steps(), self.num_val_batches_);
      self.sanity_checking_ = true;
      callbacks("on_sanity_check_start", [&](Callback& c) { c.on_sanity_check_start(self, m); });
      run_validation(val, steps);
      callbacks("on_sanity_check_end", [&](Callback& c) { c.on_sanity_check_end(self, m); });
      self.sanity_checking_ = false;
      self.callback_metrics_.clear();
      self.progress_bar_metrics_.clear();
    }
    last_val_time = std::chrono::steady_clock::now();

    callbacks("on_train_start", [&](Callback& c) { c.on_train_start(self, m); });
    module("on_train_start", [](LightningModule& mod) { mod.on_train_start(); });

    while (!fit_done()) {
      epoch_progress.increment_ready();
      callbacks("on_train_epoch_start", [&](Callback& c) { c.on_train_epoch_start(self, m); });
      module("on_train_epoch_start", [](LightningModule& mod) { mod.on_train_epoch_start(); });
      epoch_progress.increment_started();

      if (self.num_training_batches_ > 0) run_training_epoch(train, val);
      epoch_progress.increment_processed();

      // Epoch end: training epoch metrics become visible, then the hooks in Lightning's three parts.
      publish_epoch_metrics(train_results);
      epoch_end_reached = true;
      current_fx = "on_train_epoch_end";
      for (auto& cb : ordered) {
        if (dynamic_cast<Checkpoint*>(cb.get()) || dynamic_cast<EarlyStopping*>(cb.get())) continue;
        current_fx = "on_train_epoch_end";
        cb->on_train_epoch_end(self, m);
      }
      module("on_train_epoch_end", [](LightningModule& mod) { mod.on_train_epoch_end(); });
      for (auto& cb : ordered) {
        if (!dynamic_cast<Checkpoint*>(cb.get()) && !dynamic_cast<EarlyStopping*>(cb.get())) continue;
        current_fx = "on_train_epoch_end";
        cb->on_train_epoch_end(self, m);
      }
      epoch_end_reached = false;
      step_schedulers("epoch", true);
      send_to_loggers(epoch_row(train_results), self.batches_that_stepped_ - 1);
      train_results.clear();
      epoch_progress.increment_completed();
      ++self.current_epoch_;
    }

    callbacks("on_train_end", [&](Callback& c) { c.on_train_end(self, m); });
    module("on_train_end", [](LightningModule& mod) { mod.on_train_end(); });
  }
};

// ---------------------------------------------------------------------------------------------------------------
// ValCheckInterval
// ---------------------------------------------------------------------------------------------------------------

double ValCheckInterval::checked_seconds(double s) {
  if (!(s >= 0.0) || !std::isfinite(s)) {
    throw ConfigurationError("`val_check_interval` must be a non-negative duration, got " + std::to_string(s) + " s");
  }
  return s;
}

// Lightning reads this string differently from Timer's duration (Timer::parse_duration: a regex with two-digit
// fields): it splits on ':' and takes Python's int() of each of the four parts, with its own messages.
ValCheckInterval::ValCheckInterval(const std::string& text) : number_(1.0) {
  std::vector<std::string> parts(1);
  for (const char c : text) {
    if (c == ':') {
      parts.emplace_back();
    } else {
      parts.back() += c;
    }
  }
  if (parts.size() != 4) {
    throw ConfigurationError("Invalid time format for `val_check_interval`: '" + text + "'. Expected 'DD:HH:MM:SS'.");
  }
  static constexpr double kSeconds[] = {86400.0, 3600.0, 60.0, 1.0};
  double total = 0.0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    // Python's int(): optional sign and surrounding whitespace, then digits only.
    std::string p = parts[i];
    const auto first = p.find_first_not_of(" \t");
    const auto last = p.find_last_not_of(" \t");
    p = first == std::string::npos ? "" : p.substr(first, last - first + 1);
    const std::size_t digits_from = !p.empty() && (p[0] == '-' || p[0] == '+') ? 1 : 0;
    if (p.size() == digits_from || p.find_first_not_of("0123456789", digits_from) != std::string::npos) {
      throw ConfigurationError("Non-integer component in `val_check_interval` string: '" + text +
                               "'. Use 'DD:HH:MM:SS'.");
    }
    total += std::stod(p) * kSeconds[i];
  }
  seconds_ = checked_seconds(total);
}

ValCheckInterval::ValCheckInterval(const char* text) : ValCheckInterval(std::string(text ? text : "")) {}

// ---------------------------------------------------------------------------------------------------------------
// Trainer
// ---------------------------------------------------------------------------------------------------------------

Trainer::Trainer(TrainerOptions options) : options_(std::move(options)), impl_(std::make_unique<Impl>(*this)) {
  global_rank_ = env_int("RANK", 0);
  local_rank_ = env_int("LOCAL_RANK", 0);
  world_size_ = env_int("WORLD_SIZE", 1);
  if (global_rank_ < 0 || world_size_ < 1 || global_rank_ >= world_size_) {
    throw ConfigurationError("invalid distributed environment: RANK=" + std::to_string(global_rank_) +
                             ", WORLD_SIZE=" + std::to_string(world_size_));
  }
  const auto& o = options_;
  if (o.max_steps() < -1) throw ConfigurationError("`max_steps` must be -1 or a non-negative integer");
  if (o.max_epochs() && *o.max_epochs() < -1) throw ConfigurationError("`max_epochs` must be -1 or >= 0");
  if (o.accumulate_grad_batches() < 1) {
    throw ConfigurationError("`Trainer(accumulate_grad_batches=" + std::to_string(o.accumulate_grad_batches()) +
                             ")` was passed but it must be an integer greater than 0.");
  }
  if (o.log_every_n_steps() < 1) throw ConfigurationError("`log_every_n_steps` must be >= 1");
  if (o.check_val_every_n_epoch() && *o.check_val_every_n_epoch() < 1) {
    throw ConfigurationError("`check_val_every_n_epoch` should be an integer >= 1 or None, got " +
                             std::to_string(*o.check_val_every_n_epoch()) + ".");
  }
  if (o.fast_dev_run() < 0) {
    throw ConfigurationError("fast_dev_run=" + std::to_string(o.fast_dev_run()) +
                             " is not a valid configuration. It should be >= 0.");
  }
  if (o.gradient_clip_algorithm() != "norm" && o.gradient_clip_algorithm() != "value") {
    throw ConfigurationError("`gradient_clip_algorithm` " + o.gradient_clip_algorithm() +
                             " is invalid. Allowed algorithms: ['value', 'norm'].");
  }
  static const char* kPrecisions[] = {"32-true", "32", "64-true", "64", "16-true", "bf16-true", "16-mixed", "16",
                                      "bf16-mixed", "bf16"};
  if (std::find(std::begin(kPrecisions), std::end(kPrecisions), o.precision()) == std::end(kPrecisions)) {
    throw ConfigurationError("Precision '" + o.precision() +
                             "' is invalid. Allowed precision values: ('32-true', '64-true', '16-true', 'bf16-true', "
                             "'16-mixed', 'bf16-mixed')");
  }

  // Device.
  const std::string& acc = o.accelerator();
  if (acc == "cpu") {
    device_ = torch::kCPU;
  } else if (acc == "cuda" || acc == "gpu") {
    if (!torch::cuda::is_available()) {
      throw ConfigurationError("`CUDAAccelerator` can not run on your system since the accelerator is not available. "
                               "The following accelerator(s) is available and can be passed into `accelerator` "
                               "argument of `Trainer`: ['cpu'].");
    }
    device_ = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(o.device_index()));
  } else if (acc == "auto") {
    device_ = torch::cuda::is_available()
                  ? torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(o.device_index()))
                  : torch::Device(torch::kCPU);
  } else {
    throw ConfigurationError("You selected an invalid accelerator name: `accelerator='" + acc +
                             "'`. Available names are: auto, cpu, cuda, gpu.");
  }

  // Loggers.
  if (o.fast_dev_run() == 0) {
    if (o.default_logger()) {
      loggers_.push_back(std::make_shared<TensorBoardLogger>(default_root_dir()));
    } else {
      loggers_ = o.loggers();
    }
  }

  // Callbacks: the user's, then the defaults, with every Checkpoint moved to the end.
  callbacks_ = o.callbacks();
  bool has_checkpoint = false;
  for (auto& cb : callbacks_) {
    if (!cb) throw ConfigurationError("callbacks must not contain null pointers");
    if (dynamic_cast<ModelCheckpoint*>(cb.get())) has_checkpoint = true;
  }
  if (!o.enable_checkpointing() && has_checkpoint) {
    throw ConfigurationError("Trainer was configured with `enable_checkpointing=False` but found `ModelCheckpoint` "
                             "in callbacks list.");
  }
  if (o.enable_checkpointing() && !has_checkpoint) callbacks_.push_back(std::make_shared<ModelCheckpoint>());
  if (o.max_time()) {
    bool has_timer = false;
    for (auto& cb : callbacks_) has_timer = has_timer || dynamic_cast<Timer*>(cb.get()) != nullptr;
    if (has_timer) {
      lamin::log::info("Ignoring `Trainer(max_time=...)`, callbacks list already contains a Timer.");
    } else {
      callbacks_.push_back(std::make_shared<Timer>(*o.max_time(), "step"));
    }
  }
  if (o.enable_progress_bar()) {
    bool has_bar = false;
    for (auto& cb : callbacks_) has_bar = has_bar || dynamic_cast<ProgressBar*>(cb.get()) != nullptr;
    if (!has_bar) callbacks_.push_back(std::make_shared<ProgressBar>());
  }
  std::stable_partition(callbacks_.begin(), callbacks_.end(),
                        [](const std::shared_ptr<Callback>& cb) { return dynamic_cast<Checkpoint*>(cb.get()) == nullptr; });
  impl_->ordered = callbacks_;
}

Trainer::~Trainer() = default;

std::int64_t Trainer::max_epochs() const {
  if (options_.fast_dev_run() > 0) return 1;
  if (options_.max_epochs()) return *options_.max_epochs();
  return options_.max_steps() == -1 && !options_.max_time() ? 1000 : -1;
}

std::string Trainer::default_root_dir() const {
  if (options_.default_root_dir().empty()) return fs::current_path().string();
  // Lightning: os.path.normpath(os.path.expanduser(default_root_dir)).
  return lamin::detail::python_normpath(lamin::detail::python_expanduser(options_.default_root_dir()));
}

std::string Trainer::log_dir() const {
  if (!loggers_.empty()) {
    auto& first = loggers_.front();
    if (auto dir = first->log_dir()) return *dir;
    if (auto dir = first->save_dir()) return *dir;
  }
  return default_root_dir();
}

ModelCheckpoint* Trainer::checkpoint_callback() const {
  auto all = checkpoint_callbacks();
  return all.empty() ? nullptr : all.front();
}

std::vector<ModelCheckpoint*> Trainer::checkpoint_callbacks() const {
  std::vector<ModelCheckpoint*> out;
  for (auto& cb : callbacks_)
    if (auto* mc = dynamic_cast<ModelCheckpoint*>(cb.get())) out.push_back(mc);
  return out;
}

EarlyStopping* Trainer::early_stopping_callback() const {
  for (auto& cb : callbacks_)
    if (auto* es = dynamic_cast<EarlyStopping*>(cb.get())) return es;
  return nullptr;
}

void Trainer::log_from_module(const std::string& name, double value, const LogOptions& options) {
  if (fn_ == TrainerFn::predicting) {
    throw ConfigurationError(
        "You are trying to `self.log()` but the loop's result collection is not registered yet. This is most likely "
        "because you are trying to log in a `predict` hook, but it doesn't support logging");
  }
  impl_->log(name, value, options);
}

void Trainer::fit(LightningModule& module, LightningDataModule& datamodule, std::optional<std::string> ckpt_path) {
  datamodule_ = &datamodule;
  datamodule.prepare_data();
  datamodule.setup("fit");
  DataLoader train = datamodule.train_dataloader();
  DataLoader val = datamodule.val_dataloader();
  fit(module, std::move(train), std::move(val), std::move(ckpt_path));
}

void Trainer::fit(LightningModule& module, DataLoader train, DataLoader val, std::optional<std::string> ckpt_path) {
  if (!train) throw ConfigurationError("`Trainer.fit` needs a train dataloader");
  Impl& im = *impl_;
  module_ = &module;
  module.trainer_ = this;
  fn_ = TrainerFn::fitting;
  should_stop_ = false;
  callback_metrics_.clear();
  progress_bar_metrics_.clear();
  ckpt_path_.reset();
  if (options_.seed()) torch::manual_seed(*options_.seed());

  im.configure_precision();

  try {
    // Data sizes.
    num_training_batches_ = im.limited(train, options_.limit_train_batches(), "train");
    enable_validation_ = static_cast<bool>(val);
    num_val_batches_ = enable_validation_ ? im.limited(val, options_.limit_val_batches(), "val") : 0;
    if (num_val_batches_ == 0) enable_validation_ = false;
    if (options_.fast_dev_run() > 0) {
      num_training_batches_ = std::min(num_training_batches_, options_.fast_dev_run());
      num_val_batches_ = std::min(num_val_batches_, options_.fast_dev_run());
    }
    const ValCheckInterval& vci = options_.val_check_interval();
    if (vci.is_time_based()) {
      val_check_batch_ = 0;  // validation follows the clock, not a batch count
    } else if (vci.is_int()) {
      val_check_batch_ = vci.as_int();
      if (val_check_batch_ < 1) throw ConfigurationError("`val_check_interval` must be >= 1 when it is an int");
      if (val_check_batch_ > num_training_batches_ && options_.check_val_every_n_epoch() && enable_validation_) {
        throw ConfigurationError("`val_check_interval` (" + std::to_string(val_check_batch_) +
                                 ") must be less than or equal to the number of the training batches (" +
                                 std::to_string(num_training_batches_) +
                                 "). If you want to disable validation set `limit_val_batches` to 0.0 instead. If you "
                                 "want to validate based on the total training batches, set "
                                 "`check_val_every_n_epoch=None`.");
      }
    } else {
      if (vci.as_double() < 0.0 || vci.as_double() > 1.0) {
        throw ConfigurationError("`val_check_interval` should be an int or a float in [0.0, 1.0]");
      }
      val_check_batch_ = std::max<std::int64_t>(
          1, static_cast<std::int64_t>(static_cast<double>(num_training_batches_) * vci.as_double()));
    }
    if (!options_.max_epochs() && options_.max_steps() == -1 && !options_.max_time() && options_.fast_dev_run() == 0) {
      lamin::log::warn_once("`max_epochs` was not set. Setting it to 1000 epochs. To train without an epoch limit, "
                            "set `max_epochs=-1`.");
    }

    // 1. Loggers' experiments.
    if (is_global_zero())
      for (auto& logger : loggers_) logger->init_experiment();
    // 2. setup: callbacks, then the module.
    for (auto& cb : im.ordered) cb->setup(*this, module, "fit");
    module.setup("fit");
    module.to(device_);
    if (im.true_precision_dtype) module.to(*im.true_precision_dtype);
    // 3. Weights and callback states from the checkpoint.
    std::optional<CheckpointDict> resume;
    if (ckpt_path) {
      ckpt_path_ = detail::TrainerCheckpointing::resolve_ckpt_path(*this, *ckpt_path);
      resume = load_checkpoint_file(*ckpt_path_);
      detail::TrainerCheckpointing::restore_model_and_callbacks(*this, *resume);
    }
    // 4. Optimizers.
    im.current_fx = "configure_optimizers";
    OptimizerConfig config = module.configure_optimizers();
    if (config.optimizers.empty()) throw ConfigurationError("`configure_optimizers` must return at least one optimizer");
    optimizers_ = std::move(config.optimizers);
    schedulers_ = std::move(config.schedulers);
    for (auto& s : schedulers_) {
      if (!s.scheduler) throw ConfigurationError("a scheduler config has no scheduler");
      if (s.interval != "epoch" && s.interval != "step") {
        throw ConfigurationError("The \"interval\" key in lr scheduler dict must be \"step\" or \"epoch\" but is \"" +
                                 s.interval + "\"");
      }
      if (s.scheduler->is_plateau() && s.monitor.empty()) {
        throw ConfigurationError("The lr scheduler dict must include a monitor when a `ReduceLROnPlateau` scheduler "
                                 "is used. For example: {\"optimizer\": optimizer, \"lr_scheduler\": {\"scheduler\": "
                                 "scheduler, \"monitor\": \"your_loss\"}}");
      }
    }
    // 5. on_fit_start.
    im.callbacks("on_fit_start", [&](Callback& c) { c.on_fit_start(*this, module); });
    im.module("on_fit_start", [](LightningModule& m) { m.on_fit_start(); });
    // 6. Hyperparameters.
    if (is_global_zero() && options_.fast_dev_run() == 0 && (module.has_hparams() || (datamodule_ && datamodule_->has_hparams()))) {
      nlohmann::json hp = module.has_hparams() ? module.hparams() : nlohmann::json::object();
      if (datamodule_ && datamodule_->has_hparams()) hp.update(datamodule_->hparams());
      for (auto& logger : loggers_) {
        logger->log_hyperparams(hp);
        logger->save();
      }
    }
    // 7. Optimizer, scheduler and loop progress.
    if (resume) {
      detail::TrainerCheckpointing::restore_training_state(*this, *resume, im.epoch_progress, im.batch_progress,
                                                           im.start_batch_idx, im.grad_scaler.get());
      im.total_batch_idx = im.batch_progress.total.completed;
    }
    // 8.-11.
    im.run_fit(train, val);
    im.fit_has_run = true;
    // 13.-15.
    im.callbacks("on_fit_end", [&](Callback& c) { c.on_fit_end(*this, module); });
    im.module("on_fit_end", [](LightningModule& m) { m.on_fit_end(); });
    for (auto& cb : im.ordered) cb->teardown(*this, module, "fit");
    module.teardown("fit");
    if (datamodule_) datamodule_->teardown("fit");
    if (is_global_zero())
      for (auto& logger : loggers_) logger->finalize("success");
  } catch (const std::exception& e) {
    try {
      for (auto& cb : im.ordered) cb->on_exception(*this, module, e);
    } catch (...) {
      fn_ = TrainerFn::none;
      throw;
    }
    if (is_global_zero()) {
      for (auto& logger : loggers_) {
        try {
          logger->finalize("failed");
        } catch (...) {
        }
      }
    }
    fn_ = TrainerFn::none;
    throw;
  }
  fn_ = TrainerFn::none;
}

MetricMap Trainer::validate(LightningModule& module, DataLoader val_dataloader) {
  if (!val_dataloader) throw ConfigurationError("`Trainer.validate` needs a val dataloader");
  Impl& im = *impl_;
  return im.run_stage(
      module, TrainerFn::validating, "validate",
      [&] { num_val_batches_ = im.limited(val_dataloader, options_.limit_val_batches(), "val"); },
      [&] {
        im.run_validation(val_dataloader, num_val_batches_);
        return im.epoch_map(im.eval_results);
      });
}

MetricMap Trainer::test(LightningModule& module, DataLoader test_dataloader) {
  if (!test_dataloader) throw ConfigurationError("`Trainer.test` needs a test dataloader");
  Impl& im = *impl_;
  std::int64_t n = 0;
  return im.run_stage(
      module, TrainerFn::testing, "test",
      [&] { n = im.limited(test_dataloader, options_.limit_test_batches(), "test"); },
      [&] {
        in_evaluation_ = true;
        im.eval_results.clear();
        module.mode_before_evaluation_ = module.is_training();
        im.module("on_test_model_eval", [](LightningModule& m) { m.on_test_model_eval(); });
        {
          torch::NoGradGuard no_grad;
          im.callbacks("on_test_start", [&](Callback& c) { c.on_test_start(*this, module); });
          im.module("on_test_start", [](LightningModule& m) { m.on_test_start(); });
          im.callbacks("on_test_epoch_start", [&](Callback& c) { c.on_test_epoch_start(*this, module); });
          im.module("on_test_epoch_start", [](LightningModule& m) { m.on_test_epoch_start(); });
          auto cursor = test_dataloader.epoch();
          for (std::int64_t i = 0; i < n; ++i) {
            auto raw = cursor();
            if (!raw) break;
            Batch batch = prepare_batch(*raw, device_, im.true_precision_dtype);
            im.current_batch_size = batch_size_of(batch);
            im.callbacks("on_test_batch_start", [&](Callback& c) { c.on_test_batch_start(*this, module, batch, i); });
            im.module("on_test_batch_start", [&](LightningModule& m) { m.on_test_batch_start(batch, i); });
            {
              AutocastGuard ac(im.autocast, device_, im.autocast_dtype);
              im.module("test_step", [&](LightningModule& m) { m.test_step(batch, i); });
            }
            im.callbacks("on_test_batch_end",
                         [&](Callback& c) { c.on_test_batch_end(*this, module, at::Tensor(), batch, i); });
            im.module("on_test_batch_end", [&](LightningModule& m) { m.on_test_batch_end(batch, i); });
          }
          im.epoch_end_reached = true;
          im.callbacks("on_test_epoch_end", [&](Callback& c) { c.on_test_epoch_end(*this, module); });
          im.module("on_test_epoch_end", [](LightningModule& m) { m.on_test_epoch_end(); });
          im.epoch_end_reached = false;
          im.publish_epoch_metrics(im.eval_results);
          im.send_to_loggers(im.epoch_row(im.eval_results), batches_that_stepped_);
          im.callbacks("on_test_end", [&](Callback& c) { c.on_test_end(*this, module); });
          im.module("on_test_end", [](LightningModule& m) { m.on_test_end(); });
        }
        im.module("on_test_model_train", [](LightningModule& m) { m.on_test_model_train(); });
        return im.epoch_map(im.eval_results);
      });
}

std::vector<at::Tensor> Trainer::predict(LightningModule& module, DataLoader predict_dataloader,
                                         bool return_predictions) {
  if (!predict_dataloader) throw ConfigurationError("`Trainer.predict` needs a predict dataloader");
  Impl& im = *impl_;
  std::int64_t n = 0;
  return im.run_stage(
      module, TrainerFn::predicting, "predict",
      [&] { n = im.limited(predict_dataloader, options_.limit_predict_batches(), "predict"); },
      [&] {
        std::vector<at::Tensor> predictions;
        in_evaluation_ = true;
        im.module("on_predict_model_eval", [](LightningModule& m) { m.on_predict_model_eval(); });
        module.zero_grad();
        torch::NoGradGuard no_grad;
        im.callbacks("on_predict_start", [&](Callback& c) { c.on_predict_start(*this, module); });
        im.module("on_predict_start", [](LightningModule& m) { m.on_predict_start(); });
        im.callbacks("on_predict_epoch_start", [&](Callback& c) { c.on_predict_epoch_start(*this, module); });
        im.module("on_predict_epoch_start", [](LightningModule& m) { m.on_predict_epoch_start(); });
        auto cursor = predict_dataloader.epoch();
        for (std::int64_t i = 0; i < n; ++i) {
          auto raw = cursor();
          if (!raw) break;
          Batch batch = prepare_batch(*raw, device_, im.true_precision_dtype);
          im.callbacks("on_predict_batch_start",
                       [&](Callback& c) { c.on_predict_batch_start(*this, module, batch, i); });
          im.module("on_predict_batch_start", [&](LightningModule& m) { m.on_predict_batch_start(batch, i); });
          at::Tensor out;
          {
            AutocastGuard ac(im.autocast, device_, im.autocast_dtype);
            im.module("predict_step", [&](LightningModule& m) { out = m.predict_step(batch, i); });
          }
          im.callbacks("on_predict_batch_end",
                       [&](Callback& c) { c.on_predict_batch_end(*this, module, out, batch, i); });
          im.module("on_predict_batch_end", [&](LightningModule& m) { m.on_predict_batch_end(out, batch, i); });
          if (return_predictions) predictions.push_back(out.defined() ? out.cpu() : out);
        }
        im.callbacks("on_predict_epoch_end", [&](Callback& c) { c.on_predict_epoch_end(*this, module); });
        im.module("on_predict_epoch_end", [](LightningModule& m) { m.on_predict_epoch_end(); });
        im.callbacks("on_predict_end", [&](Callback& c) { c.on_predict_end(*this, module); });
        im.module("on_predict_end", [](LightningModule& m) { m.on_predict_end(); });
        return predictions;
      });
}

void Trainer::save_checkpoint(const std::string& path, bool weights_only) {
  if (module_ == nullptr) throw Error("Saving a checkpoint is only possible if a model is attached to the Trainer.");
  CheckpointDict ckpt =
      detail::TrainerCheckpointing::dump(*this, weights_only, impl_->epoch_progress, impl_->batch_progress,
                                         impl_->grad_scaler.get());
  if (!is_global_zero()) return;
  save_checkpoint_file(ckpt, path);
}

}  // namespace lamin::pl
