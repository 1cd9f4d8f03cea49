// lamin::lightning::Checkpoint with a buffered remote registry: fit never waits on the network beyond a bound.

#include <gtest/gtest.h>

#include <chrono>

#include "common/torch/training.hpp"
#include "lamin/db.hpp"
#include "lamin/lightning.hpp"
#include "lamin/log.hpp"

namespace ll = lamin::lightning;
using namespace lamin::test;

TEST(CheckpointOutbox, FitEndWaitsABoundedTimeForUploadsAndSaysWhatIsLeft) {
  TempDir root("outbox_flush");
  lamin::OutboxOptions outbox;
  outbox.rest().max_attempts(1).connect_timeout_s(1);
  outbox.retry_min_s(0.05).retry_max_s(0.2);
  // Nothing listens on port 1: every upload fails, records stay queued locally.
  auto instance = lamin::connect_buffered("http://127.0.0.1:1", root / "outbox", outbox);
  ll::save_lightning_features(instance);
  auto checkpoint = std::make_shared<ll::Checkpoint>(ll::CheckpointOptions()
                                                         .monitor("val_loss")
                                                         .dirpath((root / "ckpts").string())
                                                         .instance(instance)
                                                         .upload_timeout_s(0.5));
  auto [x, y] = regression_data(8);
  LinearModule module;
  lamin::pl::Trainer trainer(quiet_options(root.str()).max_epochs(2).enable_checkpointing(true).callbacks({checkpoint}));

  lamin::log::WarningCapture warnings;
  const auto t0 = std::chrono::steady_clock::now();
  trainer.fit(module, lamin::pl::DataLoader::from_tensors(x, y, 4), lamin::pl::DataLoader::from_tensors(x, y, 4));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  EXPECT_LT(seconds, 20.0);
  EXPECT_TRUE(warnings.contains("could not be uploaded")) << "no warning about pending uploads";
  EXPECT_TRUE(warnings.contains("lamin sync --outbox")) << "the warning does not say how to drain the outbox";
  // The records are kept locally, queued for upload.
  EXPECT_GE(instance->artifacts().kind("model").count(), 1);
  EXPECT_GT(lamin::outbox_status(root / "outbox").pending, 0);
}
