// Queries, track/finish, describe and lineage.
#include <gtest/gtest.h>

#include "common/files.hpp"
#include "common/registry.hpp"
#include "lamin/db.hpp"

namespace lamin::test {
namespace {

using nlohmann::json;

class QueryTest : public InstanceTest {
 protected:
  void SetUp() override {
    InstanceTest::SetUp();
    instance->create_feature(FeatureOptions("val_loss", "float"));
    instance->create_feature(FeatureOptions("is_best_model", "bool"));
    instance->create_feature(FeatureOptions("mode", "str"));
    instance->create_feature(FeatureOptions("epoch", "int"));
    instance->create_feature(FeatureOptions("wandb_run_id", "str"));
    for (int run_no = 0; run_no < 2; ++run_no) {
      runs.push_back(lamin::track(instance, {{"run", run_no}}, TrackOptions().transform_key("train.cpp")));
      instance->add_values(runs.back(), {{"wandb_run_id", run_no == 0 ? "abc" : "xyz"}});
      for (int e = 0; e < 5; ++e) {
        const std::string name = "r" + std::to_string(run_no) + "/checkpoints/epoch=" + std::to_string(e) + ".ckpt";
        auto a = instance->create_artifact(write_file(dir / "src" / name, name), ArtifactOptions(name).kind("model"));
        static const double kLoss[2][5] = {{0.1, 0.08, 0.06, 0.04, 0.02}, {0.11, 0.09, 0.07, 0.05, 0.03}};
        instance->add_values(a, {{"val_loss", kLoss[run_no][e]},
                                 {"is_best_model", e == 4},
                                 {"epoch", e}});
        if (e % 2 == 0) instance->add_values(a, {{"mode", "min"}});
      }
      lamin::finish();
    }
    instance->create_artifact(write_file(dir / "src/cfg.yaml", "x: 1"), ArtifactOptions("r0/config.yaml").kind("config"));
  }
  std::vector<lamin::Run> runs;
};

TEST_F(QueryTest, FieldLookups) {
  EXPECT_EQ(instance->artifacts().count(), 11);
  EXPECT_EQ(instance->artifacts().key_startswith("r0/").count(), 6);
  EXPECT_EQ(instance->artifacts().key_startswith("r0/checkpoints/").count(), 5);
  EXPECT_EQ(instance->artifacts().suffix(".ckpt").count(), 10);
  EXPECT_EQ(instance->artifacts().key_endswith(".yaml").count(), 1);
  EXPECT_EQ(instance->artifacts().kind("model").count(), 10);
  EXPECT_EQ(instance->artifacts().kind("config").one().key, "r0/config.yaml");
  EXPECT_EQ(instance->artifacts().run(runs[1]).count(), 5);
  EXPECT_EQ(instance->artifacts().is_latest().count(), 11);
  EXPECT_EQ(instance->artifacts().created_after("2000-01-01").count(), 11);
  EXPECT_EQ(instance->artifacts().created_before("2000-01-01").count(), 0);
  EXPECT_EQ(instance->artifacts().key("r0/checkpoints/epoch=0.ckpt").count(), 1);
  // User text is always a bound parameter.
  EXPECT_EQ(instance->artifacts().key("x' OR '1'='1").count(), 0);
  EXPECT_EQ(instance->artifacts().key_startswith("%").count(), 0);
  EXPECT_EQ(instance->artifacts().count(), 11);
}

TEST_F(QueryTest, FeatureComparisons) {
  auto q = instance->artifacts();
  EXPECT_EQ(q.where(feature("val_loss") < 0.05).count(), 3);  // 0.04, 0.02, 0.03
  EXPECT_EQ(q.where(feature("val_loss") <= 0.03).count(), 2);
  EXPECT_EQ(q.where(feature("val_loss") > 0.09).count(), 2);
  EXPECT_EQ(q.where(feature("val_loss") >= 0.06).count(), 6);
  EXPECT_EQ(q.where(feature("val_loss") == 0.1).count(), 1);
  EXPECT_EQ(q.where(feature("epoch") == 2).count(), 2);
  EXPECT_EQ(q.where(feature("epoch") == 2.0).count(), 2);  // JSON equality: 2 == 2.0
  EXPECT_EQ(q.where(feature("is_best_model") == true).count(), 2);
  EXPECT_EQ(q.where(feature("is_best_model") != true).count(), 9);  // includes the config (no value)
  EXPECT_EQ(q.where(feature("mode") == "min").count(), 6);
  EXPECT_EQ(q.where(feature("mode").is_null()).count(), 5);
  EXPECT_EQ(q.where(feature("mode").not_null()).count(), 6);
  EXPECT_EQ(q.key_startswith("r1/").where(feature("is_best_model") == true).one().key, "r1/checkpoints/epoch=4.ckpt");
  EXPECT_THROW(q.where(feature("unknown") == 1).count(), ValidationError);
  EXPECT_THROW(q.where(feature("val_loss") < "abc").count(), ValidationError);
  EXPECT_THROW(q.where(feature("is_best_model") < true).count(), ValidationError);
  // CLI-style conditions.
  EXPECT_EQ(q.where(parse_feature_condition("val_loss<0.05")).count(), 3);
  EXPECT_EQ(q.where(parse_feature_condition("is_best_model=true")).count(), 2);
  EXPECT_EQ(q.where(parse_feature_condition("mode!=min")).count(), 5);
  EXPECT_EQ(q.where(parse_feature_condition("epoch>=3")).count(), 4);
  EXPECT_THROW(parse_feature_condition("val_loss"), ValidationError);
}

TEST_F(QueryTest, OrderFirstLastOneTable) {
  auto q = instance->artifacts().key_startswith("r0/checkpoints/");
  EXPECT_EQ(q.first()->key, "r0/checkpoints/epoch=0.ckpt");
  EXPECT_EQ(q.last()->key, "r0/checkpoints/epoch=4.ckpt");
  EXPECT_EQ(q.order_by(Field::key, Order::descending).first()->key, "r0/checkpoints/epoch=4.ckpt");
  EXPECT_EQ(q.order_by(Field::key, Order::descending).last()->key, "r0/checkpoints/epoch=0.ckpt");
  EXPECT_EQ(q.limit(2).all().size(), 2u);
  EXPECT_THROW(q.one(), IntegrityError);
  EXPECT_THROW(q.key("nope").one(), NotFoundError);
  EXPECT_FALSE(q.key("nope").first());
  const Table t = q.order_by(Field::key).table({"val_loss", "is_best_model"});
  ASSERT_EQ(t.rows.size(), 5u);
  EXPECT_EQ(t.columns.back(), "is_best_model");
  EXPECT_EQ(t.rows[4][6], 0.02);
  EXPECT_EQ(t.rows[4][7], true);
  const auto text = t.to_string();
  EXPECT_NE(text.find("uid"), std::string::npos);
  EXPECT_NE(text.find("r0/checkpoints/epoch=4.ckpt"), std::string::npos);
  EXPECT_EQ(t.to_json().size(), 5u);
  EXPECT_EQ(t.to_json()[0]["key"], "r0/checkpoints/epoch=0.ckpt");
}

TEST_F(QueryTest, RunFeatureQueries) {
  const auto runs_x = instance->runs().where(feature("wandb_run_id") == "xyz");
  EXPECT_EQ(runs_x.one().uid, runs[1].uid);
  auto ckpts = instance->artifacts().run_in(runs_x).where(feature("is_best_model") == true);
  EXPECT_EQ(ckpts.one().key, "r1/checkpoints/epoch=4.ckpt");
  EXPECT_EQ(instance->artifacts().run_in(instance->runs().where(feature("wandb_run_id") == "none")).count(), 0);
  EXPECT_EQ(instance->runs().count(), 2);
  EXPECT_EQ(instance->runs().status(RunStatus::completed).count(), 2);
  const auto t = instance->runs().table({"wandb_run_id"});
  EXPECT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0][2], "train.cpp");
  EXPECT_EQ(t.rows[0][6], "abc");
}

