#include "loops/logger_connector.hpp"

#include <algorithm>
#include <limits>

#include "lamin/error.hpp"
#include "lamin/pl/logger.hpp"
#include "loops/context.hpp"

namespace lamin::pl::detail {
namespace {

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

/// Lightning's defaults for `on_step` / `on_epoch` in the hook `fx`, and its refusal of step values at epoch level.
std::pair<bool, bool> levels(const std::string& name, const std::string& fx, const LogOptions& opts) {
  if (is_step_hook(fx)) return {opts.on_step().value_or(true), opts.on_epoch().value_or(false)};
  if (is_eval_step_hook(fx)) return {opts.on_step().value_or(false), opts.on_epoch().value_or(true)};
  if (opts.on_step().value_or(false)) {
    throw ConfigurationError("You can't `self.log(" + name + ", ..., on_step=True)` in `" + fx +
                             "`, only `on_step=False` is allowed.");
  }
  return {false, opts.on_epoch().value_or(true)};
}

/// Adds one value to a metric's epoch reduction (float32 running sums in `_ResultMetric`'s order of operations).
void accumulate(ResultMetric& m, float v, std::int64_t batch_size) {
  if (m.reduce_fx == "mean") {
    m.value = m.value + v * static_cast<float>(batch_size);
    m.cumulated_batch_size += batch_size;
  } else if (m.reduce_fx == "sum") {
    m.value = m.value + v;
  } else if (m.reduce_fx == "max") {
    m.value = std::max(m.value, v);
  } else {
    m.value = std::min(m.value, v);
  }
  m.has_epoch_value = true;
}

}  // namespace

ResultCollection& LoggerConnector::active_results() {
  return context_.in_evaluation ? eval_results : train_results;
}

void LoggerConnector::log(const std::string& name, double raw, const LogOptions& opts) {
  const auto [on_step, on_epoch] = levels(name, context_.current_fx, opts);
  if (!on_step && !on_epoch) return;
  const auto& fxn = opts.reduce_fx();
  if (fxn != "mean" && fxn != "sum" && fxn != "max" && fxn != "min") {
    throw ConfigurationError("`self.log(" + name + ", ..., reduce_fx=" + fxn +
                             ")` is not supported: use mean, sum, max or min");
  }
  const float v = static_cast<float>(raw);
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
  if (m.on_epoch) accumulate(m, v, opts.batch_size().value_or(context_.current_batch_size));
  m.step_value = v;
  m.has_step_value = true;

  // The live views.
  if (!context_.in_evaluation && on_step) {
    context_.callback_metrics.set(name, Scalar::f32(v));
    if (m.forked()) context_.callback_metrics.set(name + "_step", Scalar::f32(v));
    if (m.prog_bar) context_.progress_bar_metrics.set(m.forked() ? name + "_step" : name, Scalar::f32(v));
  }
  if (epoch_end_reached && m.on_epoch && !context_.sanity_checking) publish_epoch_metric(m, /*to_callbacks=*/true);
}

void LoggerConnector::publish_epoch_metric(const ResultMetric& m, bool to_callbacks) {
  const Scalar value = Scalar::f32(m.epoch_value());
  if (to_callbacks) {
    context_.callback_metrics.set(m.name, value);
    if (m.forked()) context_.callback_metrics.set(m.name + "_epoch", value);
  }
  if (m.prog_bar) context_.progress_bar_metrics.set(m.forked() ? m.name + "_epoch" : m.name, value);
}

void LoggerConnector::publish_epoch_metrics(const ResultCollection& results) {
  for (const auto& m : results.metrics())
    if (m.on_epoch && m.has_epoch_value) publish_epoch_metric(m, true);
}

void LoggerConnector::send_to_loggers(MetricMap row, std::int64_t step) {
  if (row.empty()) return;
  row.set("epoch", Scalar::integer(context_.trainer.current_epoch()));
  for (const auto& e : row) context_.logged_metrics.set(e.first, e.second);
  if (!context_.strategy->is_global_zero() || context_.options.fast_dev_run() > 0) return;
  for (auto& logger : context_.loggers) {
    logger->log_metrics(row, step);
    logger->save();
  }
}

MetricMap LoggerConnector::step_row(const ResultCollection& results) {
  MetricMap row;
  for (const auto& m : results.metrics())
    if (m.on_step && m.logger && m.has_step_value)
      row.set(m.forked() ? m.name + "_step" : m.name, Scalar::f32(m.step_value));
  return row;
}

MetricMap LoggerConnector::epoch_row(const ResultCollection& results) {
  MetricMap row;
  for (const auto& m : results.metrics())
    if (m.on_epoch && m.logger && m.has_epoch_value)
      row.set(m.forked() ? m.name + "_epoch" : m.name, Scalar::f32(m.epoch_value()));
  return row;
}

MetricMap LoggerConnector::epoch_map(const ResultCollection& results) {
  MetricMap out;
  for (const auto& m : results.metrics())
    if (m.on_epoch && m.has_epoch_value) out.set(m.name, Scalar::f32(m.epoch_value()));
  return out;
}

}  // namespace lamin::pl::detail
