#pragma once
// Artifact lifecycle events and observers (LaminDB's `ArtifactSavedEvent`, `ArtifactRemovedEvent`,
// `ArtifactObserver`).
//
//   struct Printer : ll::ArtifactObserver {
//     void on_artifact_saved(const ll::ArtifactSavedEvent& e) override { std::cout << e.kind << " " << e.key; }
//   };
//   ll::Checkpoint ckpt(ll::CheckpointOptions().artifact_observers({std::make_shared<Printer>()}));
//
// No LibTorch: the trainer is only forward-declared.

#include <filesystem>
#include <optional>
#include <string>

#include "lamin/db/artifact.hpp"

namespace lamin::pl {
class Trainer;
}

namespace lamin::lightning {

/// The kinds of artifacts a checkpoint callback publishes (the values of `ArtifactEvent::kind`).
inline constexpr const char* kCheckpointKind = "checkpoint";  ///< a model checkpoint file (`*.ckpt`)
inline constexpr const char* kConfigKind = "config";          ///< the training configuration (`config.yaml`)
inline constexpr const char* kHparamsKind = "hparams";        ///< the logger's `hparams.yaml`

/// What happened to one artifact. Plain data, valid while the hook that receives it runs (the trainer pointer is
/// not owned).
struct ArtifactEvent {
  virtual ~ArtifactEvent() = default;

  /// "checkpoint", "config" or "hparams".
  std::string kind;
  /// The artifact key in the registry.
  std::string key;
  /// The file the trainer wrote (or removed) locally.
  std::filesystem::path local_path;
  /// The trainer the event came from (may be null for events built outside a fit).
  pl::Trainer* trainer = nullptr;
  /// The registry record: always set for saved events; for removed events the record as it was just before its
  /// deletion, or none when no record had the key.
  std::optional<lamin::Artifact> artifact;
  /// Where the registry stores the file (e.g. `<instance>/.lamindb/<uid>.ckpt`), not the local file. Always set
  /// for saved events; none for removed events without a record.
  std::optional<std::string> storage_uri;

  /// True for ArtifactRemovedEvent.
  virtual bool removed() const { return false; }
};

/// An artifact was created (after its record, its stored file and its feature values are committed).
struct ArtifactSavedEvent : ArtifactEvent {};

/// A checkpoint was evicted: emitted after the local file is deleted and before the record and its stored file are
/// deleted. Only ever emitted with kind "checkpoint".
struct ArtifactRemovedEvent : ArtifactEvent {
  bool removed() const override { return true; }
};

/// Receives artifact events. Both hooks are optional (empty defaults). Exceptions propagate into the trainer (the
/// fit aborts), as in LaminDB.
class ArtifactObserver {
 public:
  virtual ~ArtifactObserver() = default;
  virtual void on_artifact_saved(const ArtifactSavedEvent& event) { (void)event; }
  virtual void on_artifact_removed(const ArtifactRemovedEvent& event) { (void)event; }
};

}  // namespace lamin::lightning