TEST(Track, TrackAndFinish) {
  TempDir dir;
  Instance instance = lamin::init(dir / "inst");
  EXPECT_FALSE(lamin::context().run());
  const lamin::Run run = lamin::track(instance, {{"lr", 0.01}, {"layers", 3}},
                                      TrackOptions().transform_key("train.cpp").cli_args("--lr 0.01"));
  EXPECT_EQ(run.uid.size(), 16u);
  EXPECT_EQ(run.status(), RunStatus::started);
  EXPECT_EQ(run.params, (json{{"lr", 0.01}, {"layers", 3}}));
  EXPECT_EQ(run.cli_args, "--lr 0.01");
  ASSERT_TRUE(lamin::context().run());
  EXPECT_EQ(lamin::context().run()->uid, run.uid);
  const auto t = instance->get_transform_by_id(run.transform_id);
  EXPECT_EQ(t.key, "train.cpp");
  EXPECT_EQ(t.kind, "script");
  EXPECT_EQ(t.uid.substr(12), "0000");
  EXPECT_TRUE(t.hash);  // hash of this test binary
  // Artifacts made inside the run are its outputs unless told otherwise.
  const auto out = instance->create_artifact(write_file(dir / "o.ckpt", "o"), ArtifactOptions("o.ckpt"));
  EXPECT_EQ(out.run_id, run.id);
  const auto in = instance->create_artifact(write_file(dir / "i.yaml", "i"), ArtifactOptions("i.yaml").no_run());
  EXPECT_FALSE(in.run_id);
  instance->add_run_input(in, run);
  instance->add_run_input(in, run);  // idempotent
  EXPECT_EQ(instance->run_inputs(run).size(), 1u);
  EXPECT_EQ(instance->input_of_runs(in).at(0).uid, run.uid);
  lamin::finish();
  EXPECT_FALSE(lamin::context().run());
  const auto done = *instance->find_run(run.uid);
  EXPECT_EQ(done.status(), RunStatus::completed);
  EXPECT_TRUE(done.finished_at);
  // The same program again reuses the transform; a changed source makes a new version.
  const lamin::Run again = lamin::track(instance, nullptr, TrackOptions().transform_key("train.cpp"));
  EXPECT_EQ(again.transform_id, run.transform_id);
  lamin::finish(RunStatus::errored);
  EXPECT_EQ(instance->find_run(again.uid)->status(), RunStatus::errored);
  write_file(dir / "train.cpp", "int main() {}");
  const lamin::Run v2 = lamin::track(instance, nullptr,
                                     TrackOptions().transform_key("train.cpp").source_path((dir / "train.cpp").string()));
  const auto t2 = instance->get_transform_by_id(v2.transform_id);
  EXPECT_EQ(t2.uid.substr(0, 12), t.uid.substr(0, 12));
  EXPECT_EQ(t2.uid.substr(12), "0001");
  EXPECT_EQ(t2.source_code, "int main() {}");
  EXPECT_FALSE(instance->get_transform_by_id(t.id).is_latest);
  lamin::finish();
}

