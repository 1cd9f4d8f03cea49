// A Checkpoint subclass that also registers checkpoints in another system: here a JSON manifest (models.json) that
// a serving process could watch. Saved checkpoints are added with their registry uid, key and score; evicted ones
// are removed before the registry deletes them.
//
//   lightning_external_registry [DIR]     (default: ./lightning_external)

#include <fstream>
#include <iostream>

#include "example_common.hpp"

namespace ll = lamin::lightning;
namespace pl = lamin::pl;

class ManifestCheckpoint : public ll::Checkpoint {
 public:
  ManifestCheckpoint(ll::CheckpointOptions options, std::string manifest)
      : ll::Checkpoint(std::move(options)), manifest_path_(std::move(manifest)) {}

  void on_artifact_saved(const ll::ArtifactSavedEvent& event) override {
    if (event.kind != ll::kCheckpointKind) return;
    manifest_[event.key] = {{"uid", event.artifact->uid},
                            {"uri", *event.storage_uri},
                            {"score", current_score() ? nlohmann::json(*current_score()) : nlohmann::json()}};
    write();
  }
  void on_artifact_removed(const ll::ArtifactRemovedEvent& event) override {
    manifest_.erase(event.key);
    write();
  }
  const nlohmann::json& manifest() const { return manifest_; }

 private:
  void write() const { std::ofstream(manifest_path_) << manifest_.dump(2) << "\n"; }
  std::string manifest_path_;
  nlohmann::json manifest_ = nlohmann::json::object();
};

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "lightning_external";
  auto instance = lamin::init(dir + "/instance");
  ll::save_lightning_features(instance);
  auto checkpoint = std::make_shared<ManifestCheckpoint>(
      ll::CheckpointOptions().dirpath(dir + "/models").monitor("val_loss").save_top_k(2).instance(instance),
      dir + "/models.json");
  pl::Trainer trainer(example::quiet(dir, 5).logger(false).callbacks({checkpoint}));
  example::Regressor model(nlohmann::json{{"lr", 0.05}});
  auto [train, val] = example::make_loaders();
  trainer.fit(model, train, val);
  std::cout << dir << "/models.json:\n" << checkpoint->manifest().dump(2) << "\n";
  return 0;
}
