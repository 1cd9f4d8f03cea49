// Training through a buffered remote registry while lamin-serve is SIGKILLed and restarted on the same port, with
// real processes: the training (this binary, re-run as a child), the server, and `lamin sync`. The kill lands at
// three moments: the first checkpoint reaching the server, an eviction, and the end-of-fit flush. Each time the
// training exits 0, nothing queued is rejected, and after `lamin sync` the server holds exactly what the outbox's
// SQLite instance recorded for the same training: nothing lost, nothing duplicated.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "common/files.hpp"
#include "common/process.hpp"
#include "common/registry.hpp"
#include "common/serve.hpp"
#include "common/torch/training.hpp"
#include "lamin/db.hpp"
#include "lamin/lightning.hpp"
#include "lamin/pl/csv_logger.hpp"

namespace {

namespace ll = lamin::lightning;
namespace pl = lamin::pl;
namespace fs = std::filesystem;
using lamin::test::kToken;
using lamin::test::ServeProcess;
using lamin::test::TempDir;
using lamin::test::wait_for;
using lamin::test::write_file;

constexpr int kEpochs = 24;
constexpr auto kEpochPause = std::chrono::milliseconds(120);  // ~3 s of training: it outlasts the server's absence

// --- the training child ------------------------------------------------------------------------------------------

/// The linear model with a 1 MiB buffer, so that an upload takes long enough to be cut by the kill.
struct BallastModule : lamin::test::LinearModule {
  BallastModule() : LinearModule(nlohmann::json{{"lr", 0.02}}) { register_buffer("ballast", torch::zeros({262144})); }
  void validation_step(const pl::Batch& batch, std::int64_t index) override {
    std::this_thread::sleep_for(kEpochPause);
    LinearModule::validation_step(batch, index);
  }
};

/// ll::Checkpoint that tells the parent when a moment comes (a file `<moment>` in the folder) and waits until the
/// parent has killed the server (a file `go`).
class SignallingCheckpoint : public ll::Checkpoint {
 public:
  SignallingCheckpoint(ll::CheckpointOptions options, fs::path dir, std::string moment)
      : ll::Checkpoint(std::move(options)), dir_(std::move(dir)), moment_(std::move(moment)) {}

  void on_artifact_removed(const ll::ArtifactRemovedEvent& event) override {
    if (moment_ == "eviction") signal_once();  // before the registry's delete of the evicted checkpoint
    ll::Checkpoint::on_artifact_removed(event);
  }
  void on_fit_end(pl::Trainer& trainer, pl::LightningModule& module) override {
    if (moment_ == "flush") signal_once();  // before the bounded wait for the uploads
    ll::Checkpoint::on_fit_end(trainer, module);
  }

