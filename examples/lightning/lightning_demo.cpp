// The demo: tracks a run, trains with ll::Checkpoint into a registry, and shows what was registered.
//
//   lightning_demo
//
// The registry is ./lamindata (created on first use), or what LAMIN_INSTANCE names: another folder or the URL of a
// lamin-serve. Each run gets its own keys (the run uid is the logger version), so running twice shows two runs.
// With a URL, training registers through a local outbox (./lamin-outbox): a save never waits on the network, and
// the end of fit waits (bounded) for the uploads; the last table is then read from the server itself.

#include <filesystem>
#include <iostream>

#include "example_common.hpp"

namespace ll = lamin::lightning;
namespace pl = lamin::pl;

static lamin::Instance open_instance() {
  const char* env = std::getenv("LAMIN_INSTANCE");
  const std::string where = env && *env ? env : "lamindata";
  if (lamin::is_remote_url(where)) return lamin::connect_buffered(where, "lamin-outbox");
  if (std::filesystem::exists(std::filesystem::path(where) / ".lamindb" / "lamin.db")) return lamin::connect(where);
  return lamin::init(where);
}

int main() {
  auto instance = open_instance();
  ll::save_lightning_features(instance);  // the lamindb.lightning feature type and its 14 features (idempotent)

  const nlohmann::json params = {{"lr", 0.05}, {"max_epochs", 8}};
  const lamin::Run run = lamin::track(instance, params);
  std::cout << "run " << run.uid << " (tracked with params " << params.dump() << ")\n";

  auto checkpoint = std::make_shared<ll::Checkpoint>(ll::CheckpointOptions().monitor("val_loss").mode("min").save_top_k(2));
  pl::Trainer trainer(pl::TrainerOptions()
                          .max_epochs(params["max_epochs"].get<std::int64_t>())
                          .accelerator("cpu")
                          .logger(std::make_shared<pl::CSVLogger>("logs", "demo"))
                          .callbacks({std::make_shared<ll::SaveConfigCallback>(), checkpoint}));
  example::Regressor model(nlohmann::json{{"lr", params["lr"]}});
  auto [train, val] = example::make_loaders();
  trainer.fit(model, train, val);
  const std::string prefix = checkpoint->checkpoint_key_prefix();
  lamin::finish();

  auto best = instance->artifacts().key_startswith(prefix + "/").where(lamin::feature("is_best_model") == true).one();
  std::cout << "\n== the best checkpoint ==\n" << lamin::describe(*instance, best) << "\n";
  std::cout << "== this run's checkpoints ==\n"
            << instance->artifacts().key_startswith(prefix + "/").kind("model").table(
                   {"score", "model_rank", "is_best_model", "is_last_model"}).to_string()
            << "\n";
  const char* env = std::getenv("LAMIN_INSTANCE");
  const bool remote = env && lamin::is_remote_url(env);
  lamin::Instance registry = remote ? lamin::connect(env) : instance;  // the server's view, uploads included
  std::cout << "== every checkpoint in the registry ==\n"
            << registry->artifacts().kind("model").table({"score", "model_rank", "is_best_model"}).to_string() << "\n";
  std::cout << "== lineage (Mermaid) ==\n" << lamin::lineage(*instance, best, lamin::LineageFormat::mermaid) << "\n";
  return 0;
}
