#pragma once
// Lineage of a program run: lamin::track() / lamin::finish() (LaminDB's `ln.track()` / `ln.finish()`).
//
//   lamin::track({{"lr", 0.01}});           // transform = this program, run = this execution
//   ... artifacts created now are outputs of the run ...
//   lamin::finish();

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lamin/db/instance.hpp"
#include "lamin/db/run.hpp"
#include "lamin/db/transform.hpp"

namespace lamin {

struct TrackOptions {
  /// Transform key; default: the program's file name (from /proc/self/exe).
  TrackOptions& transform_key(std::string v) { transform_key_ = std::move(v); return *this; }
  /// "script" (default), "pipeline", "notebook" or "function".
  TrackOptions& transform_kind(std::string v) { transform_kind_ = std::move(v); return *this; }
  /// A source file whose text is stored and hashed; default: the program binary is hashed (bounded, as a file).
  TrackOptions& source_path(std::string v) { source_path_ = std::move(v); return *this; }
  TrackOptions& run_name(std::string v) { run_name_ = std::move(v); return *this; }
  TrackOptions& description(std::string v) { description_ = std::move(v); return *this; }
  /// Feature values added to the run (LaminDB's `ln.track(features=...)`).
  TrackOptions& features(FeatureValues v) { features_ = std::move(v); return *this; }
  /// The command line stored in `cli_args`; default: this process's arguments.
  TrackOptions& cli_args(std::string v) { cli_args_ = std::move(v); return *this; }

  const std::optional<std::string>& transform_key() const { return transform_key_; }
  const std::string& transform_kind() const { return transform_kind_; }
  const std::optional<std::string>& source_path() const { return source_path_; }
  const std::optional<std::string>& run_name() const { return run_name_; }
  const std::optional<std::string>& description() const { return description_; }
  const FeatureValues& features() const { return features_; }
  const std::optional<std::string>& cli_args() const { return cli_args_; }

 private:
  std::optional<std::string> transform_key_, source_path_, run_name_, description_, cli_args_;
  std::string transform_kind_ = "script";
  FeatureValues features_;
};

/// The process-wide tracking context (LaminDB's `ln.context`). Thread-safe.
class Context {
 public:
  /// The current run, none outside track()/finish().
  std::optional<Run> run() const;
  std::optional<Transform> transform() const;
  /// The instance the current run lives in (none outside a run).
  Instance instance() const;
};

Context& context();

/// Creates (or reuses) the transform for this program and starts a run with `params` in the default instance
/// (lamin::connect()). Only one run is current at a time; a second track() finishes nothing and replaces it.
Run track(const nlohmann::json& params = nullptr, const TrackOptions& options = {});
Run track(const Instance& instance, const nlohmann::json& params = nullptr, const TrackOptions& options = {});
/// Finishes the current run (finished_at = now, status code) and clears the context. No-op without a run.
void finish(RunStatus status = RunStatus::completed);

namespace detail {
/// The current run's id if it lives in `registry` (used for default output links).
std::optional<std::int64_t> current_run_id(const Registry* registry);
}  // namespace detail

}  // namespace lamin