TEST(Describe, ArtifactTree) {
  TempDir dir;
  Instance instance = lamin::init(dir / "inst");
  const auto type = instance->create_feature(FeatureOptions().name("lamindb.lightning").is_type(true));
  for (auto [name, dtype] : std::vector<std::pair<std::string, std::string>>{
           {"is_best_model", "bool"}, {"is_last_model", "bool"}, {"mode", "str"}, {"model_rank", "int"},
           {"monitor", "str"}, {"save_weights_only", "bool"}, {"score", "float"}}) {
    instance->create_feature(FeatureOptions(name, dtype).type(type));
  }
  const lamin::Run run = lamin::track(instance, nullptr, TrackOptions().transform_key("train.py"));
  const auto a = instance->create_artifact(write_file(dir / "m.ckpt", std::string(5734, 'w')),
                                           ArtifactOptions("ckpts/checkpoints/epoch=0-step=10.ckpt")
                                               .description("model checkpoint").kind("model"));
  instance->add_values(a, {{"score", 0.8731}, {"monitor", "train_loss"}, {"is_best_model", true},
                           {"save_weights_only", false}, {"mode", "min"}, {"model_rank", 0}, {"is_last_model", true}});
  lamin::finish();
  const std::string created = a.created_at.substr(0, 19) + " UTC";
  const std::string root = instance->info().storage.root;
  const std::string run_label = "run: " + run.uid.substr(0, 7) + " (train.py)";
  auto pad = [](std::string s, std::size_t w) { return s + std::string(w - s.size(), ' '); };
  const std::size_t w = std::string("created_at: ").size() + 23 + 1;
  const std::string expected =
      "Artifact: ckpts/checkpoints/epoch=0-step=10.ckpt (0000)\n"
      "|   description: model checkpoint\n"
      "├── " + pad("uid: " + a.uid, w) + run_label + "\n"
      "│   " + pad("kind: model", w) + "otype: None\n"
      "│   " + pad("hash: " + *a.hash, w) + "size: 5.6 KB\n"
      "│   " + pad("branch: main", w) + "space: all\n"
      "│   " + pad("created_at: " + created, w) + "created_by: anonymous\n"
      "├── storage/path: " + root + "/.lamindb/" + a.uid + ".ckpt\n"
      "└── Features\n"
      "    └── is_best_model       bool                     True\n"
      "        is_last_model       bool                     True\n"
      "        mode                str                      min\n"
      "        model_rank          int                      0\n"
      "        monitor             str                      train_loss\n"
      "        save_weights_only   bool                     False\n"
      "        score               float                    0.8731\n";
  EXPECT_EQ(describe(*instance, a), expected);
  const std::string features = describe_features(*instance, a);
  EXPECT_EQ(features.rfind("Artifact: ckpts/checkpoints/epoch=0-step=10.ckpt (0000)\n|   description: model checkpoint\n"
                           "└── Features\n    └── is_best_model       bool                     True\n", 0),
            0u);
}

