// lamin-serve and the REST client against each other on 127.0.0.1: the same state as the SQLite backend, auth,
// bad requests, idempotent retries, a server killed and restarted, a client killed mid-upload, several clients at
// once, answers lost after the server stored a write, and tiny misbehaving servers (500s, garbage, slowness).
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

#include <gtest/gtest.h>

#include "common/files.hpp"
#include "common/http.hpp"
#include "common/process.hpp"
#include "common/registry.hpp"
#include "common/serve.hpp"
#include "lamin/db.hpp"

namespace lamin::test {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

/// The operations a training run makes: features, a transform and run, an input, versioned checkpoints with
/// values, an `is_best_model` flag moved from checkpoint to checkpoint, and a finished run.
void workload(Registry& r, const fs::path& files, int n, std::size_t file_size = 64, const std::string& prefix = "") {
  r.create_feature(FeatureOptions("val_loss", "float"));
  r.create_feature(FeatureOptions("epoch", "int"));
  r.create_feature(FeatureOptions("is_best_model", "bool"));
  const Feature rank = r.create_feature(FeatureOptions("model_rank", "int"));
  auto t = r.create_transform(TransformOptions(prefix + "train.py").source_code("print('train')"));
  auto run = r.create_run(t, RunOptions().name(prefix + "run").params({{"lr", 0.01}}));
  r.add_values(run, {{"epoch", n}});
  auto data = r.create_artifact(write_file(files / (prefix + "data.csv"), prefix + "a,b\n1,2\n"),
                                ArtifactOptions(prefix + "data/train.csv").no_run());
  r.add_run_input(data, run);
  std::optional<Artifact> best;
  double best_loss = 1e9;
  std::vector<std::pair<std::int64_t, json>> ranks;  // every checkpoint's rank moved at once, as Checkpoint does
  for (int i = 0; i < n; ++i) {
    std::string content(file_size, 'x');
    content.replace(0, prefix.size() + 8, prefix + "epoch" + std::to_string(1000 + i));
    auto a = r.create_artifact(write_file(files / (prefix + "epoch=" + std::to_string(i) + ".ckpt"), content),
                               ArtifactOptions(prefix + "ckpt/model.ckpt").kind("model").run(run));
    const double loss = (i % 3 == 0) ? 0.5 / (i + 1) : 0.9;
    r.add_values(a, {{"val_loss", loss}, {"epoch", i}});
    ranks.insert(ranks.begin(), {a.id, 0});
    for (std::size_t k = 0; k < ranks.size(); ++k) ranks[k].second = static_cast<std::int64_t>(k);
    r.set_feature_values(rank, ranks);
    if (loss < best_loss) {
      if (best) r.remove_values(*best, "is_best_model");
      r.add_values(a, {{"is_best_model", true}});
      best = a;
      best_loss = loss;
    }
  }
  r.finish_run(run, RunStatus::completed);
}

json baseline(const TempDir& tmp, int n, std::size_t file_size = 64) {
  auto base = init(tmp / "baseline");
  workload(*base, tmp / "baseline-files", n, file_size);
  return dump(*base);
}

json server_state(const fs::path& dir) {
  auto reg = connect(dir);
  return dump(*reg);
}

TEST(Server, SameStateAsTheSqliteBackend) {
  TempDir tmp;
  ServeProcess server(tmp / "served", token_file(tmp));
  server.start();
  auto remote = connect_rest(server.url(), rest_options());
  workload(*remote, tmp / "files", 6);
  const json expected = baseline(tmp, 6);
  EXPECT_EQ(server_state(tmp / "served"), expected);
  EXPECT_EQ(dump(*remote), expected);  // and read back through the API
  // queries, describe and files through the client
  auto best = remote->artifacts().key("ckpt/model.ckpt").where(feature("is_best_model") == true).one();
  EXPECT_EQ(remote->get_values(best)["val_loss"], 0.5 / 4);
  EXPECT_EQ(remote->artifacts().where(feature("val_loss") < 0.6).count(), 2);
  EXPECT_FALSE(describe(*remote, best).empty());
  download_file(remote, best, tmp / "back.ckpt");
  EXPECT_EQ(read_file(tmp / "back.ckpt").substr(0, 13), "epoch1003xxxx");
  EXPECT_EQ(remote->get_artifact("ckpt/model.ckpt").uid.substr(16), "0005");
  // lamin::connect dispatches on the URL; the CLI works with --instance URL
  ::setenv("LAMIN_API_KEY", kToken, 1);
  EXPECT_EQ(connect(server.url())->artifacts().count(), 7);
  auto [rc, out] = run_command(std::string(LAMIN_CLI_PATH) + " --instance " + server.url() + " ls --filter 'val_loss<0.2'");
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("ckpt/model.ckpt"), std::string::npos) << out;
  ::unsetenv("LAMIN_API_KEY");
}