 private:
  void signal_once() {
    if (signalled_) return;
    signalled_ = true;
    write_file(dir_ / moment_, "");
    wait_for([&] { return fs::exists(dir_ / "go"); }, 20);
  }
  fs::path dir_;
  std::string moment_;
  bool signalled_ = false;
};

/// What the demo does with LAMIN_INSTANCE set to a URL: a tracked run, ll::Checkpoint with save_top_k=2 through
/// a local outbox, a bounded wait at the end of fit, lamin::finish().
void train_as_child(const std::string& url, const fs::path& dir, const std::string& moment) {
  lamin::OutboxOptions o;
  o.rest().token(kToken).max_attempts(2).connect_timeout_s(1).backoff_initial_s(0.05).request_timeout_s(5);
  o.retry_min_s(0.05).retry_max_s(0.3);
  auto instance = lamin::connect_buffered(url, dir / "lamin-outbox", o);
  ll::save_lightning_features(instance);
  lamin::track(instance, {{"lr", 0.02}, {"max_epochs", kEpochs}});
  auto checkpoint = std::make_shared<SignallingCheckpoint>(ll::CheckpointOptions()
                                                               .monitor("val_loss")
                                                               .mode("min")
                                                               .save_top_k(2)
                                                               .dirpath((dir / "ckpts").string())
                                                               .upload_timeout_s(6),
                                                           dir, moment);
  pl::Trainer trainer(lamin::test::quiet_options(dir.string())
                          .max_epochs(kEpochs)
                          .enable_checkpointing(true)
                          .logger(std::make_shared<pl::CSVLogger>((dir / "logs").string(), "demo"))
                          .callbacks({checkpoint}));
  BallastModule model;
  auto [x, y] = lamin::test::regression_data(32);
  trainer.fit(model, pl::DataLoader::from_tensors(x, y, 8), pl::DataLoader::from_tensors(x, y, 32));
  lamin::finish();
}

TEST(Child, Train) {
  const char* moment = std::getenv("LAMIN_CRASH_TEST_MOMENT");
  if (!moment) GTEST_SKIP() << "only run as a child process";
  train_as_child(std::getenv("LAMIN_CRASH_TEST_URL"), std::getenv("LAMIN_CRASH_TEST_DIR"), moment);
}

pid_t spawn_training(const std::string& url, const fs::path& dir, const std::string& moment) {
  return lamin::test::spawn_self("Child.Train",
                                 {{"LAMIN_CRASH_TEST_MOMENT", moment},
                                  {"LAMIN_CRASH_TEST_URL", url},
                                  {"LAMIN_CRASH_TEST_DIR", dir.string()}},
                                 dir / "training.log");
}

// --- the parent ----------------------------------------------------------------------------------------------------

struct Moment {
  std::string name;
  double down_s;  // how long the server stays down
};
void PrintTo(const Moment& m, std::ostream* os) { *os << m.name; }

/// True once the child has exited (reaped into `status`).
bool exited(pid_t child, int& status) { return ::waitpid(child, &status, WNOHANG) == child; }

class ServerKilledDuringTraining : public ::testing::TestWithParam<Moment> {};

TEST_P(ServerKilledDuringTraining, TrainingExitsZeroAndLaminSyncLeavesTheServerEqualToTheOutbox) {
  const Moment moment = GetParam();
  TempDir tmp("outbox_crash");
  ServeProcess server(tmp / "served", lamin::test::token_file(tmp));
  server.start();
  const int port = server.port();
  const pid_t child = spawn_training(server.url(), tmp.path(), moment.name);
  int status = 0;
  bool gone = false;
  auto served = lamin::connect(tmp / "served");
  const bool reached = wait_for(
      [&] {
        if ((gone = gone || exited(child, status))) return true;
        if (moment.name == "first-checkpoint") return served->artifacts().kind("model").count() >= 1;
        return fs::exists(tmp / moment.name);
      },
      60);
  ASSERT_TRUE(reached && !gone) << "the moment never came:\n" << lamin::test::read_file(tmp / "training.log");
  server.kill(SIGKILL);
  write_file(tmp / "go", "");
  std::this_thread::sleep_for(std::chrono::duration<double>(moment.down_s));
  server.start(port);  // the same port and instance

  ASSERT_EQ(::waitpid(child, &status, 0), child);
  const std::string log = lamin::test::read_file(tmp / "training.log");
  ASSERT_TRUE(WIFEXITED(status)) << "the training died of signal " << WTERMSIG(status) << ":\n" << log;
  EXPECT_EQ(WEXITSTATUS(status), 0) << log;
  EXPECT_EQ(log.find("rejected"), std::string::npos) << log;
  EXPECT_EQ(log.find("uploader failed"), std::string::npos) << log;

  const fs::path outbox = tmp / "lamin-outbox";
  ::setenv("LAMIN_API_KEY", kToken, 1);
  auto [rc, out] = lamin::test::run_command(std::string(LAMIN_CLI_PATH) + " sync --outbox " + outbox.string());
  ::unsetenv("LAMIN_API_KEY");
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("0 pending, 0 failed"), std::string::npos) << out;
  const auto st = lamin::outbox_status(outbox);
  EXPECT_EQ(st.failed, 0) << lamin::to_string(st);
  if (moment.name != "flush") {
    // Checkpoints were evicted while the server was down: their queued uploads were superseded, not rejected.
    EXPECT_GT(st.superseded, 0) << lamin::to_string(st);
  }

  // The outbox folder is the SQLite backend's record of this training; the server must hold the same.
  auto local = lamin::connect(outbox);
  const auto expected = lamin::test::dump(*local);
  EXPECT_EQ(lamin::test::dump(*served), expected);
  EXPECT_EQ(expected["artifacts"].size(), static_cast<std::size_t>(local->artifacts().all_branches().count()));
  EXPECT_GE(local->artifacts().kind("model").count(), 2);
  EXPECT_EQ(served->runs().all().front().uid, local->runs().all().front().uid);
  // Staged bytes are gone once their uploads are answered.
  std::error_code ec;
  EXPECT_TRUE(fs::is_empty(outbox / ".lamindb" / "outbox-uploads", ec) || ec) << "staged uploads were left behind";
}

INSTANTIATE_TEST_SUITE_P(Outbox, ServerKilledDuringTraining,
                         ::testing::Values(Moment{"first-checkpoint", 2.0}, Moment{"eviction", 2.0},
                                           Moment{"flush", 1.0}),
                         [](const auto& info) {
                           std::string n = info.param.name;
                           for (auto& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

}  // namespace
