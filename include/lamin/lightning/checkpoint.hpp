#pragma once
// Checkpoints as LaminDB artifacts (LaminDB's `lamindb.integrations.lightning`):
//
//   namespace ll = lamin::lightning;
//   auto ckpt = std::make_shared<ll::Checkpoint>(
//       ll::CheckpointOptions().monitor("val_loss").save_top_k(2).features({{"run", {{"wandb_run_id", id}}}}));
//   pl::Trainer trainer(pl::TrainerOptions().max_epochs(5).callbacks({ckpt}));
//   trainer.fit(model, train, val);
//   auto best = instance->artifacts()
//                   .key_startswith(ckpt->checkpoint_key_prefix() + "/")
//                   .where(lamin::feature("is_best_model") == true).one();
//
// Two layers, as in LaminDB:
// - ArtifactPublishingModelCheckpoint: a pl::ModelCheckpoint with artifact events, observers and the latest artifact
//   per kind; the artifact steps (`resolve_artifact_key`, `save_checkpoint_artifact`, ...) are left to subclasses.
// - Checkpoint: the LaminDB implementation. Every checkpoint, the logger's hparams.yaml and the training config
//   become artifacts with keys derived from the dirpath or logger and the run uid; checkpoints are annotated with
//   `is_best_model`, `is_last_model`, `score`, `model_rank`, ... (see save_lightning_features) and user features;
//   evicted checkpoints are deleted from the registry with their stored files.

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lamin/arg.hpp"
#include "lamin/db/artifact.hpp"
#include "lamin/db/feature.hpp"
#include "lamin/db/instance.hpp"
#include "lamin/lightning/events.hpp"
#include "lamin/lightning/publisher.hpp"
#include "lamin/pl/logger.hpp"
#include "lamin/pl/model_checkpoint.hpp"

namespace lamin::lightning {

/// A ModelCheckpoint that publishes artifacts and tells observers about them (LaminDB's
/// `ArtifactPublishingModelCheckpoint`). It overrides no trainer hook: subclasses decide when to publish, call
/// notify_artifact_saved / notify_artifact_removed, and implement the artifact steps (pure virtual here, so a
/// subclass that forgets one does not compile, where Python raises NotImplementedError at run time).
class ArtifactPublishingModelCheckpoint : public pl::ModelCheckpoint {
 public:
  using Observers = std::vector<std::shared_ptr<ArtifactObserver>>;

  explicit ArtifactPublishingModelCheckpoint(pl::ModelCheckpointOptions options = {}, Observers observers = {});

  // ---- observers ----------------------------------------------------------------------------------------------
  /// Appends an observer; it is called after the subclass hook, in registration order.
  void add_artifact_observer(std::shared_ptr<ArtifactObserver> observer);
  /// Removes the first registration of `observer`. Throws lamin::NotFoundError
  /// ("list.remove(x): x not in list") when it is not registered, as Python's list.remove.
  void remove_artifact_observer(const std::shared_ptr<ArtifactObserver>& observer);
  const Observers& artifact_observers() const { return observers_; }

  // ---- the latest artifact per kind ------------------------------------------------------------------------------
  /// The last saved artifact of each kind (none before the first).
  const std::optional<lamin::Artifact>& last_checkpoint_artifact() const;
  const std::optional<lamin::Artifact>& last_config_artifact() const;
  const std::optional<lamin::Artifact>& last_hparams_artifact() const;
  /// The last saved artifact of `kind` ("checkpoint", "config", "hparams", or a subclass's own kind); none if absent.
  std::optional<lamin::Artifact> get_last_artifact(const std::string& kind) const;
  /// The last event, saved or removed (null before the first). `removed()` tells which; dynamic_cast for the type.
  std::shared_ptr<const ArtifactEvent> last_artifact_event() const { return last_event_; }

  // ---- hooks for subclasses (default: nothing) ---------------------------------------------------------------------
  /// Called for every saved artifact before the observers.
  virtual void on_artifact_saved(const ArtifactSavedEvent& event) { (void)event; }
  /// Called for every removed checkpoint before the observers.
  virtual void on_artifact_removed(const ArtifactRemovedEvent& event) { (void)event; }

  // ---- the artifact steps ------------------------------------------------------------------------------------------
  /// The registry key for a local file of `kind`.
  virtual std::string resolve_artifact_key(const pl::Trainer& trainer, const std::string& filepath,
                                           const std::string& kind) const = 0;
  /// Where `artifact`'s file is stored (the events' `storage_uri`).
  virtual std::string resolve_artifact_storage_uri(const lamin::Artifact& artifact) = 0;
  /// Registers a checkpoint file with its feature values and returns the record (no event: the caller emits it
  /// once the save is complete).
  virtual lamin::Artifact save_checkpoint_artifact(pl::Trainer& trainer, const std::string& filepath,
                                                   const lamin::FeatureValues& feature_values) = 0;
  /// Registers the training config as an input of the current run and emits its saved event.
  virtual lamin::Artifact save_config_artifact(pl::Trainer& trainer, const std::string& filepath) = 0;
  /// Registers the logger's hparams.yaml and emits its saved event.
  virtual lamin::Artifact save_hparams_artifact(pl::Trainer& trainer, const std::string& filepath) = 0;