TEST(Server, AuthenticationFailuresAre401Json) {
  TempDir tmp;
  ServeProcess server(tmp / "served", token_file(tmp));
  server.start();
  httplib::Client c("127.0.0.1", server.port());
  auto r = c.Get("/instances/settings");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(json::parse(r->body)["error"]["kind"], "unauthorized");
  r = c.Get("/instances/settings", {{"Authorization", "Bearer wrong-token-0123456789"}});
  EXPECT_EQ(r->status, 401);
  EXPECT_TRUE(json::parse(r->body).contains("error"));
  EXPECT_THROW(connect_rest(server.url(), rest_options("wrong-token-0123456789")), ConfigurationError);
  EXPECT_EQ(c.Get("/health")->status, 200);
}

TEST(Server, BadRequestsGet4xxJsonAndNeverCrashTheServer) {
  TempDir tmp;
  ServeProcess server(tmp / "served", token_file(tmp), {"--max-body", "4096", "--max-upload", "100000"});
  server.start();
  auto remote = connect_rest(server.url(), rest_options());
  const std::string I = "/instances/" + remote->info().storage.instance_uid;
  httplib::Client c("127.0.0.1", server.port());
  const httplib::Headers auth = {{"Authorization", std::string("Bearer ") + kToken}};
  auto expect_json_error = [&](const httplib::Result& r, int status) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << r->body;
    EXPECT_NO_THROW(EXPECT_TRUE(json::parse(r->body).contains("error")) << r->body);
  };
  expect_json_error(c.Put((I + "/modules/core/feature").c_str(), auth, "{\"name\": ", "application/json"), 400);
  expect_json_error(c.Put((I + "/modules/core/feature").c_str(), auth, "[1,2]", "application/json"), 422);
  expect_json_error(c.Put((I + "/modules/core/feature").c_str(), auth, R"({"name": 5})", "application/json"), 422);
  expect_json_error(c.Put((I + "/modules/core/feature").c_str(), auth, R"({"name": "x", "dtype": "nonsense"})", "application/json"), 422);
  expect_json_error(c.Post((I + "/modules/core/artifact").c_str(), auth, R"({"lamin_query": {"fields": [{"field": "x; DROP TABLE", "lookup": "eq", "value": 1}]}})", "application/json"), 422);
  expect_json_error(c.Post("/instances/WRONGINSTANC/modules/core/artifact", auth, "{}", "application/json"), 404);
  expect_json_error(c.Put((I + "/modules/core/artifactjsonvalue/upsert?conflict_columns=artifact_id&conflict_columns=jsonvalue_id").c_str(),
                           auth, R"([{"artifact_id": 999, "jsonvalue_id": 1}])", "application/json"), 409);
  // paths never leave the storage root
  expect_json_error(c.Get((I + "/artifacts/..%2F..%2F..%2Fetc%2Fpasswd/file").c_str(), auth), 404);
  expect_json_error(c.Get((I + "/artifacts/%2E%2E/file").c_str(), auth), 400);
  expect_json_error(c.Get((I + "/artifacts/AAAAAAAAAAAAAAAAAAAA/file").c_str(), auth), 404);
  expect_json_error(c.Get((I + "/artifacts/../../../etc/passwd").c_str(), auth), 404);
  expect_json_error(c.Get("/instances/../../etc/passwd", auth), 404);
  httplib::MultipartFormDataItems evil = {{"kwargs", R"({"key": "a/b.ckpt"})", "", "application/json"},
                                          {"file", "data", "../../evil.ckpt", "application/octet-stream"}};
  expect_json_error(c.Post((I + "/artifacts/upload").c_str(), auth, evil), 400);
  httplib::MultipartFormDataItems bad_key = {{"kwargs", R"({"key": "../../escape.ckpt"})", "", "application/json"},
                                             {"file", "data", "x.ckpt", "application/octet-stream"}};
  expect_json_error(c.Post((I + "/artifacts/upload").c_str(), auth, bad_key), 422);
  EXPECT_FALSE(fs::exists(tmp / "escape.ckpt"));
  EXPECT_FALSE(fs::exists(tmp / "served" / "escape.ckpt"));
  EXPECT_THROW(remote->create_artifact(write_file(tmp / "k.ckpt", "k"), ArtifactOptions("../k.ckpt")), ValidationError);
  // size limits: 413 with a JSON error
  expect_json_error(c.Put((I + "/modules/core/feature").c_str(), auth, std::string(10000, ' ') + "{}", "application/json"), 413);
  httplib::Client c2("127.0.0.1", server.port());
  httplib::MultipartFormDataItems big = {{"kwargs", R"({"key": "big.ckpt"})", "", "application/json"},
                                         {"file", std::string(200000, 'b'), "big.ckpt", "application/octet-stream"}};
  expect_json_error(c2.Post((I + "/artifacts/upload").c_str(), auth, big), 413);
  EXPECT_THROW(remote->create_artifact(write_file(tmp / "big.ckpt", std::string(200000, 'b')), ArtifactOptions("big.ckpt")),
               ValidationError);
  // still serving, nothing was registered
  EXPECT_EQ(httplib::Client("127.0.0.1", server.port()).Get("/health")->status, 200);
  EXPECT_EQ(remote->artifacts().count(), 0);
}

