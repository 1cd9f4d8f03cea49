#pragma once
// CSVLogger: Lightning's CSV logger. Metrics go to `save_dir/name/version_N/metrics.csv` and hyperparameters to
// `hparams.yaml` next to it, byte for byte as Lightning writes them.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "lamin/arg.hpp"
#include "lamin/pl/logger.hpp"

namespace lamin::pl {

/// CSVLogger settings, with Lightning's names and defaults.
struct CSVLoggerOptions {
  /// Folder the experiment folders go under.
  LAMIN_ARG(std::string, save_dir) = ".";
  /// Experiment name; "" puts the version folders directly under save_dir.
  LAMIN_ARG(std::string, name) = "lightning_logs";
  /// nullopt: the next free `version_N` (resolved on first use). A string is the folder name verbatim.
  LAMIN_ARG(std::optional<LoggerVersion>, version) = std::nullopt;
  /// Put before every metric key, joined with `-`.
  LAMIN_ARG(std::string, prefix) = "";
  /// metrics.csv is also written when `(step + 1) % flush_logs_every_n_steps == 0`, besides every save().
  LAMIN_ARG(std::int64_t, flush_logs_every_n_steps) = 100;
};

/// Lightning's `CSVLogger` (pytorch flavour).
///
/// metrics.csv is what Python's `csv.DictWriter` writes: one row per log_metrics() call, the header is the sorted
/// union of all keys logged so far (including `step`), empty cells for missing values, `\r\n` line ends, floats as
/// Python's repr of the double. When a new key appears the whole file is rewritten with the wider header.
/// Only rank 0 (from `RANK`/`LOCAL_RANK`/... in the environment) writes anything.
class CSVLogger : public Logger {
 public:
  static constexpr const char* kNameMetricsFile = "metrics.csv";
  static constexpr const char* kNameHparamsFile = "hparams.yaml";
  static constexpr const char* kLoggerJoinChar = "-";

  explicit CSVLogger(CSVLoggerOptions options = {});
  explicit CSVLogger(std::string save_dir, std::string name = "lightning_logs",
                     std::optional<LoggerVersion> version = std::nullopt, std::string prefix = "",
                     std::int64_t flush_logs_every_n_steps = 100);

  std::string name() const override { return options_.name(); }
  LoggerVersion version() override;
  std::optional<std::string> save_dir() const override { return options_.save_dir(); }
  /// `save_dir/name` (Python's os.path.join, so `save_dir/` when name is "").
  std::string root_dir() const;
  std::optional<std::string> log_dir() override;
  /// `log_dir/metrics.csv`.
  std::string metrics_file_path();

  /// Creates root_dir and log_dir. If log_dir exists and is not empty, warns (Lightning's words) and deletes an
  /// existing metrics.csv.
  void init_experiment() override;
  /// Records one row; written to disk on save() or every flush_logs_every_n_steps steps.
  void log_metrics(const MetricMap& metrics, std::int64_t step) override;
  /// Merges `params` (a JSON object) into the hyperparameters and rewrites hparams.yaml.
  void log_hyperparams(const nlohmann::json& params) override;
  /// Writes the rows recorded since the last save to metrics.csv.
  void save() override;
  void finalize(const std::string& status) override;

  /// The merged hyperparameters logged so far.
  const nlohmann::json& hparams() const { return hparams_; }
  const CSVLoggerOptions& options() const { return options_; }

 private:
  using Row = std::vector<std::pair<std::string, std::string>>;  // key → rendered cell, in logged order

  bool rank_zero() const { return rank_ == 0; }
  void ensure_experiment();

  CSVLoggerOptions options_;
  int rank_ = 0;
  bool experiment_ = false;
  std::vector<Row> pending_;               // rows not yet written
  std::vector<std::string> metrics_keys_;  // sorted header of the file on disk
  nlohmann::json hparams_ = nlohmann::json::object();
};

}  // namespace lamin::pl
