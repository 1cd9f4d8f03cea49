#pragma once
// ModelCheckpoint: Lightning's checkpointing callback (Lightning 2.6.6 semantics), with the same arguments, defaults,
// error messages, file names, top-k bookkeeping, triggers and resume behaviour.
//
//   namespace pl = lamin::pl;
//   auto ckpt = std::make_shared<pl::ModelCheckpoint>(
//       pl::ModelCheckpointOptions().monitor("val_loss").save_top_k(3).filename("{epoch}-{val_loss:.2f}"));
//   pl::Trainer trainer(pl::TrainerOptions().max_epochs(10).callbacks({ckpt}));
//   trainer.fit(model, train, val);
//   ckpt->best_model_path();  // ".../epoch=7-val_loss=0.12.ckpt"
//
// Customising as in Python: the class constants are public members (`checkpoint_join_char`, `checkpoint_name_last`,
// `file_extension`, ...) that a subclass sets in its constructor (or a caller sets on an instance); the file steps
// (`_save_checkpoint`, `_remove_checkpoint`, `_link_checkpoint`), `format_checkpoint_name`, `file_exists` and
// `_monitor_candidates` are virtual, so a subclass sees every file exactly when Lightning writes or removes it.

#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "lamin/arg.hpp"
#include "lamin/pl/callback.hpp"
#include "lamin/pl/metrics.hpp"

namespace lamin::pl {

/// Lightning's `save_last` argument: `None`, `False`, `True` or `"link"`. `none` and `off` behave the same
/// (Python falsy); they differ only in how the argument is reported.
enum class SaveLast { none, off, on, link };

/// Parses a `save_last` given as text, as Lightning's CLI does: "true", "True", "yes" → on; "false", "False",
/// "no" → off; "link" → link; "none", "None", "" → none. Throws lamin::ConfigurationError otherwise.
SaveLast parse_save_last(std::string_view text);

/// True for `on` and `link` (Python truthiness of the argument).
inline bool is_enabled(SaveLast value) { return value == SaveLast::on || value == SaveLast::link; }

/// ModelCheckpoint's arguments as values, with Lightning's defaults.
struct ModelCheckpointArgs {
  /// Folder for the checkpoints. Local paths are made absolute (with `~` expanded and symlinks resolved) at
  /// construction. Default: `<logger save_dir>/<name>/<version>/checkpoints` of the first logger, or
  /// `<default_root_dir>/checkpoints` without loggers (resolved in `setup`).
  std::optional<std::string> dirpath = std::nullopt;
  /// Name template, e.g. "{epoch}-{val_loss:.2f}" (Python format specs). Default "{epoch}-{step}".
  std::optional<std::string> filename = std::nullopt;
  /// Metric to rank checkpoints by; nullopt keeps only the latest (save_top_k 1) or all (-1).
  std::optional<std::string> monitor = std::nullopt;
  /// Logs a line for every decision.
  bool verbose = false;
  SaveLast save_last = SaveLast::none;
  /// k best checkpoints to keep; -1: all; 0: none.
  std::int64_t save_top_k = 1;
  /// Writes a checkpoint when fit throws.
  bool save_on_exception = false;
  bool save_weights_only = false;
  /// "min" or "max".
  std::string mode = "min";
  /// "{epoch}" renders as "epoch=3" when true, "3" when false.
  bool auto_insert_metric_name = true;
  std::optional<std::int64_t> every_n_train_steps = std::nullopt;
  std::optional<std::chrono::duration<double>> train_time_interval = std::nullopt;
  std::optional<std::int64_t> every_n_epochs = std::nullopt;
  /// nullopt: decided from the trainer's validation settings (Lightning's rule).
  std::optional<bool> save_on_train_epoch_end = std::nullopt;
  /// Appends "-v1", "-v2", ... instead of overwriting an existing file.
  bool enable_version_counter = true;
};

/// The fluent setters of ModelCheckpoint's arguments, shared by every options struct that takes them
/// (ModelCheckpointOptions, lamin::lightning::CheckpointOptions), so a new argument appears in all of them.
template <typename Derived>
class ModelCheckpointOptionsBase {
  LAMIN_SHARED_ARG(std::optional<std::string>, dirpath)
  LAMIN_SHARED_ARG(std::optional<std::string>, filename)
  LAMIN_SHARED_ARG(std::optional<std::string>, monitor)
  LAMIN_SHARED_ARG(bool, verbose)
  LAMIN_SHARED_ARG(SaveLast, save_last)
  LAMIN_SHARED_ARG(std::int64_t, save_top_k)
  LAMIN_SHARED_ARG(bool, save_on_exception)
  LAMIN_SHARED_ARG(bool, save_weights_only)
  LAMIN_SHARED_ARG(std::string, mode)
  LAMIN_SHARED_ARG(bool, auto_insert_metric_name)
  LAMIN_SHARED_ARG(std::optional<std::int64_t>, every_n_train_steps)
  LAMIN_SHARED_ARG(std::optional<std::chrono::duration<double>>, train_time_interval)
  LAMIN_SHARED_ARG(std::optional<std::int64_t>, every_n_epochs)
  LAMIN_SHARED_ARG(std::optional<bool>, save_on_train_epoch_end)
  LAMIN_SHARED_ARG(bool, enable_version_counter)