TEST(Server, ARetriedWriteWithTheSameKeyIsAppliedOnce) {
  TempDir tmp;
  ServeProcess server(tmp / "served", token_file(tmp));
  server.start();
  auto remote = connect_rest(server.url(), rest_options());
  const std::string I = "/instances/" + remote->info().storage.instance_uid;
  httplib::Client c("127.0.0.1", server.port());
  httplib::Headers h = {{"Authorization", std::string("Bearer ") + kToken}, {"Idempotency-Key", "retry-key-0001"}};
  httplib::MultipartFormDataItems form = {{"kwargs", R"({"key": "a.ckpt", "skip_hash_lookup": true})", "", "application/json"},
                                          {"file", "same bytes", "a.ckpt", "application/octet-stream"}};
  auto r1 = c.Post((I + "/artifacts/upload").c_str(), h, form);
  auto r2 = c.Post((I + "/artifacts/upload").c_str(), h, form);
  ASSERT_TRUE(r1 && r2);
  EXPECT_EQ(r1->status, 200);
  EXPECT_EQ(r1->body, r2->body);
  EXPECT_EQ(r2->get_header_value("Idempotent-Replayed"), "true");
  h.erase("Idempotency-Key");
  h.emplace("Idempotency-Key", "retry-key-0002");
  form[1].content = "other bytes";
  auto r3 = c.Post((I + "/artifacts/upload").c_str(), h, form);  // another key: a new version
  EXPECT_NE(r3->body, r1->body);
  EXPECT_EQ(remote->artifacts().count(), 2);
}

// --- the outbox: server killed and restarted, server down, client killed ------------------------------------------

OutboxOptions fast_outbox() {
  return OutboxOptions().rest(rest_options().max_attempts(2).connect_timeout_s(1)).retry_min_s(0.05).retry_max_s(0.3);
}

