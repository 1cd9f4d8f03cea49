#pragma once
// lamin::Run: a row of `lamindb_run`, one execution of a transform (LaminDB's `ln.Run`).

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

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

/// Options for Registry::create_run.
struct RunOptions {
  RunOptions& name(std::string v) { name_ = std::move(v); return *this; }
  RunOptions& description(std::string v) { description_ = std::move(v); return *this; }
  RunOptions& entrypoint(std::string v) { entrypoint_ = std::move(v); return *this; }
  RunOptions& params(nlohmann::json v) { params_ = std::move(v); return *this; }
  RunOptions& cli_args(std::string v) { cli_args_ = std::move(v); return *this; }
  RunOptions& reference(std::string v, std::string type) { reference_ = std::move(v); reference_type_ = std::move(type); return *this; }
  RunOptions& initiated_by_run_id(std::int64_t v) { initiated_by_run_id_ = v; return *this; }
  RunOptions& status(RunStatus v) { status_ = v; return *this; }
  /// A uid chosen by the caller (16 base62 characters) instead of a random one: how a run keeps its uid when a
  /// buffered instance uploads it (checkpoint keys contain it). Creating a run whose uid exists returns that run
  /// when it belongs to the same transform (a replay), and throws IntegrityError otherwise.
  RunOptions& uid(std::string v) { uid_ = std::move(v); return *this; }

  const std::optional<std::string>& name() const { return name_; }
  const std::optional<std::string>& description() const { return description_; }
  const std::optional<std::string>& entrypoint() const { return entrypoint_; }
  const nlohmann::json& params() const { return params_; }
  const std::optional<std::string>& cli_args() const { return cli_args_; }
  const std::optional<std::string>& reference() const { return reference_; }
  const std::optional<std::string>& reference_type() const { return reference_type_; }
  std::optional<std::int64_t> initiated_by_run_id() const { return initiated_by_run_id_; }
  RunStatus status() const { return status_; }
  const std::optional<std::string>& uid() const { return uid_; }

 private:
  std::optional<std::string> name_, description_, entrypoint_, cli_args_, reference_, reference_type_, uid_;
  nlohmann::json params_;
  std::optional<std::int64_t> initiated_by_run_id_;
  RunStatus status_ = RunStatus::started;
};

}  // namespace lamin
