#pragma once
// TensorBoardLogger: Lightning's TensorBoard logger. Writes real TensorBoard event files
// (`save_dir/name/version_N[/sub_dir]/events.out.tfevents.<time>.<host>.<pid>.<n>`) and hparams.yaml.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "lamin/arg.hpp"
#include "lamin/pl/logger.hpp"

namespace lamin::pl {

namespace detail {
class RecordWriter;
}

/// TensorBoardLogger settings, with Lightning's names and defaults.
struct TensorBoardLoggerOptions {
  LAMIN_ARG(std::string, save_dir) = ".";
  /// Experiment name; "" puts the version folders directly under save_dir.
  LAMIN_ARG(std::string, name) = "lightning_logs";
  /// nullopt: the next free `version_N` (resolved on first use). A string is the folder name verbatim.
  LAMIN_ARG(std::optional<LoggerVersion>, version) = std::nullopt;
  /// Accepted for parity with Lightning; lamin-cpp does not write model graphs.
  LAMIN_ARG(bool, log_graph) = false;
  /// log_hyperparams() also logs the scalar `hp_metric = -1`, so TensorBoard's HPARAMS tab has a metric.
  LAMIN_ARG(bool, default_hp_metric) = true;
  /// Put before every metric key, joined with `-`.
  LAMIN_ARG(std::string, prefix) = "";
  /// A folder inside the version folder for the event file.
  LAMIN_ARG(std::optional<std::string>, sub_dir) = std::nullopt;
  /// Appended to the event file's name (SummaryWriter's `filename_suffix`).
  LAMIN_ARG(std::string, filename_suffix) = "";
};

/// Lightning's `TensorBoardLogger` (pytorch flavour).
///
/// Scalars are written as `Event{wall_time, step, Summary{Value{tag, simple_value}}}` records (float32), framed as
/// TFRecords with masked CRC-32C, which TensorBoard reads. log_hyperparams() writes the hparams plugin's
/// experiment / session-start / session-end summaries as torch's SummaryWriter does. hparams.yaml is written once, by
/// the first save() that finds it missing (`{}` when no hyperparameters were logged). Only rank 0 writes.
class TensorBoardLogger : public Logger {
 public:
  static constexpr const char* kNameHparamsFile = "hparams.yaml";
  static constexpr const char* kLoggerJoinChar = "-";

  explicit TensorBoardLogger(TensorBoardLoggerOptions options = {});
  explicit TensorBoardLogger(std::string save_dir, std::string name = "lightning_logs",
                             std::optional<LoggerVersion> version = std::nullopt, bool default_hp_metric = true,
                             std::string prefix = "", std::optional<std::string> sub_dir = std::nullopt);
  ~TensorBoardLogger() override;

  std::string name() const override { return options_.name(); }
  LoggerVersion version() override;
  std::optional<std::string> save_dir() const override { return options_.save_dir(); }
  /// `save_dir/name`.
  std::string root_dir() const;
  /// `root_dir/version_N[/sub_dir]`, with `$VARS` and `~` expanded.
  std::optional<std::string> log_dir() override;
  const std::optional<std::string>& sub_dir() const { return options_.sub_dir(); }
  /// The event file being written; empty before init_experiment().
  const std::string& event_file_path() const { return event_file_; }

  /// Creates log_dir and the event file (its first record is the file version).
  void init_experiment() override;
  /// One scalar event per metric, at `step`.
  void log_metrics(const MetricMap& metrics, std::int64_t step) override;
  /// Merges `params` into hparams() and writes the hparams plugin summaries (plus `hp_metric = -1` when
  /// default_hp_metric). Nested objects are flattened with `/`; lists and null become their Python text.
  void log_hyperparams(const nlohmann::json& params) override;
  /// Lightning's `log_hyperparams(params, metrics, step)`: `metrics` are logged as scalars and named in the
  /// hparams experiment summary.
  void log_hyperparams(const nlohmann::json& params, const MetricMap& metrics,
                       std::optional<std::int64_t> step = std::nullopt);
  /// Flushes the event file; writes hparams.yaml if it does not exist yet.
  void save() override;
  /// Flushes and closes the event file; on "success" also save()s.
  void finalize(const std::string& status) override;

  const nlohmann::json& hparams() const { return hparams_; }
  const TensorBoardLoggerOptions& options() const { return options_; }

 private:
  bool rank_zero() const { return rank_ == 0; }
  void write_scalars(const MetricMap& metrics, std::optional<std::int64_t> step);

  TensorBoardLoggerOptions options_;
  int rank_ = 0;
  std::unique_ptr<detail::RecordWriter> writer_;
  std::string event_file_;
  nlohmann::json hparams_ = nlohmann::json::object();
};

}  // namespace lamin::pl
