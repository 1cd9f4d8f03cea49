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

#include "lamin/arg.hpp"
#include "lamin/db/instance.hpp"
#include "lamin/db/run.hpp"
#include "lamin/db/transform.hpp"

namespace lamin {

struct TrackOptions {
  /// Transform key; default: the program's file name (from /proc/self/exe).
  LAMIN_ARG(std::optional<std::string>, transform_key) = std::nullopt;
  /// "script" (default), "pipeline", "notebook" or "function".
  LAMIN_ARG(std::string, transform_kind) = "script";
  /// A source file whose text is stored and hashed; default: the program binary is hashed (bounded, as a file).
  LAMIN_ARG(std::optional<std::string>, source_path) = std::nullopt;
  LAMIN_ARG(std::optional<std::string>, run_name) = std::nullopt;
  LAMIN_ARG(std::optional<std::string>, description) = std::nullopt;
  /// Feature values added to the run (LaminDB's `ln.track(features=...)`).
  LAMIN_ARG(FeatureValues, features);
  /// The command line stored in `cli_args`; default: this process's arguments.
  LAMIN_ARG(std::optional<std::string>, cli_args) = std::nullopt;
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
