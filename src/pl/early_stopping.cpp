// EarlyStopping: Lightning's callbacks/early_stopping.py, with its float32 arithmetic and its messages.

#include "lamin/pl/early_stopping.hpp"

#include <cmath>
#include <cstdio>
#include <limits>

#include "core/python.hpp"
#include "core/python.hpp"
#include "lamin/error.hpp"
#include "lamin/log.hpp"
#include "lamin/pl/trainer.hpp"

namespace lamin::pl {

namespace {

// Python's f"{x:.3f}".
std::string fixed3(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.3f", x);
  return buf;
}

// Python's f"{x}" of a float32 tensor's item() (the double of the float32).
std::string item_text(float x) { return lamin::detail::python_repr(static_cast<double>(x)); }

}  // namespace

EarlyStopping::EarlyStopping(EarlyStoppingOptions options) : options_(std::move(options)) {
  if (options_.mode() != "min" && options_.mode() != "max")
    throw ConfigurationError("`mode` can be min, max, got " + options_.mode());
  // Lightning: `self.min_delta *= 1 if self.monitor_op == torch.gt else -1`.
  min_delta_ = options_.mode() == "max" ? options_.min_delta() : options_.min_delta() * -1.0;
  best_score_ = options_.mode() == "min" ? std::numeric_limits<float>::infinity()
                                         : -std::numeric_limits<float>::infinity();
  check_on_train_epoch_end_ = options_.check_on_train_epoch_end();
}

EarlyStopping::EarlyStopping(std::string monitor, std::int64_t patience, std::string mode, double min_delta)
    : EarlyStopping(EarlyStoppingOptions()
                        .monitor(std::move(monitor))
                        .patience(patience)
                        .mode(std::move(mode))
                        .min_delta(min_delta)) {}

std::string EarlyStopping::state_key() const {
  return "EarlyStopping{'monitor': " + lamin::detail::python_str_repr(options_.monitor()) +
         ", 'mode': " + lamin::detail::python_str_repr(options_.mode()) + "}";
}

nlohmann::json EarlyStopping::state_dict() const {
  nlohmann::json state = nlohmann::json::object();
  state["wait_count"] = wait_count_;
  state["stopped_epoch"] = stopped_epoch_;
  state["best_score"] = static_cast<double>(best_score_);
  state["patience"] = options_.patience();
  state["stopping_reason"] = static_cast<int>(stopping_reason_);
  state["stopping_reason_message"] =
      stopping_reason_message_ ? nlohmann::json(*stopping_reason_message_) : nlohmann::json(nullptr);
  return state;
}

void EarlyStopping::load_state_dict(const nlohmann::json& state) {
  if (!state.is_object()) throw IntegrityError("EarlyStopping state must be an object, got " + state.dump());
  try {
    wait_count_ = state.at("wait_count").get<std::int64_t>();
    stopped_epoch_ = state.at("stopped_epoch").get<std::int64_t>();
    const auto& best = state.at("best_score");
    // A non-finite best score does not survive JSON text (it becomes null): that is the initial value.
    best_score_ = best.is_number() ? static_cast<float>(best.get<double>())
                                   : (options_.mode() == "min" ? std::numeric_limits<float>::infinity()
                                                               : -std::numeric_limits<float>::infinity());
    options_.patience(state.at("patience").get<std::int64_t>());
    const int reason = state.contains("stopping_reason") && state["stopping_reason"].is_number_integer()
                           ? state["stopping_reason"].get<int>()
                           : 0;
    if (reason < 0 || reason > 4) throw IntegrityError("Unknown EarlyStopping stopping_reason " + std::to_string(reason));
    stopping_reason_ = static_cast<EarlyStoppingReason>(reason);
    if (state.contains("stopping_reason_message") && state["stopping_reason_message"].is_string()) {
      stopping_reason_message_ = state["stopping_reason_message"].get<std::string>();
    } else {
      stopping_reason_message_.reset();
    }
  } catch (const nlohmann::json::exception& e) {
    throw IntegrityError(std::string("Invalid EarlyStopping state: ") + e.what());
  }
}

void EarlyStopping::setup(Trainer& trainer, LightningModule&, const std::string&) {
  if (!check_on_train_epoch_end_) {
    // Validation several times per epoch, or not every epoch: check after validation instead.
    const auto every_n = trainer.check_val_every_n_epoch();
    check_on_train_epoch_end_ = trainer.val_check_interval() == 1.0 && every_n && *every_n == 1;
  }
}

bool EarlyStopping::should_skip_check(const Trainer& trainer) const {
  return trainer.state() != TrainerFn::fitting || trainer.sanity_checking();
}

void EarlyStopping::on_train_epoch_end(Trainer& trainer, LightningModule&) {
  if (!check_on_train_epoch_end_.value_or(false) || should_skip_check(trainer)) return;
  run_early_stopping_check(trainer);
}

void EarlyStopping::on_validation_end(Trainer& trainer, LightningModule&) {
  if (check_on_train_epoch_end_.value_or(false) || should_skip_check(trainer)) return;
  run_early_stopping_check(trainer);
}

bool EarlyStopping::better(float a, float b) const { return options_.mode() == "min" ? a < b : a > b; }

void EarlyStopping::run_early_stopping_check(Trainer& trainer) {
  const MetricMap& logs = trainer.callback_metrics();
  if (trainer.fast_dev_run() > 0) return;
  const Scalar* value = logs.find(options_.monitor());
  if (!value) {
    std::string available;
    for (const auto& key : logs.keys()) available += (available.empty() ? "" : "`, `") + key;
    const std::string message = "Early stopping conditioned on metric `" + options_.monitor() +
                                "` which is not available. Pass in or modify your `EarlyStopping` callback to use any "
                                "of the following: `" +
                                available + "`";
    if (options_.strict()) throw ConfigurationError(message);
    if (options_.verbose()) log::warn(message);
    return;
  }

  // Lightning keeps the metric as a float32 tensor: every comparison below is in float32.
  const float current = static_cast<float>(value->value);
  const std::string order = options_.mode() == "min" ? "<" : ">";
  bool should_stop = false;
  std::optional<std::string> reason;
  if (options_.check_finite() && !std::isfinite(current)) {
    should_stop = true;
    stopping_reason_ = EarlyStoppingReason::non_finite_metric;
    reason = "Monitored metric " + options_.monitor() + " = " + item_text(current) +
             " is not finite. Previous best value was " + fixed3(best_score_) + ". Signaling Trainer to stop.";
  } else if (options_.stopping_threshold() && better(current, static_cast<float>(*options_.stopping_threshold()))) {
    should_stop = true;
    stopping_reason_ = EarlyStoppingReason::stopping_threshold;
    reason = "Stopping threshold reached: " + options_.monitor() + " = " + item_text(current) + " " + order + " " +
             lamin::detail::python_repr(*options_.stopping_threshold()) + ". Signaling Trainer to stop.";
  } else if (options_.divergence_threshold() &&
             better(-current, -static_cast<float>(*options_.divergence_threshold()))) {
    should_stop = true;
    stopping_reason_ = EarlyStoppingReason::divergence_threshold;
    reason = "Divergence threshold reached: " + options_.monitor() + " = " + item_text(current) + " " + order + " " +
             lamin::detail::python_repr(*options_.divergence_threshold()) + ". Signaling Trainer to stop.";
  } else if (better(current - static_cast<float>(min_delta_), best_score_)) {
    if (std::isfinite(best_score_)) {
      reason = "Metric " + options_.monitor() + " improved by " + fixed3(std::fabs(best_score_ - current)) +
               " >= min_delta = " + lamin::detail::python_repr(std::fabs(min_delta_)) +
               ". New best score: " + fixed3(current);
    } else {
      reason = "Metric " + options_.monitor() + " improved. New best score: " + fixed3(current);
    }
    best_score_ = current;
    wait_count_ = 0;
  } else {
    ++wait_count_;
    if (wait_count_ >= options_.patience()) {
      should_stop = true;
      stopping_reason_ = EarlyStoppingReason::patience_exhausted;
      reason = "Monitored metric " + options_.monitor() + " did not improve in the last " +
               std::to_string(wait_count_) + " records. Best score: " + fixed3(best_score_) +
               ". Signaling Trainer to stop.";
    }
  }

  trainer.set_should_stop(trainer.should_stop() || should_stop);
  if (should_stop) {
    stopped_epoch_ = trainer.current_epoch();
    stopping_reason_message_ = reason;
  }
  if (reason && options_.verbose()) {
    const bool distributed = trainer.world_size() > 1;
    const std::string message =
        distributed ? "[rank: " + std::to_string(trainer.global_rank()) + "] " + *reason : *reason;
    if (!distributed || !options_.log_rank_zero_only() || trainer.global_rank() == 0) log::info(message);
  }
}

}  // namespace lamin::pl