 protected:
  /// Builds the saved event (storage_uri from resolve_artifact_storage_uri), records `artifact` as the latest of
  /// `kind`, then calls on_artifact_saved and each observer's on_artifact_saved (over a snapshot of the list).
  void notify_artifact_saved(const std::string& kind, const std::string& key, const std::filesystem::path& local_path,
                             pl::Trainer* trainer, const lamin::Artifact& artifact);
  /// The same for a removed checkpoint; the latest-artifact registry is left unchanged.
  void notify_artifact_removed(const std::string& kind, const std::string& key,
                               const std::filesystem::path& local_path, pl::Trainer* trainer,
                               const std::optional<lamin::Artifact>& artifact);

 private:
  Observers observers_;
  std::map<std::string, std::optional<lamin::Artifact>> latest_;
  std::shared_ptr<const ArtifactEvent> last_event_;
};

/// Checkpoint's arguments: every ModelCheckpoint argument (with Lightning's defaults) plus `features`,
/// `run_uid_is_version`, `artifact_observers` and the instance to write to.
struct CheckpointOptions : pl::ModelCheckpointOptionsBase<CheckpointOptions> {
  // ModelCheckpoint's arguments (pl::ModelCheckpointOptionsBase). `dirpath` is the local folder for the
  // checkpoints and the start of their keys (kept as given: `ckpts/` gives keys `ckpts/<run uid>/checkpoints/...`);
  // `filename` stays at Lightning's "{epoch}-{step}" unless set.
  /// `{"run": {name: value, ...}, "artifact": {name: value, ...}}`. Run values go to the current run at setup;
  /// artifact values to every checkpoint, where a null value is filled from the trainer attribute of that name
  /// (`current_epoch`, `global_step`, ...) or else from `callback_metrics`. Other top-level keys are rejected.
  LAMIN_ARG(nlohmann::json, features) = nullptr;
  /// Put the current run's uid into keys in place of the logger version (or after the dirpath).
  LAMIN_ARG(bool, run_uid_is_version) = true;
  LAMIN_ARG(std::vector<std::shared_ptr<ArtifactObserver>>, artifact_observers) = {};
  /// The instance to write to; default: the current run's, else lamin::connect()'s default (resolved at setup).
  LAMIN_ARG(lamin::Instance, instance) = {};
  /// At the end of fit, how long to wait for a buffered remote instance (lamin::connect_buffered) to upload what is
  /// queued; what remains stays in the outbox for `lamin sync`, with a warning saying so.
  LAMIN_ARG(double, upload_timeout_s) = 30.0;

 public:
  /// The ModelCheckpoint part.
  pl::ModelCheckpointOptions model_checkpoint_options() const { return pl::ModelCheckpointOptions(args_); }
};

/// LaminDB's `Checkpoint`: a ModelCheckpoint whose checkpoints are registry artifacts.
///
/// Keys (`base_prefix`): `{dirpath}/{run uid}` with a dirpath; else `{basename(save_dir)}/{logger name}/{run uid}`
/// with a logger; else `{run uid}`. Without a tracked run (or with run_uid_is_version false) the run uid is replaced by
/// nothing, the logger version (`version_N`), or "" respectively. Checkpoints and hparams.yaml go under
/// `{base}/checkpoints/`, the config is `{base}/config.yaml`.
///
/// Every save is one registry transaction: the previous `is_last_model` (and, for a new best, `is_best_model`)
/// flags are cleared, an artifact with the same key is replaced, the new record is stored with its values, and
/// `model_rank` is recomputed (0 = best score) over every scored checkpoint under the prefix. Then the saved event
/// is emitted. Evicted checkpoints: the local file is deleted, the removed event emitted, then the record and its
/// stored file are deleted. Only global rank zero touches the registry.
class Checkpoint : public ArtifactPublishingModelCheckpoint {
 public:
  /// Throws lamin::ConfigurationError for invalid ModelCheckpoint arguments or feature scopes
  /// ("Invalid feature keys: {'x'}. Use 'run' and/or 'artifact'.").
  explicit Checkpoint(CheckpointOptions options = {});

