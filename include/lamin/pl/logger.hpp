#pragma once
// The logger interface the trainer writes to (Lightning's `Logger`). No LibTorch.

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "lamin/pl/metrics.hpp"

namespace lamin::pl {

/// A logger version: an int (folder `version_N`) or a string (the folder name verbatim).
using LoggerVersion = std::variant<std::int64_t, std::string>;

/// Folder name of a version: `version_N` for ints, the string itself otherwise.
std::string version_folder_name(const LoggerVersion& version);

/// Lightning's next free version under `root_dir`: 1 + the largest N of the sub-folders named `version_N...`
/// (text between the first and second `_` all digits), or 0 when there are none or the folder is missing.
std::int64_t next_logger_version(const std::string& root_dir);

class Logger {
 public:
  virtual ~Logger() = default;

  /// Experiment name; "" means no sub-folder.
  virtual std::string name() const = 0;
  /// The version, resolved on first access.
  virtual LoggerVersion version() = 0;
  /// Folder the logs go under; nullopt if the logger does not write locally.
  virtual std::optional<std::string> save_dir() const = 0;
  /// The folder this run's files go in, for loggers that have one (CSV, TensorBoard).
  virtual std::optional<std::string> log_dir() { return std::nullopt; }

  /// Creates the experiment (and its folders). The trainer calls it before `setup`. Idempotent.
  virtual void init_experiment() {}
  /// One row of metrics at `step`.
  virtual void log_metrics(const MetricMap& metrics, std::int64_t step) = 0;
  /// Merges hyperparameters (a JSON object) into what the logger records.
  virtual void log_hyperparams(const nlohmann::json& params) { (void)params; }
  /// Persists what was logged so far.
  virtual void save() {}
  /// Called once at the end of a run with "success" or "failed".
  virtual void finalize(const std::string& status) { (void)status; }
  /// Called after every checkpoint file a ModelCheckpoint writes, with its path.
  virtual void after_save_checkpoint(const std::string& path) { (void)path; }
};

}  // namespace lamin::pl