TEST(Outbox, ServerKilledAndRestartedMidTrainingEverythingArrivesOnce) {
  TempDir tmp;
  ServeProcess server(tmp / "served", token_file(tmp));
  server.start();
  const int port = server.port();
  auto inst = connect_buffered(server.url(), tmp / "outbox", fast_outbox());
  std::atomic<bool> done{false};
  std::thread training([&] {
    workload(*inst, tmp / "files", 12, 200000);
    done = true;
  });
  // kill the server while registrations are being uploaded, keep it down a while, restart it on the same port
  for (int i = 0; i < 200 && outbox_status(tmp / "outbox").done < 6; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  server.kill(SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  training.join();
  EXPECT_TRUE(done);  // training never waited for the server
  EXPECT_GT(outbox_status(tmp / "outbox").pending, 0);
  server.start(port);
  const auto st = flush(inst, 30);
  EXPECT_EQ(st.pending, 0) << to_string(st);
  EXPECT_EQ(st.failed, 0) << to_string(st);
  const json expected = baseline(tmp, 12, 200000);
  EXPECT_EQ(server_state(tmp / "served"), expected);
  EXPECT_EQ(dump(*inst), expected);  // local reads: the same state
  // The run keeps its uid on the server (checkpoint keys derived from it stay true there).
  const auto local_runs = inst->runs().all();
  const auto served_runs = connect(tmp / "served")->runs().all();
  ASSERT_EQ(local_runs.size(), 1u);
  ASSERT_EQ(served_runs.size(), 1u);
  EXPECT_EQ(served_runs.front().uid, local_runs.front().uid);
}

TEST(Outbox, ServerDownTrainingGoesOnAndTheOutboxDrainsLater) {
  TempDir tmp;
  ServeProcess probe(tmp / "served", token_file(tmp));
  probe.start();  // learn a free port, then stop: nothing listens there while training runs
  const int port = probe.port();
  const std::string url = probe.url();
  probe.kill(SIGKILL);
  {
    auto inst = connect_buffered(url, tmp / "outbox", fast_outbox());
    const auto t0 = Clock::now();
    workload(*inst, tmp / "files", 5);
    EXPECT_LT(seconds_since(t0), 5.0);
    const auto st = flush(inst, 0.3);  // bounded wait with a clear message
    EXPECT_GT(st.pending, 0);
    EXPECT_NE(st.last_error, "");
  }
  auto [rc, out] = run_command(std::string(LAMIN_CLI_PATH) + " status --outbox " + (tmp / "outbox").string());
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("pending"), std::string::npos) << out;
  ServeProcess server(tmp / "served", token_file(tmp));
  server.start(port);
  ::setenv("LAMIN_API_KEY", kToken, 1);
  std::tie(rc, out) = run_command(std::string(LAMIN_CLI_PATH) + " sync --outbox " + (tmp / "outbox").string());
  ::unsetenv("LAMIN_API_KEY");
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("0 pending, 0 failed"), std::string::npos) << out;
  EXPECT_EQ(server_state(tmp / "served"), baseline(tmp, 5));
}

/// Child processes: the test binary runs itself with LAMIN_SERVER_TEST_CHILD set.
TEST(Child, Run) {
  const char* mode = std::getenv("LAMIN_SERVER_TEST_CHILD");
  if (!mode) GTEST_SKIP() << "only run as a child process";
  const std::string url = std::getenv("LAMIN_SERVER_TEST_URL");
  const fs::path dir = std::getenv("LAMIN_SERVER_TEST_DIR");
  if (std::string(mode) == "outbox") {  // queue everything, then drain in this thread (killed midway)
    OutboxOptions o = fast_outbox();
    o.background(false);
    auto inst = connect_buffered(url, dir / "outbox", o);
    workload(*inst, dir / "files", 10, 2000000);
    ::close(::open((dir / "queued").c_str(), O_CREAT | O_WRONLY, 0644));
    flush(inst, 60);
  } else {  // a direct client
    auto remote = connect_rest(url, rest_options());
    const std::string p = std::string(mode) + "/";
    workload(*remote, dir / p, 6, 64, p);
  }
}

pid_t spawn_child(const std::string& mode, const std::string& url, const fs::path& dir) {
  return spawn_self("Child.Run", {{"LAMIN_SERVER_TEST_CHILD", mode},
                                  {"LAMIN_SERVER_TEST_URL", url},
                                  {"LAMIN_SERVER_TEST_DIR", dir.string()}});
}