  const CheckpointOptions& checkpoint_options() const { return options_; }
  bool run_uid_is_version() const { return options_.run_uid_is_version(); }
  /// `features["run"]` and `features["artifact"]` (empty objects when not given).
  const nlohmann::json& run_features() const { return run_features_; }
  const nlohmann::json& artifact_features() const { return artifact_features_; }

  /// The key base for the trainer seen at setup (its first logger and default_root_dir, kept after the trainer is
  /// gone), computed now: the run uid and the logger version are read live, so read it before lamin::finish().
  /// Throws lamin::Error ("base_prefix is only available after setup()") before setup.
  std::string base_prefix() const;
  /// `base_prefix() + "/checkpoints"`, or "checkpoints" when the base is empty.
  std::string checkpoint_key_prefix() const;
  /// The instance this callback writes to.
  lamin::Instance instance() const;

  // ---- the artifact steps ------------------------------------------------------------------------------------------
  /// `{checkpoint prefix}/{file name}` for "checkpoint" and "hparams", `{base}/{file name}` for "config".
  std::string resolve_artifact_key(const pl::Trainer& trainer, const std::string& filepath,
                                   const std::string& kind) const override;
  std::string resolve_artifact_storage_uri(const lamin::Artifact& artifact) override;
  /// Deletes an artifact with the same key (record and stored file), creates the new one (description
  /// "model checkpoint", kind "model", an output of the current run) and adds `feature_values`.
  lamin::Artifact save_checkpoint_artifact(pl::Trainer& trainer, const std::string& filepath,
                                           const lamin::FeatureValues& feature_values) override;
  /// "Lightning CLI config", kind "config", an input of the current run; a key reuse makes a new version.
  lamin::Artifact save_config_artifact(pl::Trainer& trainer, const std::string& filepath) override;
  /// "Lightning run hyperparameters", kind "config", an output of the current run.
  lamin::Artifact save_hparams_artifact(pl::Trainer& trainer, const std::string& filepath) override;

  /// Re-ranks every artifact under `prefix + "/"` that has a `score` (the `lamindb.lightning` feature): `model_rank`
  /// 0..n-1 by score, ascending for "min", descending for "max", ties in record order, through
  /// Registry::rank_artifacts (only ranks that change are written). A no-op when the `score` or `model_rank` feature
  /// does not exist.
  void update_model_ranks(const std::string& prefix, const std::string& mode);

  // ---- trainer hooks ---------------------------------------------------------------------------------------------
  /// ModelCheckpoint's setup, then (global zero) checks that the user's features exist ("Feature x missing. Create it
  /// first."), adds the run features to the current run, and finds the `lamindb.lightning` features and the
  /// hyperparameters that have a feature of the same name. One feature query.
  void setup(pl::Trainer& trainer, pl::LightningModule& module, const std::string& stage) override;
  /// Waits (bounded by `upload_timeout_s`) for a buffered remote instance to upload this fit's records.
  void on_fit_end(pl::Trainer& trainer, pl::LightningModule& module) override;
  /// Validates the key and every value first (a bad key, a wrong dtype or a non-finite score throws before the file
  /// is written), writes the file, then registers it as described at the class.
  void _save_checkpoint(pl::Trainer& trainer, const std::string& filepath) override;
  /// Deletes the local file, emits the removed event, then deletes the record and its stored file.
  void _remove_checkpoint(pl::Trainer& trainer, const std::string& filepath) override;
  std::string state_key() const override;

 protected:
  /// Replaces where artifacts are created (default: a LaminArtifactPublisher over instance()).
  void set_artifact_publisher(std::shared_ptr<ArtifactPublisher> publisher) { publisher_ = std::move(publisher); }
  ArtifactPublisher& artifact_publisher();

 private:
  struct Annotator;
  std::string base_prefix_for(const pl::Trainer& trainer) const;
  std::string base_prefix_of(const std::shared_ptr<pl::Logger>& logger, const std::string& default_root_dir) const;
  std::optional<std::string> run_uid() const;
  /// The artifact's values for the file about to be saved (automatic, then user features), all validated.
  lamin::FeatureValues artifact_feature_values(pl::Trainer& trainer, const std::string& filepath, bool is_best) const;
  /// The run's values (logger, trainer settings, hyperparameters), validated.
  lamin::FeatureValues run_feature_values(pl::Trainer& trainer) const;

  CheckpointOptions options_;
  nlohmann::json run_features_ = nlohmann::json::object();
  nlohmann::json artifact_features_ = nlohmann::json::object();
  bool set_up_ = false;
  std::shared_ptr<pl::Logger> logger_;  // the first logger seen at setup
  std::string default_root_dir_;
  mutable lamin::Instance instance_;
  std::shared_ptr<ArtifactPublisher> publisher_;
  std::shared_ptr<Annotator> annotator_;
  bool hparams_yaml_saved_ = false;
};

}  // namespace lamin::lightning
