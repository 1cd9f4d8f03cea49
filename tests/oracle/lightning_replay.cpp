// lightning_replay: replays Lightning's recorded checkpointing behaviour against lamin::pl.
//
//   lightning_replay CASES.json EXPECTED.json [--case NAME] [--keep]
//
// CASES.json holds `defaults` and `cases` (spec section 7); EXPECTED.json what real Lightning did for each case. For
// every case the runner builds a fresh root folder, creates the pre-existing files, and for each run constructs a
// tracing ModelCheckpoint, a scripted LightningModule that logs the case's metric sequences, and a real Trainer; it
// records every save / remove / link with its hook, epoch, step and monitor value, a snapshot of the callback after
// each train epoch end and after fit, errors, warnings and logger files, and compares them with the expectation.
// Mismatches print the case, the field, the expected and the actual value. The last line is `N passed, M failed`.
//
// The runner knows the case format, never the cases: no case names and no expected values live here.

#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/files.hpp"
#include "lamin/log.hpp"
#include "oracle/replay.hpp"
#include "oracle/scripted.hpp"

namespace replay {
namespace {

// ---- one run of a case ---------------------------------------------------------------------------------------------

/// What one run did, in the oracle's terms.
struct RunResult {
  Recorder rec;
  json outcome{{"status", "ok"}};
  std::string error_kind;
  std::shared_ptr<TracingCheckpoint> callback;
  json ckpt_path = nullptr;
  json trainer;
  json construct;

