#pragma once
// EarlyStopping: Lightning's callback that stops training when a monitored metric stops improving.

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "lamin/arg.hpp"
#include "lamin/pl/callback.hpp"

namespace lamin::pl {

/// Why EarlyStopping stopped the run (Lightning's `EarlyStoppingReason`; the values are stored in checkpoints).
enum class EarlyStoppingReason {
  not_stopped = 0,
  stopping_threshold = 1,
  divergence_threshold = 2,
  patience_exhausted = 3,
  non_finite_metric = 4,
};

/// EarlyStopping settings, with Lightning's names and defaults.
struct EarlyStoppingOptions {
  /// The callback metric to watch (required).
  LAMIN_ARG(std::string, monitor) = "";
  /// An improvement must be larger than this (absolute) amount.
  LAMIN_ARG(double, min_delta) = 0.0;
  /// Checks without improvement before stopping (checks, not epochs).
  LAMIN_ARG(std::int64_t, patience) = 3;
  /// Log every decision (lamin::log::info).
  LAMIN_ARG(bool, verbose) = false;
  /// "min" or "max".
  LAMIN_ARG(std::string, mode) = "min";
  /// Throw when `monitor` is missing from the callback metrics (else: skip the check; warn when verbose).
  LAMIN_ARG(bool, strict) = true;
  /// Stop when the monitored value becomes NaN or infinite.
  LAMIN_ARG(bool, check_finite) = true;
  /// Stop as soon as the value is better than this.
  LAMIN_ARG(std::optional<double>, stopping_threshold) = std::nullopt;
  /// Stop as soon as the value is worse than this.
  LAMIN_ARG(std::optional<double>, divergence_threshold) = std::nullopt;
  /// Check at the end of the training epoch (true) or of validation (false). Default: at the training epoch end
  /// when validation runs exactly once per epoch (`val_check_interval == 1.0` and `check_val_every_n_epoch == 1`),
  /// else after each validation (so with a time-based `val_check_interval`, where Lightning 2.6 fails in setup).
  LAMIN_ARG(std::optional<bool>, check_on_train_epoch_end) = std::nullopt;
  /// With several processes, log only on rank 0.
  LAMIN_ARG(bool, log_rank_zero_only) = false;
};

/// Lightning's `EarlyStopping`: watches `trainer.callback_metrics()[monitor]` (a float32) and calls
/// `trainer.set_should_stop(true)` when it has not improved for `patience` checks, crossed a threshold, or
/// stopped being finite. Skipped during the sanity check, outside fit, and with fast_dev_run.
///
/// The trainer runs it after the other callbacks and the module in on_train_epoch_end (like ModelCheckpoint).
class EarlyStopping : public Callback {
 public:
  /// Throws lamin::ConfigurationError for a mode other than "min" / "max".
  explicit EarlyStopping(EarlyStoppingOptions options);
  explicit EarlyStopping(std::string monitor, std::int64_t patience = 3, std::string mode = "min",
                         double min_delta = 0.0);

  /// `EarlyStopping{'monitor': 'val_loss', 'mode': 'min'}`.
  std::string state_key() const override;
  /// `{wait_count, stopped_epoch, best_score, patience, stopping_reason, stopping_reason_message}`.
  nlohmann::json state_dict() const override;
  void load_state_dict(const nlohmann::json& state) override;

  void setup(Trainer& trainer, LightningModule& module, const std::string& stage) override;
  void on_train_epoch_end(Trainer& trainer, LightningModule& module) override;
  void on_validation_end(Trainer& trainer, LightningModule& module) override;

  const std::string& monitor() const { return options_.monitor(); }
  const std::string& mode() const { return options_.mode(); }
  std::int64_t patience() const { return options_.patience(); }
  /// min_delta with the sign Lightning gives it (negative in "min" mode).
  double min_delta() const { return min_delta_; }
  std::int64_t wait_count() const { return wait_count_; }
  /// The epoch in which the run was stopped; 0 if it was not.
  std::int64_t stopped_epoch() const { return stopped_epoch_; }
  /// The best value so far (float32), +inf ("min") or -inf ("max") before the first check.
  float best_score() const { return best_score_; }
  EarlyStoppingReason stopping_reason() const { return stopping_reason_; }
  const std::optional<std::string>& stopping_reason_message() const { return stopping_reason_message_; }
  /// The resolved check_on_train_epoch_end (set by setup when it was left unset).
  const std::optional<bool>& check_on_train_epoch_end() const { return check_on_train_epoch_end_; }
  const EarlyStoppingOptions& options() const { return options_; }

 private:
  bool should_skip_check(const Trainer& trainer) const;
  void run_early_stopping_check(Trainer& trainer);
  bool better(float a, float b) const;

  EarlyStoppingOptions options_;
  double min_delta_ = 0.0;
  std::int64_t wait_count_ = 0;
  std::int64_t stopped_epoch_ = 0;
  float best_score_ = 0.0f;
  EarlyStoppingReason stopping_reason_ = EarlyStoppingReason::not_stopped;
  std::optional<std::string> stopping_reason_message_;
  std::optional<bool> check_on_train_epoch_end_;
};

}  // namespace lamin::pl