TEST(Outbox, ClientKilledMidUploadThenLaminSyncLosesAndDuplicatesNothing) {
  TempDir tmp;
  ServeProcess server(tmp / "served", token_file(tmp));
  server.start();
  const pid_t child = spawn_child("outbox", server.url(), tmp.path());
  for (int i = 0; i < 3000; ++i) {
    if (fs::exists(tmp / "queued") && outbox_status(tmp / "outbox").done >= 5) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  const auto before = outbox_status(tmp / "outbox");
  EXPECT_GT(before.pending, 0) << to_string(before);
  ::setenv("LAMIN_API_KEY", kToken, 1);
  auto [rc, out] = run_command(std::string(LAMIN_CLI_PATH) + " sync --outbox " + (tmp / "outbox").string());
  ::unsetenv("LAMIN_API_KEY");
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(server_state(tmp / "served"), baseline(tmp, 10, 2000000));
}

TEST(Server, SeveralClientProcessesAtOnceLoseNothing) {
  TempDir tmp;
  ServeProcess server(tmp / "served", token_file(tmp));
  server.start();
  std::vector<pid_t> children;
  for (int i = 0; i < 4; ++i) children.push_back(spawn_child("client" + std::to_string(i), server.url(), tmp.path()));
  for (pid_t c : children) {
    int status = 0;
    ::waitpid(c, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  auto reg = connect(tmp / "served");
  EXPECT_EQ(reg->artifacts().all_branches().count(), 4 * 7);
  EXPECT_EQ(reg->runs().count(), 4);
  EXPECT_EQ(reg->features().size(), 4u);
  for (int i = 0; i < 4; ++i) {
    const std::string p = "client" + std::to_string(i) + "/";
    EXPECT_EQ(reg->artifacts().key(p + "ckpt/model.ckpt").count(), 6);
    EXPECT_EQ(reg->artifacts().key(p + "ckpt/model.ckpt").where(feature("is_best_model") == true).count(), 1);
  }
}

// --- misbehaving servers: bounded retries, clear errors -------------------------------------------------------

RestOptions quick(int attempts) {
  return rest_options().max_attempts(attempts).backoff_initial_s(0.02).backoff_max_s(0.1).request_timeout_s(0.3);
}

TEST(Misbehaving, AServerAnswering500IsRetriedABoundedNumberOfTimes) {
  std::atomic<int> calls{0};
  LoopbackServer s([&](const httplib::Request&, httplib::Response& res) {
    ++calls;
    res.status = 500;
    res.set_content("boom", "text/plain");
  });
  const auto t0 = Clock::now();
  try {
    connect_rest(s.url(), quick(4));
    FAIL() << "no error";
  } catch (const NetworkError& e) {
    EXPECT_NE(std::string(e.what()).find("after 4 attempts"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("HTTP 500"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find(kToken), std::string::npos);  // the token is never in a message
  }
  EXPECT_EQ(calls, 4);
  EXPECT_LT(seconds_since(t0), 3.0);
}

TEST(Misbehaving, GarbageIsAClearErrorWithoutRetries) {
  std::atomic<int> calls{0};
  LoopbackServer s([&](const httplib::Request&, httplib::Response& res) {
    ++calls;
    res.set_content("<html>\x01\x02 not json", "text/html");
  });
  try {
    connect_rest(s.url(), quick(4));
    FAIL() << "no error";
  } catch (const NetworkError& e) {
    EXPECT_NE(std::string(e.what()).find("not JSON"), std::string::npos) << e.what();
  }
  EXPECT_EQ(calls, 1);
}

TEST(Misbehaving, ASlowServerTimesOutWithinTheBound) {
  LoopbackServer s([&](const httplib::Request&, httplib::Response& res) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    res.set_content("{}", "application/json");
  });
  const auto t0 = Clock::now();
  EXPECT_THROW(connect_rest(s.url(), quick(2)), NetworkError);
  EXPECT_LT(seconds_since(t0), 1.4);
}

TEST(Misbehaving, TransientFailuresAndRateLimitsAreRetriedUntilSuccess) {
  TempDir tmp;
  ServeProcess real(tmp / "served", token_file(tmp));
  real.start();
  std::atomic<int> calls{0};
  httplib::Client upstream("127.0.0.1", real.port());
  LoopbackServer flaky([&](const httplib::Request& req, httplib::Response& res) {
    const int n = ++calls;
    if (n == 1) { res.status = 503; res.set_content("{}", "application/json"); return; }
    if (n == 2) { res.status = 429; res.set_header("Retry-After", "0"); return; }
    const httplib::Headers h = {{"Authorization", req.get_header_value("Authorization")}};
    auto r = req.method == "POST" ? upstream.Post(req.path.c_str(), h, req.body, "application/json")
                                  : upstream.Get(req.path.c_str(), h);
    res.status = r->status;
    res.set_content(r->body, "application/json");
  });
  auto remote = connect_rest(flaky.url(), quick(4));
  EXPECT_EQ(calls, 4);  // the key exchange (retried twice), then the settings
  EXPECT_EQ(remote->info().storage.root, fs::weakly_canonical(tmp / "served").string());
}

TEST(Outbox, AnAnswerArrivingDuringTheCallersTransactionIsRecordedAfterItAndNotInIt) {
  TempDir tmp;
  ServeProcess server(tmp / "served", token_file(tmp));
  server.start();
  auto inst = connect_buffered(server.url(), tmp / "outbox", fast_outbox());
  inst->create_feature(FeatureOptions("note", "str"));
  // Large enough that the upload is still under way when the caller opens its transaction.
  const fs::path big = write_file(tmp / "files" / "big.bin", std::string(48 << 20, 'b'));
  inst->create_artifact(big, ArtifactOptions("big.bin").no_run());
  const fs::path staging = tmp / "outbox" / ".lamindb" / "outbox-uploads";
  std::error_code ec;
  for (int i = 0; i < 5000 && (!fs::exists(staging, ec) || fs::is_empty(staging, ec)); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_FALSE(fs::is_empty(staging, ec)) << "the upload never started";
  {
    Transaction tx(inst);  // the answer comes while this is open: the uploader waits for it to end
    inst->add_values(inst->artifacts().one(), {{"note", "inside"}});
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    EXPECT_EQ(flush(inst, 0).done, 1) << "the upload's answer was recorded inside the caller's transaction";
  }  // rolled back: the uploader's record is not, since it was never part of it
  const auto st = flush(inst, 30);
  EXPECT_EQ(st.pending, 0) << to_string(st);
  EXPECT_EQ(st.failed, 0) << to_string(st);
  EXPECT_EQ(st.done, 2) << to_string(st);  // the feature and the upload; the rolled-back values were never queued
  EXPECT_EQ(connect(tmp / "served")->artifacts().count(), 1);
  EXPECT_TRUE(fs::is_empty(staging, ec)) << "the staged upload was left behind";
}

TEST(Outbox, AnUploadWhoseAnswerWasLostAndThatIsThenDeletedLocallyIsDeletedOnTheServer) {
  TempDir tmp;
  ServeProcess server(tmp / "served", token_file(tmp));
  server.start();
  TcpProxy proxy(server.port());
  auto inst = connect_buffered(proxy.url(), tmp / "outbox", fast_outbox());
  auto served = connect(tmp / "served");
  inst->create_feature(FeatureOptions("val_loss", "float"));
  ASSERT_EQ(flush(inst, 30).done, 1);  // connected and signed in
  proxy.lose_answers(true);  // the server stores the upload; its answer never arrives
  const Artifact a = inst->create_artifact(write_file(tmp / "files" / "epoch=0.ckpt", "weights of epoch 0"),
                                           ArtifactOptions("ckpt/model.ckpt").kind("model").no_run());
  for (int i = 0; i < 1000 && (served->artifacts().count() == 0 || proxy.lost() < 2); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(served->artifacts().count(), 1) << "the upload never reached the server";
  ASSERT_GE(proxy.lost(), 2) << "no answer was lost";
  inst->delete_artifact(a);  // evicted locally while its upload waits for an answer
  proxy.lose_answers(false);
  const auto st = flush(inst, 30);
  EXPECT_EQ(st.pending, 0) << to_string(st);
  EXPECT_EQ(st.failed, 0) << to_string(st);
  EXPECT_EQ(served->artifacts().count(), 0) << "the server kept a copy the outbox deleted";
  EXPECT_EQ(inst->artifacts().count(), 0);
  std::error_code ec;
  EXPECT_TRUE(fs::is_empty(tmp / "outbox" / ".lamindb" / "outbox-uploads", ec)) << "the staged upload was left behind";
}

TEST(Outbox, AMisbehavingServerNeverBlocksTheCaller) {
  TempDir tmp;
  LoopbackServer s([&](const httplib::Request&, httplib::Response& res) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    res.status = 500;
  });
  auto inst = connect_buffered(s.url(), tmp / "outbox", fast_outbox());
  const auto t0 = Clock::now();
  workload(*inst, tmp / "files", 5);
  EXPECT_LT(seconds_since(t0), 2.0);
  EXPECT_EQ(inst->artifacts().count(), 6);  // local reads answer at once
  const auto st = flush(inst, 0.5);
  EXPECT_GT(st.pending, 0);
  EXPECT_NE(st.last_error.find("HTTP 500"), std::string::npos) << st.last_error;
}

}  // namespace
}  // namespace lamin::test