  void error(const char* phase, const Paths& paths, const std::exception& e) {
    outcome = {{"status", "error"}, {"phase", phase}, {"message", paths.text(e.what())}};
    error_kind = kind_of(e);
  }
};

json optional_json(const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); }

json construct_block(const TracingCheckpoint& callback, const Paths& paths) {
  const auto& o = callback.options();
  json c = {{"state_key", callback.state_key()},
            {"monitor", optional_json(o.monitor())},
            {"mode", o.mode()},
            {"kth_value", number(callback.kth_value())},
            {"save_top_k", o.save_top_k()},
            {"every_n_epochs", callback.every_n_epochs()},
            {"every_n_train_steps", callback.every_n_train_steps()},
            {"train_time_interval_s", o.train_time_interval() ? json(o.train_time_interval()->count()) : json(nullptr)},
            {"save_on_train_epoch_end",
             o.save_on_train_epoch_end() ? json(*o.save_on_train_epoch_end()) : json(nullptr)},
            {"dirpath", callback.dirpath() ? json(paths.rel(*callback.dirpath())) : json(nullptr)},
            {"filename", optional_json(o.filename())}};
  switch (o.save_last()) {
    case pl::SaveLast::none: c["save_last"] = nullptr; break;
    case pl::SaveLast::off: c["save_last"] = false; break;
    case pl::SaveLast::on: c["save_last"] = true; break;
    case pl::SaveLast::link: c["save_last"] = "link"; break;
  }
  return c;
}

json trainer_block(const pl::Trainer& trainer, const TracingCheckpoint& callback, const Paths& paths) {
  return {{"current_epoch", trainer.current_epoch()},
          {"global_step", trainer.global_step()},
          {"log_dir", paths.rel(trainer.log_dir())},
          {"callback_dirpath", callback.dirpath() ? json(paths.rel(*callback.dirpath())) : json(nullptr)},
          {"state_key", callback.state_key()},
          {"num_training_batches", trainer.num_training_batches()},
          {"num_val_batches", trainer.num_val_batches()},
          {"val_check_batch", trainer.val_check_batch()}};
}

/// Fits the scripted module with `r.callback` as the case's run `cfg` says; `previous` is the last run's callback
/// (for `ckpt_path: "last"` / `"best"`).
void fit(RunResult& r, const json& cfg, const Paths& paths, const std::shared_ptr<TracingCheckpoint>& previous,
         std::vector<std::string>& unknown) {
  auto module = std::make_shared<ScriptedModule>(cfg);
  pl::TrainerOptions topts = trainer_options(cfg.at("trainer"), paths, unknown);
  const json& logger = cfg.value("logger", json(nullptr));
  if (logger.is_null() || (logger.is_boolean() && !logger.get<bool>())) {
    topts.logger(false);
  } else if (logger.is_boolean()) {
    topts.logger(true);
  } else if (auto l = make_logger(logger, paths, unknown)) {
    topts.logger(l);
  }
  topts.callbacks({r.callback});
  const std::int64_t n_train = cfg.value("batches_per_epoch", 4);
  const std::int64_t n_val = cfg.value("val_batches", 2);
  pl::DataLoader train = pl::DataLoader::from_tensors(torch::ones({n_train, 1}), torch::zeros({n_train, 1}), 1);
  pl::DataLoader val;
  if (cfg.value("has_val", true)) val = pl::DataLoader::from_tensors(torch::ones({n_val, 1}), torch::zeros({n_val, 1}), 1);

  std::optional<std::string> ckpt_path;
  if (cfg.contains("ckpt_path") && cfg.at("ckpt_path").is_string()) {
    const std::string c = cfg.at("ckpt_path").get<std::string>();
    if (c == "last") ckpt_path = previous ? previous->last_model_path() : std::string();
    else if (c == "best") ckpt_path = previous ? previous->best_model_path() : std::string();
    else ckpt_path = resolve_path(paths, c);
    r.ckpt_path = paths.rel(*ckpt_path);
  }
  std::unique_ptr<pl::Trainer> trainer;
  try {
    trainer = std::make_unique<pl::Trainer>(topts);
    trainer->fit(*module, train, val, ckpt_path);
  } catch (const std::exception& e) {
    r.error("fit", paths, e);
  }
  if (trainer) {
    r.callback->snapshot(*trainer, "after_fit");
    r.trainer = trainer_block(*trainer, *r.callback, paths);
  }
}

/// Compares what run `field` did with what Lightning did (`exp`).
void compare_run(Report& report, const std::string& field, const json& exp, const RunResult& r, const Paths& paths,
                 const lamin::log::WarningCapture& warnings) {
  const json& eo = exp.value("outcome", json::object());
  compare(report, field + ".outcome.status", eo.value("status", "ok"), r.outcome.at("status"));
  if (eo.value("status", "ok") == "error" && r.outcome.at("status") == "error") {
    compare(report, field + ".outcome.phase", eo.value("phase", json(nullptr)), r.outcome.value("phase", json(nullptr)));
    compare(report, field + ".outcome.message", eo.value("message", ""), r.outcome.at("message"));
    if (!exception_matches(eo.value("type", ""), r.error_kind)) {
      report.mismatch(field + ".outcome.type", eo.value("type", ""), r.error_kind);
    }
  } else if (r.outcome.at("status") == "error") {
    report.problem(field + ".outcome",
                   "unexpected error (" + r.error_kind + "): " + r.outcome.at("message").get<std::string>());
  }
  if (exp.contains("construct") && !r.construct.is_null()) compare(report, field + ".construct", exp.at("construct"), r.construct);
  if (exp.contains("ckpt_path") && !exp.at("ckpt_path").is_null()) {
    compare(report, field + ".ckpt_path", exp.at("ckpt_path"), r.ckpt_path);
  }
  if (exp.contains("trainer") && !r.trainer.is_null()) {
    json et = exp.at("trainer");
    if (et.contains("num_val_batches") && et.at("num_val_batches").is_array()) {
      std::int64_t sum = 0;
      for (const auto& n : et.at("num_val_batches")) sum += n.get<std::int64_t>();
      et["num_val_batches"] = sum;
    }
    compare(report, field + ".trainer", et, r.trainer);
  }
  compare(report, field + ".events", exp.value("events", json::array()), r.rec.events);
  compare(report, field + ".snapshots", exp.value("snapshots", json::array()), r.rec.snapshots);

  // warnings: Lightning's list, against what lamin-cpp warned (other trainer warnings are not recorded there)
  const json expected_warnings = exp.value("warnings", json::array());
  json actual_warnings = json::array();
  for (const auto& m : warnings.messages()) {
    const std::string text = paths.text(m);
    bool listed = false;
    for (const auto& w : expected_warnings) listed = listed || w.get<std::string>() == text;
    if (listed || is_checkpoint_warning(text)) actual_warnings.push_back(text);
  }
  compare(report, field + ".warnings", expected_warnings, actual_warnings);
  compare(report, field + ".logger_files", exp.value("logger_files", json::object()), logger_files(paths));
}

// ---- one case -----------------------------------------------------------------------------------------------------

bool run_case(const json& defaults, const json& case_def, const json& expected, const fs::path& base, bool keep,
              Report& report) {
  const json resolved = merge_case(defaults, case_def);
  const std::string name = resolved.value("name", "?");
  const fs::path root_path = base / name;
  fs::create_directories(root_path);
  Paths paths{fs::canonical(root_path).string()};
  struct RestoreCwd {
    fs::path cwd = fs::current_path();
    ~RestoreCwd() {
      std::error_code ec;
      fs::current_path(cwd, ec);
    }
  } restore_cwd;
  fs::current_path(paths.root);
  lamin::log::reset_warn_once();

  make_pre_existing(paths, resolved.value("pre_existing", json::array()));
  if (expected.contains("initial_listing")) compare(report, "initial_listing", expected.at("initial_listing"), listing(paths));

  const json runs = resolved.value("runs", json::array({json::object()}));
  const json& expected_runs = expected.at("runs");
  if (expected_runs.size() != runs.size()) report.mismatch("runs.length", expected_runs.size(), runs.size());
  const bool construct_only = resolved.value("construct_only", false);
  bool any_error = false;
  std::shared_ptr<TracingCheckpoint> previous;
  for (std::size_t run_index = 0; run_index < runs.size(); ++run_index) {
    const json cfg = merge_case(resolved, runs[run_index]);
    const std::string field = "runs[" + std::to_string(run_index) + "]";
    const json exp = run_index < expected_runs.size() ? expected_runs[run_index] : json::object();
    std::vector<std::string> unknown;
    RunResult r;
    r.rec.paths = &paths;
    r.rec.run = static_cast<int>(run_index);
    lamin::log::WarningCapture warnings;
    try {
      r.callback = std::make_shared<TracingCheckpoint>(checkpoint_options(cfg.at("ckpt"), paths, unknown), r.rec);
      apply_class_attrs(*r.callback, cfg.value("class_attrs", json::object()), unknown);
    } catch (const std::exception& e) {
      r.error("init", paths, e);
    }
    if (r.callback) {
      r.construct = construct_block(*r.callback, paths);
      if (construct_only) r.outcome["phase"] = "init";
      else fit(r, cfg, paths, previous, unknown);
    }
    if (r.outcome.at("status") == "error") any_error = true;
    for (const auto& u : unknown) report.problem(field, "unsupported case key " + u);
    compare_run(report, field, exp, r, paths, warnings);
    if (r.callback) previous = r.callback;
  }

  if (expected.contains("final_listing")) compare(report, "final_listing", expected.at("final_listing"), listing(paths));
  if (expected.contains("status")) compare(report, "status", expected.at("status"), any_error ? "error" : "ok");
  if (!keep) {
    std::error_code ec;
    fs::remove_all(root_path, ec);
  }
  return report.lines.empty();
}

json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  return json::parse(in);
}


}  // namespace
}  // namespace replay