 public:
  /// `save_last=True` / `False`.
  Derived& save_last(bool enabled) { return save_last(enabled ? SaveLast::on : SaveLast::off); }
  /// `save_last="link"` (or any text parse_save_last accepts).
  Derived& save_last(const char* text) { return save_last(parse_save_last(text)); }
  Derived& save_last(const std::string& text) { return save_last(text.c_str()); }
  /// The arguments as values.
  const ModelCheckpointArgs& model_checkpoint_args() const noexcept { return args_; }

 protected:
  ModelCheckpointArgs args_;
};

/// ModelCheckpoint's arguments, with Lightning's defaults:
/// `ModelCheckpointOptions().dirpath("ckpts").monitor("val_loss").mode("min").save_top_k(2).save_last(true)`.
struct ModelCheckpointOptions : ModelCheckpointOptionsBase<ModelCheckpointOptions> {
  ModelCheckpointOptions() = default;
  /// The ModelCheckpoint arguments of any options struct that carries them.
  explicit ModelCheckpointOptions(const ModelCheckpointArgs& args) { args_ = args; }
};

/// Lightning's `ModelCheckpoint`.
class ModelCheckpoint : public Checkpoint {
 public:
  /// A checkpoint path and its score, in the order Lightning's `best_k_models` dict keeps them.
  using ScoredPath = std::pair<std::string, double>;

  /// Validates the options in Lightning's order and with its messages; throws lamin::ConfigurationError.
  explicit ModelCheckpoint(ModelCheckpointOptions options = {});
  ~ModelCheckpoint() override = default;

  // ---- Lightning's class constants (read through the instance, so a subclass may set them in its ctor) ------
  std::string checkpoint_join_char = "-";
  std::string checkpoint_equals_char = "=";
  std::string checkpoint_name_last = "last";
  std::string file_extension = ".ckpt";
  std::int64_t starting_version = 1;

  // ---- configuration ------------------------------------------------------------------------------------------
  const ModelCheckpointOptions& options() const { return options_; }
  const std::optional<std::string>& monitor() const { return options_.monitor(); }
  const std::string& mode() const { return options_.mode(); }
  std::int64_t save_top_k() const { return options_.save_top_k(); }
  SaveLast save_last() const { return options_.save_last(); }
  bool save_weights_only() const { return options_.save_weights_only(); }
  bool verbose() const { return options_.verbose(); }
  bool auto_insert_metric_name() const { return options_.auto_insert_metric_name(); }
  const std::optional<std::string>& filename() const { return options_.filename(); }
  /// After Lightning's defaulting: 1 and 0 when no trigger is given.
  std::int64_t every_n_epochs() const { return every_n_epochs_; }
  std::int64_t every_n_train_steps() const { return every_n_train_steps_; }
  const std::optional<std::chrono::duration<double>>& train_time_interval() const {
    return options_.train_time_interval();
  }
  /// The folder checkpoints go to: as given (made absolute) until `setup` resolves the default.
  const std::optional<std::string>& dirpath() const { return dirpath_; }

  /// `ModelCheckpoint{'monitor': ..., 'mode': ..., 'every_n_train_steps': ..., 'every_n_epochs': ...,
  /// 'train_time_interval': ...}`: the key of this callback's state in checkpoints.
  std::string state_key() const override;

