#pragma once
// What `LightningModule::log` records and where it goes (Lightning's `_LoggerConnector` with its result
// collections): step and epoch values, the trainer's metric views, and the rows sent to the loggers.

#include <cstdint>
#include <string>

#include "lamin/pl/metrics.hpp"
#include "lamin/pl/module.hpp"
#include "trainer_internal.hpp"

namespace lamin::pl::detail {

struct TrainerContext;

class LoggerConnector {
 public:
  explicit LoggerConnector(TrainerContext& context) : context_(context) {}

  /// `self.log(name, value, ...)` from the hook `context.current_fx`, for the batch `context.current_batch_size`.
  void log(const std::string& name, double value, const LogOptions& options);

  /// Epoch-level values of `results` become visible to callbacks and the progress bar.
  void publish_epoch_metrics(const ResultCollection& results);
  /// Sends a row of metrics (plus the epoch) to the loggers at `step` and records it as logged_metrics. Only the
  /// global-zero process writes, and nothing is written under fast_dev_run.
  void send_to_loggers(MetricMap row, std::int64_t step);
  /// The step-level values of `results` as a logger row ("_step" suffix for values logged at both levels).
  static MetricMap step_row(const ResultCollection& results);
  /// The epoch-level values of `results` as a logger row ("_epoch" suffix for values logged at both levels).
  static MetricMap epoch_row(const ResultCollection& results);
  /// The epoch-level values of `results` under their logged names (what validate() and test() return).
  static MetricMap epoch_map(const ResultCollection& results);

  ResultCollection train_results;
  ResultCollection eval_results;
  /// Inside an epoch-end hook: values logged now are epoch-level and visible at once.
  bool epoch_end_reached = false;

 private:
  ResultCollection& active_results();
  void publish_epoch_metric(const ResultMetric& metric, bool to_callbacks);

  TrainerContext& context_;
};

}  // namespace lamin::pl::detail