using replay::json;
using replay::Report;
namespace fs = std::filesystem;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: lightning_replay CASES.json EXPECTED.json [--case NAME] [--keep]\n";
    return 2;
  }
  std::optional<std::string> only;
  bool keep = false;
  for (int a = 3; a < argc; ++a) {
    const std::string arg = argv[a];
    if (arg == "--case" && a + 1 < argc) only = argv[++a];
    else if (arg == "--keep") keep = true;
    else {
      std::cerr << "unknown argument " << arg << "\n";
      return 2;
    }
  }
  json cases, expected;
  try {
    cases = replay::read_json(argv[1]);
    expected = replay::read_json(argv[2]);
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  std::map<std::string, json> expected_by_name;
  for (const auto& c : expected.at("cases")) expected_by_name[c.at("name").get<std::string>()] = c;
  const json defaults = cases.value("defaults", json::object());

  lamin::log::set_level(lamin::log::Level::warn);
  torch::set_num_threads(1);
  std::optional<lamin::test::TempDir> folder;
  try {
    folder.emplace("replay");
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  const fs::path base = folder->path();

  int passed = 0, failed = 0;
  for (const auto& c : cases.at("cases")) {
    const std::string name = c.value("name", "?");
    if (only && *only != name) continue;
    Report report{name, {}};
    auto it = expected_by_name.find(name);
    bool ok = false;
    if (it == expected_by_name.end()) {
      report.problem("expected", "no expected result for this case");
    } else {
      torch::manual_seed(0);
      try {
        ok = replay::run_case(defaults, c, it->second, base, keep, report);
      } catch (const std::exception& e) {
        report.problem("runner", std::string("replay failed: ") + e.what());
      }
    }
    if (ok) {
      ++passed;
    } else {
      ++failed;
      const std::size_t shown = std::min<std::size_t>(report.lines.size(), 25);
      for (std::size_t i = 0; i < shown; ++i) std::cout << report.lines[i] << "\n";
      if (report.lines.size() > shown) std::cout << "case " << name << ": ... " << report.lines.size() - shown << " more\n";
    }
  }
  if (keep) {
    folder->keep();
    std::cout << "case folders kept under " << base.string() << "\n";
  }
  std::cout << passed << " passed, " << failed << " failed\n";
  return failed == 0 ? 0 : 1;
}