  // ---- state users read ---------------------------------------------------------------------------------------
  const std::string& best_model_path() const { return best_model_path_; }
  const std::optional<double>& best_model_score() const { return best_model_score_; }
  /// Paths and scores of the kept top-k checkpoints, in Lightning's dict order (insertion; an overwritten path
  /// keeps its place).
  const std::vector<ScoredPath>& best_k_models() const { return best_k_models_; }
  const std::string& kth_best_model_path() const { return kth_best_model_path_; }
  double kth_value() const { return kth_value_; }
  const std::string& last_model_path() const { return last_model_path_; }
  const std::optional<double>& current_score() const { return current_score_; }
  /// The global step of the most recent file this callback wrote (0 before the first).
  std::int64_t last_global_step_saved() const { return last_global_step_saved_; }
  /// The most recent file this callback wrote ("" before the first); the target of `save_last="link"`.
  const std::string& last_checkpoint_saved() const { return last_checkpoint_saved_; }

  /// Lightning's `_should_save_on_train_epoch_end`: the option when set, else false for time-based or
  /// `check_val_every_n_epoch != 1` validation, true without validation batches, else `val_check_interval == 1.0`.
  bool should_save_on_train_epoch_end(const Trainer& trainer) const;

  // ---- names --------------------------------------------------------------------------------------------------
  /// Renders `filename` (default: the `filename` option, then "{epoch}-{step}") with `metrics` as Lightning does:
  /// Python format specs applied to the metric values, `name=` inserted unless disabled, missing names as 0, then
  /// `prefix-`, `-v<ver>`, the file extension and `dirpath/`. Throws lamin::ConfigurationError for a template
  /// Python's `str.format` rejects, with Python's message.
  virtual std::string format_checkpoint_name(const MetricMap& metrics,
                                             const std::optional<std::string>& filename = std::nullopt,
                                             std::optional<std::int64_t> ver = std::nullopt,
                                             const std::optional<std::string>& prefix = std::nullopt) const;

  /// The checkpoint callback's candidates: a copy of `trainer.callback_metrics()` plus integer `epoch` and `step`.
  virtual MetricMap _monitor_candidates(const Trainer& trainer) const;

  /// Whether `filepath` exists (following links).
  virtual bool file_exists(const std::string& filepath, const Trainer& trainer) const;

  // ---- hooks --------------------------------------------------------------------------------------------------
  /// Resolves `dirpath` (first logger, else default_root_dir), warns when a fit writes into a non-empty folder, and
  /// fails early (lamin::StorageError naming the folder) when checkpoints could not be written there.
  void setup(Trainer& trainer, LightningModule& module, const std::string& stage) override;
  void on_train_start(Trainer& trainer, LightningModule& module) override;
  void on_train_batch_end(Trainer& trainer, LightningModule& module, const StepOutput& outputs, const Batch& batch,
                          std::int64_t batch_idx) override;
  void on_train_epoch_end(Trainer& trainer, LightningModule& module) override;
  void on_validation_end(Trainer& trainer, LightningModule& module) override;
  void on_train_end(Trainer& trainer, LightningModule& module) override;
  void on_exception(Trainer& trainer, LightningModule& module, const std::exception& error) override;

  /// `monitor`, `best_model_score`, `best_model_path`, `current_score`, `dirpath`, `best_k_models` ({path: score}),
  /// `kth_best_model_path`, `kth_value`, `last_model_path`. Scores of `epoch`/`step` monitors are integers.
  nlohmann::json state_dict() const override;
  /// Restores the top-k state when the saved dirpath equals this callback's (else warns and restores only
  /// `best_model_path`).
  void load_state_dict(const nlohmann::json& state) override;
  /// Stores this callback's state in `checkpoint["callbacks"]` as Lightning does: keys in Lightning's order,
  /// `best_k_models` in its dict order, scores as 0-d tensors (float32, or int64 for `epoch`/`step` monitors).
  void on_save_checkpoint(Trainer& trainer, LightningModule& module, CheckpointDict& checkpoint) override;
  /// Remembers the dict order of the saved `best_k_models` for the load_state_dict() that follows.
  void on_load_checkpoint(Trainer& trainer, LightningModule& module, const CheckpointDict& checkpoint) override;

  /// Writes `best_k_models` as YAML (`{path: score}`) to `filepath`, default `dirpath/best_k_models.yaml`.
  void to_yaml(const std::optional<std::string>& filepath = std::nullopt) const;

  // ---- "last" files (Trainer::fit(ckpt_path="last")) ------------------------------------------------------------
  /// Files in `dirpath` whose extension is `file_extension` and whose stem starts with `name_last` (e.g. last.ckpt,
  /// last-v1.ckpt), as normalised paths, sorted. Empty if the folder does not exist.
  static std::vector<std::string> find_last_checkpoints(const std::string& dirpath,
                                                        const std::string& name_last = "last",
                                                        const std::string& file_extension = ".ckpt");
  /// The same for this callback: its resolved folder (dirpath, or what `setup` would resolve for `trainer`) and
  /// its constants.
  std::vector<std::string> _find_last_checkpoints(const Trainer& trainer) const;

