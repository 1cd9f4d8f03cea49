#pragma once
// lamin::Run: a row of `lamindb_run`, one execution of a transform (LaminDB's `ln.Run`).

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "lamin/arg.hpp"

namespace lamin {

/// LaminDB's run status codes (`Run._status_code`).
enum class RunStatus : int { scheduled = -3, restarted = -2, started = -1, completed = 0, errored = 1, aborted = 2 };

/// Name of a status code ("started", "completed", ...).
const char* to_string(RunStatus status);

struct Run {
  std::int64_t id = 0;
  std::string uid;  ///< 16 random base62 characters.
  std::optional<std::string> name;
  std::optional<std::string> description;
  std::optional<std::string> entrypoint;
  std::string started_at;
  std::optional<std::string> finished_at;
  nlohmann::json params;  ///< null when none.
  std::optional<std::string> reference;
  std::optional<std::string> reference_type;
  std::optional<std::string> cli_args;
  int status_code = -3;
  std::int64_t transform_id = 0;
  std::optional<std::int64_t> initiated_by_run_id;
  std::int64_t branch_id = 1;
  std::int64_t created_by_id = 0;
  std::string created_at;

  RunStatus status() const { return static_cast<RunStatus>(status_code); }
};

/// Options for Registry::create_run: `RunOptions().name("sweep-3").params({{"lr", 0.01}})`.
struct RunOptions {
  LAMIN_ARG(std::optional<std::string>, name) = std::nullopt;
  LAMIN_ARG(std::optional<std::string>, description) = std::nullopt;
  LAMIN_ARG(std::optional<std::string>, entrypoint) = std::nullopt;
  /// Null when none.
  LAMIN_ARG(nlohmann::json, params) = nullptr;
  LAMIN_ARG(std::optional<std::string>, cli_args) = std::nullopt;
  /// The reference and its type; `reference(value, type)` sets both.
  LAMIN_ARG(std::optional<std::string>, reference) = std::nullopt;
  LAMIN_ARG(std::optional<std::string>, reference_type) = std::nullopt;
  LAMIN_ARG(std::optional<std::int64_t>, initiated_by_run_id) = std::nullopt;
  LAMIN_ARG(RunStatus, status) = RunStatus::started;
  /// A uid chosen by the caller (16 base62 characters) instead of a random one: how a run keeps its uid when a
  /// buffered instance uploads it (checkpoint keys contain it). Creating a run whose uid exists returns that run
  /// when it belongs to the same transform (a replay), and throws IntegrityError otherwise.
  LAMIN_ARG(std::optional<std::string>, uid) = std::nullopt;

 public:
  /// LaminDB's `reference=..., reference_type=...` in one call.
  RunOptions& reference(std::string v, std::string type) {
    return reference(std::move(v)).reference_type(std::move(type));
  }
};

}  // namespace lamin