TEST(Lineage, DotAndMermaid) {
  TempDir dir;
  Instance instance = lamin::init(dir / "inst");
  const lamin::Run prep = lamin::track(instance, nullptr, TrackOptions().transform_key("prepare.cpp"));
  const auto data = instance->create_artifact(write_file(dir / "d.csv", "1,2"), ArtifactOptions("data/d.csv"));
  lamin::finish();
  const lamin::Run train = lamin::track(instance, nullptr, TrackOptions().transform_key("train.cpp"));
  instance->add_run_input(data, train);
  const auto model = instance->create_artifact(write_file(dir / "m.ckpt", "m"), ArtifactOptions("m/model.ckpt"));
  lamin::finish();
  const std::string dot = lineage(*instance, model, LineageFormat::dot);
  const auto tp = instance->get_transform_by_id(prep.transform_id);
  const auto tt = instance->get_transform_by_id(train.transform_id);
  EXPECT_EQ(dot.rfind("digraph lineage {", 0), 0u);
  EXPECT_NE(dot.find("\"t_" + tt.uid + "\" -> \"r_" + train.uid + "\""), std::string::npos);
  EXPECT_NE(dot.find("\"r_" + train.uid + "\" -> \"a_" + model.uid + "\""), std::string::npos);
  EXPECT_NE(dot.find("\"a_" + data.uid + "\" -> \"r_" + train.uid + "\""), std::string::npos);
  EXPECT_NE(dot.find("\"r_" + prep.uid + "\" -> \"a_" + data.uid + "\""), std::string::npos);
  EXPECT_NE(dot.find("\"t_" + tp.uid + "\" -> \"r_" + prep.uid + "\""), std::string::npos);
  EXPECT_NE(dot.find("label=\"m/model.ckpt\\n" + model.uid + "\""), std::string::npos);
  const std::string mermaid = lineage(*instance, model, LineageFormat::mermaid);
  EXPECT_EQ(mermaid.rfind("flowchart LR\n", 0), 0u);
  EXPECT_NE(mermaid.find("a_" + data.uid + " --> r_" + train.uid), std::string::npos);
  EXPECT_NE(mermaid.find("r_" + train.uid + " --> a_" + model.uid), std::string::npos);
  // Depth 1 stops at the direct inputs.
  EXPECT_EQ(lineage(*instance, model, LineageFormat::dot, 1).find("r_" + prep.uid), std::string::npos);
}