  // ---- Lightning's saving steps (public so tests and subclasses can drive them, as in Python) --------------------
  /// Saves a top-k (or, without a monitor, the latest) checkpoint for `candidates` if it qualifies.
  void _save_topk_checkpoint(Trainer& trainer, const MetricMap& candidates);
  /// Writes (or links) the "last" checkpoint when `save_last` is enabled.
  void _save_last_checkpoint(Trainer& trainer, const MetricMap& candidates);
  void _save_none_monitor_checkpoint(Trainer& trainer, const MetricMap& candidates);
  void _save_monitor_checkpoint(Trainer& trainer, const MetricMap& candidates);
  /// Lightning's `check_monitor_top_k`: whether `current` enters the top-k (strict comparison; NaN never
  /// displaces a kept checkpoint).
  bool check_monitor_top_k(const Trainer& trainer, const std::optional<Scalar>& current) const;
  /// Lightning's `_should_remove_checkpoint`: never the same path, never the checkpoint fit resumed from, only files
  /// inside `dirpath` (recursively) for local paths.
  bool _should_remove_checkpoint(const Trainer& trainer, const std::string& previous,
                                 const std::string& current) const;

  // ---- the file steps: override to observe or redirect every write, removal and link ------------------------------
  /// Writes `filepath` with `trainer.save_checkpoint(filepath, save_weights_only)`, then records it
  /// (mark_checkpoint_saved) and notifies the trainer's loggers. Every real checkpoint file goes through here.
  virtual void _save_checkpoint(Trainer& trainer, const std::string& filepath);
  /// Deletes `filepath` if it exists (global zero only); no error when it is missing.
  virtual void _remove_checkpoint(Trainer& trainer, const std::string& filepath);
  /// Points `linkpath` at `filepath` with a relative symlink (replacing a file, link or folder there), falling back
  /// to a copy when symlinks are not possible. A link to itself is a no-op.
  virtual void _link_checkpoint(Trainer& trainer, const std::string& filepath, const std::string& linkpath);

 protected:
  /// Records that `filepath` was just written at the trainer's global step (what `_save_checkpoint` does after the
  /// write; for subclasses that replace the write).
  void mark_checkpoint_saved(const Trainer& trainer, const std::string& filepath);
  /// Seconds on a monotonic clock, for `train_time_interval` (overridable for tests).
  virtual double monotonic_now() const;
  /// `<qualname>{'monitor': ..., ...}` (Lightning's `_generate_state_key`), for subclasses that name their key.
  std::string generate_state_key(const std::string& qualname) const;
  /// The folder `setup` resolves for `trainer` (Lightning's `__resolve_ckpt_dir`).
  std::string resolve_ckpt_dir(const Trainer& trainer) const;

 private:
  bool should_skip_saving_checkpoint(const Trainer& trainer) const;
  void update_best_and_save(Scalar current, Trainer& trainer, const MetricMap& candidates);
  std::string get_metric_interpolated_filepath_name(const MetricMap& candidates, const Trainer& trainer,
                                                    const std::optional<std::string>& del_filepath) const;
  bool is_min_mode() const { return options_.mode() == "min"; }
  nlohmann::json score_json(double value) const;
  void reindex_best_k_models();

  ModelCheckpointOptions options_;
  std::optional<std::string> dirpath_;
  std::int64_t every_n_epochs_ = 1;
  std::int64_t every_n_train_steps_ = 0;

  std::optional<double> current_score_;
  std::vector<ScoredPath> best_k_models_;
  std::unordered_map<std::string, std::size_t> best_k_index_;  // path → position in best_k_models_
  std::string kth_best_model_path_;
  double kth_value_;
  std::optional<double> best_model_score_;
  std::string best_model_path_;
  std::string last_model_path_;
  // Scores of `epoch` / `step` monitors are integers in Lightning (int64 tensors); kept for state_dict and to_yaml.
  bool integral_scores_ = false;

  std::int64_t last_global_step_saved_ = 0;
  std::string last_checkpoint_saved_;
  std::optional<double> last_time_checked_;
  bool defer_save_until_validation_ = false;
  // Paths of best_k_models in the order the checkpoint being restored stores them (JSON objects are sorted).
  std::vector<std::string> loaded_best_k_order_;
};

}  // namespace lamin::pl
