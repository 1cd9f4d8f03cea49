#pragma once
// Where artifacts go: the ArtifactPublisher interface (LaminDB's `ArtifactPublisher` protocol) and the
// registry-backed LaminArtifactPublisher. No LibTorch.

#include <filesystem>
#include <optional>
#include <string>

#include "lamin/arg.hpp"
#include "lamin/db/artifact.hpp"
#include "lamin/db/instance.hpp"

namespace lamin::lightning {

/// Arguments of ArtifactPublisher::create_artifact (LaminDB's keyword arguments).
struct PublishOptions {
  PublishOptions() = default;
  PublishOptions(std::string key) : key_(std::move(key)) {}  // NOLINT: reads like the Python keyword.

  LAMIN_ARG(std::string, key);
  LAMIN_ARG(std::string, description);
  /// `Artifact.kind` ("model", "config"); none leaves it unset.
  LAMIN_ARG(std::optional<std::string>, kind) = std::nullopt;
  /// Record the artifact as an input of the current run instead of an output (`run=False` + input link).
  LAMIN_ARG(bool, add_as_input_to_run) = false;
  /// Always create a record, even when a file with the same hash is registered.
  LAMIN_ARG(bool, skip_hash_lookup) = false;
  /// How the file's bytes reach storage (`link` for files that are only ever replaced atomically, as lamin::pl's
  /// checkpoint files are).
  LAMIN_ARG(lamin::StorageMode, storage_mode) = lamin::StorageMode::copy;
};

/// Creates artifacts from local files. Implement it to send artifacts somewhere else.
class ArtifactPublisher {
 public:
  virtual ~ArtifactPublisher() = default;
  /// Registers `local_path` and returns the record.
  virtual lamin::Artifact create_artifact(const std::filesystem::path& local_path, const PublishOptions& options) = 0;
  /// The artifact's physical storage location (what events carry as `storage_uri`).
  virtual std::string storage_uri(const lamin::Artifact& artifact) = 0;
};

/// Publishes into a lamin::Instance: `Artifact(path, key=..., description=..., kind=...).save()`, then, for
/// `add_as_input_to_run`, links the artifact as an input of the current run (a warning and no link without a run).
class LaminArtifactPublisher : public ArtifactPublisher {
 public:
  /// `instance`: where artifacts go; default (an empty handle): the instance of the current run if one is tracked,
  /// else lamin::connect()'s default instance, resolved at first use.
  explicit LaminArtifactPublisher(lamin::Instance instance = {});

  lamin::Artifact create_artifact(const std::filesystem::path& local_path, const PublishOptions& options) override;
  /// `<storage root>/.lamindb/<uid><suffix>`.
  std::string storage_uri(const lamin::Artifact& artifact) override;

  /// The instance artifacts go to (resolved as described at the constructor).
  lamin::Instance instance() const;

 private:
  lamin::Instance instance_;
};

/// The instance a callback writes to when none was given: the current run's, else lamin::connect()'s default.
/// Throws lamin::ConfigurationError when there is neither.
lamin::Instance default_instance();

}  // namespace lamin::lightning