// A graph whose labels need escaping: a key with quotes and XML markup, a run input, a producing run.
struct LineageFixture {
  TempDir dir;
  Instance instance = lamin::init(dir / "inst");
  Artifact data, model;
  lamin::Run train;
  LineageFixture() {
    train = lamin::track(instance, nullptr, TrackOptions().transform_key("train.cpp"));
    data = instance->create_artifact(write_file(dir / "d.csv", "1,2"), ArtifactOptions("data/\"odd\" <&> name.csv"));
    instance->add_run_input(data, train);
    model = instance->create_artifact(write_file(dir / "m.ckpt", "m"), ArtifactOptions("m/model.ckpt"));
    lamin::finish();
  }
};

// Sets an environment variable for the scope of a test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

bool folder_is_empty(const fs::path& dir) { return fs::directory_iterator(dir) == fs::directory_iterator(); }

TEST(Lineage, SvgRenderedByGraphviz) {
  if (::system("command -v dot >/dev/null 2>&1") != 0) GTEST_SKIP() << "Graphviz's dot is not installed";
  LineageFixture f;
  TempDir scratch;
  ScopedEnv tmpdir("TMPDIR", scratch.path().string());
  const std::string svg = lineage(*f.instance, f.model, LineageFormat::svg);
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  // dot names each node and edge in a <title>; its SVG escapes "-" and ">".
  EXPECT_NE(svg.find("<title>a_" + f.model.uid + "</title>"), std::string::npos);
  EXPECT_NE(svg.find("<title>r_" + f.train.uid + "&#45;&gt;a_" + f.model.uid + "</title>"), std::string::npos);
  EXPECT_NE(svg.find("<title>a_" + f.data.uid + "&#45;&gt;r_" + f.train.uid + "</title>"), std::string::npos);
  // The label keeps the key's quotes and markup characters (escaped for DOT, then for XML).
  EXPECT_NE(svg.find("data/&quot;odd&quot; &lt;&amp;&gt; name.csv"), std::string::npos) << svg;
  EXPECT_NE(svg.find(">m/model.ckpt<"), std::string::npos);
  EXPECT_TRUE(folder_is_empty(scratch.path()));
}

TEST(Lineage, SvgWithoutGraphvizSaysWhatToInstall) {
  LineageFixture f;
  TempDir empty;
  ScopedEnv path("PATH", empty.path().string());
  try {
    lineage(*f.instance, f.model, LineageFormat::svg);
    FAIL() << "expected ConfigurationError";
  } catch (const ConfigurationError& e) {
    EXPECT_NE(std::string(e.what()).find("install graphviz"), std::string::npos) << e.what();
  }
  // The text formats need no Graphviz.
  EXPECT_EQ(lineage(*f.instance, f.model, LineageFormat::dot).rfind("digraph lineage {", 0), 0u);
}

TEST(Lineage, AFailingRendererIsReportedWithItsExitStatusAndLeavesNoScratchFiles) {
  LineageFixture f;
  TempDir bin;
  // A `dot` on PATH that is not Graphviz: a shell script that complains and fails, as dot does on a bad graph.
  write_file(bin / "dot", "#!/bin/sh\necho 'Error: syntax error in line 1' >&2\nexit 3\n");
  fs::permissions(bin / "dot", fs::perms::owner_all);
  TempDir scratch;
  {
    ScopedEnv tmpdir("TMPDIR", scratch.path().string());
    ScopedEnv path("PATH", bin.path().string() + ":/usr/bin:/bin");
    try {
      lineage(*f.instance, f.model, LineageFormat::svg);
      FAIL() << "expected lamin::Error";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("exit status 3"), std::string::npos) << what;
      EXPECT_NE(what.find("Error: syntax error in line 1"), std::string::npos) << what;
    }
  }
  EXPECT_TRUE(folder_is_empty(scratch.path()));
}

}  // namespace
}  // namespace lamin::test
