// The `lamin` tool, run as a real process.
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>

#include <gtest/gtest.h>

#include "common/files.hpp"
#include "lamin/db.hpp"

namespace lamin {
namespace {

using test::TempDir;
using test::write_file;

struct Result {
  int rc;
  std::string out;
  std::string err;
};

Result lamin_cli(const std::string& args, const TempDir& dir, const std::string& env = "") {
  const std::string out = (dir / "stdout.txt").string(), err = (dir / "stderr.txt").string();
  const std::string cmd = "cd '" + dir.path().string() + "' && " + env + " '" + LAMIN_CLI_PATH + "' " + args + " >'" +
                          out + "' 2>'" + err + "'";
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, test::read_file(out), test::read_file(err)};
}

int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

TEST(Cli, EndToEnd) {
  TempDir dir;
  ASSERT_EQ(lamin_cli("init inst", dir).rc, 0);
  write_file(dir / "m0.ckpt", "model zero");
  write_file(dir / "m1.ckpt", "model one");
  auto saved = lamin_cli("--instance inst save m0.ckpt --key exp/m0.ckpt --kind model --description 'model checkpoint'", dir);
  ASSERT_EQ(saved.rc, 0) << saved.err;
  const std::string uid0 = saved.out.substr(0, 20);
  ASSERT_EQ(lamin_cli("save m1.ckpt --key exp/m1.ckpt --kind model --instance inst", dir).rc, 0);
  {
    Instance inst = lamin::connect(dir / "inst");
    inst->create_feature(FeatureOptions("val_loss", "float"));
    inst->create_feature(FeatureOptions("is_best_model", "bool"));
    inst->add_values(inst->get_artifact("exp/m0.ckpt"), {{"val_loss", 0.03}, {"is_best_model", true}});
    inst->add_values(inst->get_artifact("exp/m1.ckpt"), {{"val_loss", 0.07}, {"is_best_model", false}});
  }
  const std::string env = "LAMIN_INSTANCE=inst";
  auto ls = lamin_cli("ls", dir, env);
  EXPECT_EQ(ls.rc, 0);
  EXPECT_EQ(lines(ls.out), 3);
  EXPECT_EQ(lines(lamin_cli("ls --key-prefix exp/m1", dir, env).out), 2);
  auto best = lamin_cli("ls --filter 'val_loss<0.05' --filter is_best_model=true", dir, env);
  EXPECT_EQ(lines(best.out), 2);
  EXPECT_NE(best.out.find(uid0), std::string::npos);
  EXPECT_NE(best.out.find("0.03"), std::string::npos);  // filtered features are shown as columns
  const auto js = nlohmann::json::parse(lamin_cli("ls --json --features val_loss", dir, env).out);
  ASSERT_EQ(js.size(), 2u);
  EXPECT_EQ(js[1]["val_loss"], 0.07);
  auto described = lamin_cli("describe exp/m0.ckpt", dir, env);
  EXPECT_EQ(described.rc, 0);
  EXPECT_EQ(described.out.rfind("Artifact: exp/m0.ckpt (0000)\n|   description: model checkpoint\n", 0), 0u);
  EXPECT_NE(described.out.find("val_loss            float                    0.03"), std::string::npos);
  EXPECT_EQ(lamin_cli("lineage " + uid0 + " --format mermaid", dir, env).out.rfind("flowchart LR", 0), 0u);
  EXPECT_EQ(lamin_cli("lineage " + uid0, dir, env).out.rfind("digraph lineage", 0), 0u);
  if (::system("command -v dot >/dev/null 2>&1") == 0) {
    const auto svg = lamin_cli("lineage " + uid0 + " --format svg", dir, env);
    EXPECT_EQ(svg.rc, 0);
    EXPECT_EQ(svg.out.rfind("<?xml", 0), 0u);
    EXPECT_NE(svg.out.find("<title>a_" + uid0 + "</title>"), std::string::npos);
  }
  ASSERT_EQ(lamin_cli("get exp/m0.ckpt --to copy.ckpt", dir, env).rc, 0);
  EXPECT_EQ(test::read_file(dir / "copy.ckpt"), "model zero");
  auto hash = lamin_cli("hash m0.ckpt", dir);
  EXPECT_EQ(hash.out, hash_string("model zero") + " md5 10\n");
  EXPECT_NE(lamin_cli("features", dir, env).out.find("val_loss"), std::string::npos);
  EXPECT_EQ(lamin_cli("runs", dir, env).rc, 0);
  EXPECT_EQ(lamin_cli("delete exp/m1.ckpt", dir, env).rc, 0);
  EXPECT_EQ(lines(lamin_cli("ls", dir, env).out), 2);
}

TEST(Cli, ErrorsAreOneLineWithNonZeroExit) {
  TempDir dir;
  ASSERT_EQ(lamin_cli("init inst", dir).rc, 0);
  write_file(dir / "m.ckpt", "m");
  const std::string env = "LAMIN_INSTANCE=inst";
  for (const std::string& args : {std::string("save m.ckpt --key ../m.ckpt"), std::string("save m.ckpt --key m.pt"),
                                  std::string("save missing.ckpt --key m.ckpt"), std::string("describe nope"),
                                  std::string("ls --filter 'nope<1'"), std::string("ls --filter nonsense"),
                                  std::string("lineage nope --format png"), std::string("frobnicate"),
                                  std::string("save m.ckpt")}) {
    SCOPED_TRACE(args);
    auto r = lamin_cli(args, dir, env);
    EXPECT_NE(r.rc, 0);
    EXPECT_EQ(lines(r.err), 1) << r.err;
    EXPECT_EQ(r.err.rfind("lamin: error: ", 0), 0u) << r.err;
  }
  auto no_instance = lamin_cli("ls", dir);
  EXPECT_EQ(no_instance.rc, 1);
  EXPECT_NE(no_instance.err.find("--instance"), std::string::npos);
  auto not_instance = lamin_cli("ls --instance .", dir);
  EXPECT_EQ(not_instance.rc, 1);
  EXPECT_NE(not_instance.err.find("is not a LaminDB instance"), std::string::npos);
  EXPECT_EQ(lines(lamin_cli("ls", dir, env).out), 1);  // nothing was written
}

TEST(Cli, HelpEverywhere) {
  TempDir dir;
  for (const std::string cmd : {"", "init", "save", "delete", "ls", "describe", "lineage", "get", "runs", "features",
                                "hash", "recover"}) {
    SCOPED_TRACE(cmd);
    auto r = lamin_cli(cmd + " --help", dir);
    EXPECT_EQ(r.rc, 0);
    EXPECT_EQ(r.out.rfind("usage: lamin", 0), 0u);
    if (!cmd.empty()) {
      EXPECT_NE(r.out.find("lamin " + cmd), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace lamin
