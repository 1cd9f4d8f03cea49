// Composing with another experiment tracker: its run id becomes a run feature, so checkpoints can be found from the
// other tracker's run (and the other way round). The "tracker" here is a stand-in that hands out run ids, as
// W&B's or MLflow's client would.
//
//   lightning_compose_tracker [DIR]     (default: ./lightning_compose)

#include <iostream>
#include <random>

#include "example_common.hpp"

namespace ll = lamin::lightning;
namespace pl = lamin::pl;

/// Stand-in for another tracker's client: `init()` returns its run id.
struct OtherTracker {
  static std::string init() {
    std::mt19937_64 rng(std::random_device{}());
    const char* digits = "0123456789abcdefghijklmnopqrstuvwxyz";
    std::string id;
    for (int i = 0; i < 8; ++i) id += digits[rng() % 36];
    return id;
  }
};

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "lightning_compose";
  auto instance = lamin::init(dir + "/instance");
  ll::save_lightning_features(instance);
  instance->create_feature(lamin::FeatureOptions("wandb_run_id", "str"));

  const std::string other_id = OtherTracker::init();
  lamin::track(instance);
  auto checkpoint = std::make_shared<ll::Checkpoint>(
      ll::CheckpointOptions().monitor("val_loss").save_top_k(2).features({{"run", {{"wandb_run_id", other_id}}}}));
  pl::Trainer trainer(example::quiet(dir, 4).logger(false).callbacks({checkpoint}));
  example::Regressor model(nlohmann::json{{"lr", 0.05}});
  auto [train, val] = example::make_loaders();
  trainer.fit(model, train, val);
  lamin::finish();

  // From the other tracker's run id to this run's best checkpoint.
  const auto runs = instance->runs().where(lamin::feature("wandb_run_id") == other_id);
  const lamin::Artifact best =
      instance->artifacts().run_in(runs).where(lamin::feature("is_best_model") == true).one();
  std::cout << "other tracker run " << other_id << " -> lamin run " << runs.one().uid << " -> best checkpoint "
            << *best.key << " (score " << instance->get_values(best)["score"] << ")\n";
  return 0;
}
