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
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/files.hpp"
#include "lamin/error.hpp"
#include "lamin/log.hpp"
#include "lamin/pl/checkpoint_io.hpp"
#include "lamin/pl/csv_logger.hpp"
#include "lamin/pl/model_checkpoint.hpp"
#include "lamin/pl/module.hpp"
#include "lamin/pl/tensorboard_logger.hpp"
#include "lamin/pl/trainer.hpp"

namespace fs = std::filesystem;
namespace pl = lamin::pl;
using json = nlohmann::json;

namespace {

// ---- paths and values as the oracle records them --------------------------------------------------------------------

struct Paths {
  std::string root;  // canonical case root

  // A path as the oracle writes it: relative to the root ("." for the root itself), lexically normalised.
  std::string rel(const std::string& path) const {
    if (path.empty()) return path;
    std::string p = fs::path(path).lexically_normal().string();
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    if (p == root) return ".";
    if (p.rfind(root + "/", 0) == 0) return p.substr(root.size() + 1);
    if (p.rfind("./", 0) == 0) p = p.substr(2);
    return p;
  }
  // Message text with the root replaced by "<root>".
  std::string text(std::string message) const {
    std::size_t pos = 0;
    while ((pos = message.find(root, pos)) != std::string::npos) {
      message.replace(pos, root.size(), "<root>");
      pos += 6;
    }
    return message;
  }
};

// A score or metric value: ints as ints, non-finite floats as the strings "nan", "inf", "-inf".
json number(double value, bool integral = false) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (integral) return static_cast<std::int64_t>(value);
  return value;
}

json number_from_ivalue(const c10::IValue& v) {
  if (v.isNone()) return nullptr;
  if (v.isInt()) return v.toInt();
  if (v.isDouble()) return number(v.toDouble());
  if (v.isTensor()) {
    const auto& t = v.toTensor();
    if (at::isIntegralType(t.scalar_type(), false)) return t.item<std::int64_t>();
    return number(t.item<double>());
  }
  return pl::ivalue_to_json(v);
}

double value_of(const json& v) {
  if (v.is_string()) {
    const auto s = v.get<std::string>();
    if (s == "nan") return std::nan("");
    if (s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-inf") return -std::numeric_limits<double>::infinity();
    throw std::runtime_error("not a number: " + s);
  }
  return v.get<double>();
}

// Values of a scripted metric: list[index], the last one past the end.
double pick(const json& list, std::int64_t index) {
  if (!list.is_array() || list.empty()) throw std::runtime_error("metric values must be a non-empty list");
  const auto i = std::min<std::int64_t>(index, static_cast<std::int64_t>(list.size()) - 1);
  return value_of(list.at(static_cast<std::size_t>(i)));
}

// ---- comparison -------------------------------------------------------------------------------------------------

struct Report {
  std::string case_name;
  std::vector<std::string> lines;
  static std::string shorten(std::string text) {
    const auto newline = text.find('\n');
    if (newline != std::string::npos) text = text.substr(0, newline) + " ...";
    if (text.size() > 600) text = text.substr(0, 600) + " ...";
    return text;
  }
  void mismatch(const std::string& field, const json& expected, const json& actual) {
    lines.push_back("case " + case_name + ": " + field + ": expected " + shorten(expected.dump()) + " actual " +
                    shorten(actual.dump()));
  }
  void problem(const std::string& field, const std::string& what) {
    lines.push_back("case " + case_name + ": " + field + ": " + shorten(what));
  }
};

bool same(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (!same(a[i], b[i])) return false;
    return true;
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(); it != a.end(); ++it)
      if (!b.contains(it.key()) || !same(it.value(), b.at(it.key()))) return false;
    return true;
  }
  return a == b;
}

// Compares every key of `expected` (an object) with `actual`, recursing into objects and lists of objects.
void compare(Report& r, const std::string& field, const json& expected, const json& actual) {
  if (expected.is_object() && actual.is_object()) {
    for (auto it = expected.begin(); it != expected.end(); ++it) {
      const json a = actual.contains(it.key()) ? actual.at(it.key()) : json("<missing>");
      compare(r, field + "." + it.key(), it.value(), a);
    }
    for (auto it = actual.begin(); it != actual.end(); ++it)
      if (!expected.contains(it.key())) r.mismatch(field + "." + it.key(), "<absent>", it.value());
    return;
  }
  if (expected.is_array() && actual.is_array() && !expected.empty() && expected[0].is_object()) {
    const std::size_t n = std::min(expected.size(), actual.size());
    for (std::size_t i = 0; i < n; ++i) compare(r, field + "[" + std::to_string(i) + "]", expected[i], actual[i]);
    if (expected.size() != actual.size()) {
      json extra = json::array();
      for (std::size_t i = n; i < std::max(expected.size(), actual.size()); ++i)
        extra.push_back(i < actual.size() ? actual[i] : expected[i]);
      r.mismatch(field + ".length", expected.size(), actual.size());
      r.problem(field, (expected.size() > actual.size() ? "missing " : "unexpected ") + extra.dump());
    }
    return;
  }
  if (!same(expected, actual)) r.mismatch(field, expected, actual);
}

// Python exception type → the lamin::Error kinds (or "runtime_error" for std::runtime_error) that stand for it.
bool exception_matches(const std::string& python_type, const std::string& kind) {
  static const std::map<std::string, std::set<std::string>> kTable = {
      {"MisconfigurationException", {"configuration"}},
      {"ValueError", {"configuration", "validation"}},
      {"TypeError", {"configuration", "validation"}},
      {"KeyError", {"not_found", "configuration"}},
      {"FileNotFoundError", {"not_found"}},
      {"OSError", {"storage"}},
      {"PermissionError", {"storage"}},
      {"RuntimeError", {"runtime_error"}},
  };
  auto it = kTable.find(python_type);
  return it != kTable.end() && it->second.count(kind) > 0;
}

std::string kind_of(const std::exception& e) {
  if (auto* le = dynamic_cast<const lamin::Error*>(&e)) return le->kind();
  if (dynamic_cast<const std::runtime_error*>(&e)) return "runtime_error";
  return "exception";
}

// Warnings lamin-cpp's ModelCheckpoint emits; a run must not emit any that Lightning did not.
bool is_checkpoint_warning(const std::string& message) {
  return message.rfind("Checkpoint directory ", 0) == 0 || message.rfind("`ModelCheckpoint(", 0) == 0 ||
         message.rfind("The dirpath has changed", 0) == 0;
}

// ---- the folder listing of section 7 ------------------------------------------------------------------------------

json listing(const Paths& paths) {
  std::vector<std::string> files, dirs;
  json links = json::object();
  std::error_code ec;
  for (fs::recursive_directory_iterator it(paths.root, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    std::string rel = paths.rel(p.string());
    const auto link_status = it->symlink_status(ec);
    if (fs::is_symlink(link_status)) {
      links[rel] = fs::read_symlink(p, ec).string();
      if (fs::is_directory(fs::status(p, ec))) {
        dirs.push_back(rel);
        it.disable_recursion_pending();
      } else {
        files.push_back(rel);
      }
    } else if (fs::is_directory(link_status)) {
      dirs.push_back(rel);
    } else {
      const std::string name = p.filename().string();
      if (name.rfind("events.out.tfevents.", 0) == 0) {
        rel = paths.rel((p.parent_path() / "events.out.tfevents.<normalized>").string());
      }
      files.push_back(rel);
    }
  }
  std::sort(files.begin(), files.end());
  std::sort(dirs.begin(), dirs.end());
  return json{{"files", files}, {"links", links}, {"dirs", dirs}};
}

// ---- the scripted module ------------------------------------------------------------------------------------------

struct ScriptedModule : pl::LightningModule {
  torch::nn::Linear layer{nullptr};
  const json& cfg;
  std::int64_t validation_runs = 0;

  // The oracle module's constructor arguments, saved as hyperparameters when the case asks for it.
  explicit ScriptedModule(const json& config, double lr = 0.05, std::int64_t width = 2) : cfg(config) {
    layer = register_module("layer", torch::nn::Linear(1, 1));
    const json& hp = cfg.at("save_hparams");
    if (hp.is_object()) {
      save_hyperparameters(hp);
    } else if (hp.is_boolean() && hp.get<bool>()) {
      save_hyperparameters(json{{"lr", lr}, {"width", width}});
    }
  }

  void maybe_raise(const std::string& hook, std::int64_t batch_idx = -1) {
    const json& at = cfg.at("raise_at");
    if (!at.is_object() || at.value("hook", "") != hook) return;
    const pl::Trainer& t = trainer();
    if (at.contains("epoch") && at.at("epoch").get<std::int64_t>() != t.current_epoch()) return;
    if (at.contains("batch") && at.at("batch").get<std::int64_t>() != batch_idx) return;
    if (at.contains("global_step") && at.at("global_step").get<std::int64_t>() != t.global_step()) return;
    throw std::runtime_error("oracle planned failure in " + hook);
  }

  torch::Tensor training_step(const pl::Batch& batch, std::int64_t batch_idx) override {
    maybe_raise("training_step", batch_idx);
    const std::int64_t epoch = trainer().current_epoch();
    for (auto it = cfg.at("train_metrics").begin(); it != cfg.at("train_metrics").end(); ++it) {
      const json& m = it.value();
      const json& values = m.at("values");
      if (!values.is_array()) throw std::runtime_error("train_metrics values must be resolved lists");
      const json& row = values.at(static_cast<std::size_t>(std::min<std::int64_t>(epoch, values.size() - 1)));
      log(it.key(), pick(row, batch_idx),
          pl::LogOptions().on_step(m.value("on_step", true)).on_epoch(m.value("on_epoch", false)));
    }
    return torch::mse_loss(layer->forward(batch.data), batch.target);
  }
  void validation_step(const pl::Batch&, std::int64_t batch_idx) override { maybe_raise("validation_step", batch_idx); }
  pl::OptimizerConfig configure_optimizers() override {
    return std::shared_ptr<torch::optim::Optimizer>(
        std::make_shared<torch::optim::SGD>(parameters(), torch::optim::SGDOptions(0.1)));
  }

  void on_validation_epoch_end() override {
    maybe_raise("on_validation_epoch_end");
    if (trainer().sanity_checking()) return;
    const std::int64_t index = cfg.value("val_index", "epoch") == "run" ? validation_runs++ : trainer().current_epoch();
    for (auto it = cfg.at("val_metrics").begin(); it != cfg.at("val_metrics").end(); ++it) {
      log(it.key(), pick(it.value(), index));
    }
  }
  void on_train_epoch_end() override {
    maybe_raise("on_train_epoch_end");
    for (auto it = cfg.at("epoch_end_metrics").begin(); it != cfg.at("epoch_end_metrics").end(); ++it) {
      log(it.key(), pick(it.value(), trainer().current_epoch()));
    }
  }

  void setup(const std::string&) override { maybe_raise("setup"); }
  void on_fit_start() override { maybe_raise("on_fit_start"); }
  void on_fit_end() override { maybe_raise("on_fit_end"); }
  void on_train_start() override { maybe_raise("on_train_start"); }
  void on_train_end() override { maybe_raise("on_train_end"); }
  void on_train_epoch_start() override { maybe_raise("on_train_epoch_start"); }
  int on_train_batch_start(const pl::Batch&, std::int64_t batch_idx) override {
    maybe_raise("on_train_batch_start", batch_idx);
    return 0;
  }
  void on_train_batch_end(const at::Tensor&, const pl::Batch&, std::int64_t batch_idx) override {
    maybe_raise("on_train_batch_end", batch_idx);
  }
  void on_validation_start() override { maybe_raise("on_validation_start"); }
  void on_validation_end() override { maybe_raise("on_validation_end"); }
  void on_validation_epoch_start() override { maybe_raise("on_validation_epoch_start"); }
  void on_validation_batch_start(const pl::Batch&, std::int64_t batch_idx) override {
    maybe_raise("on_validation_batch_start", batch_idx);
  }
  void on_validation_batch_end(const pl::Batch&, std::int64_t batch_idx) override {
    maybe_raise("on_validation_batch_end", batch_idx);
  }
  void on_validation_model_eval() override {
    maybe_raise("on_validation_model_eval");
    LightningModule::on_validation_model_eval();
  }
  void on_validation_model_train() override {
    maybe_raise("on_validation_model_train");
    LightningModule::on_validation_model_train();
  }
  void on_before_backward(const at::Tensor&) override { maybe_raise("on_before_backward"); }
  void on_after_backward() override { maybe_raise("on_after_backward"); }
  void on_before_optimizer_step(torch::optim::Optimizer&) override { maybe_raise("on_before_optimizer_step"); }
  void on_before_zero_grad(torch::optim::Optimizer&) override { maybe_raise("on_before_zero_grad"); }
};

// ---- the tracing callback -----------------------------------------------------------------------------------------

struct Recorder {
  const Paths* paths = nullptr;
  int run = 0;
  json events = json::array();
  json snapshots = json::array();
};

class TracingCheckpoint : public pl::ModelCheckpoint {
 public:
  TracingCheckpoint(pl::ModelCheckpointOptions options, Recorder& recorder)
      : ModelCheckpoint(std::move(options)), rec_(recorder) {}

  void on_train_batch_end(pl::Trainer& t, pl::LightningModule& m, const pl::StepOutput& o, const pl::Batch& b,
                          std::int64_t i) override {
    Hook h(this, "on_train_batch_end");
    ModelCheckpoint::on_train_batch_end(t, m, o, b, i);
  }
  void on_train_epoch_end(pl::Trainer& t, pl::LightningModule& m) override {
    // The snapshot is taken even when the hook throws (e.g. a missing monitor after validation ran).
    try {
      Hook h(this, "on_train_epoch_end");
      ModelCheckpoint::on_train_epoch_end(t, m);
    } catch (...) {
      snapshot(t, "after_on_train_epoch_end");
      throw;
    }
    snapshot(t, "after_on_train_epoch_end");
  }
  void on_validation_end(pl::Trainer& t, pl::LightningModule& m) override {
    Hook h(this, "on_validation_end");
    ModelCheckpoint::on_validation_end(t, m);
  }
  void on_train_end(pl::Trainer& t, pl::LightningModule& m) override {
    Hook h(this, "on_train_end");
    ModelCheckpoint::on_train_end(t, m);
  }
  void on_exception(pl::Trainer& t, pl::LightningModule& m, const std::exception& e) override {
    Hook h(this, "on_exception");
    ModelCheckpoint::on_exception(t, m, e);
  }

  pl::MetricMap _monitor_candidates(const pl::Trainer& trainer) const override {
    pl::MetricMap candidates = ModelCheckpoint::_monitor_candidates(trainer);
    last_candidates_ = candidates;
    return candidates;
  }

  void _save_checkpoint(pl::Trainer& trainer, const std::string& filepath) override {
    ModelCheckpoint::_save_checkpoint(trainer, filepath);
    json event = base_event(trainer, "save", filepath);
    event["ckpt"] = summarize(filepath);
    rec_.events.push_back(std::move(event));
  }
  void _remove_checkpoint(pl::Trainer& trainer, const std::string& filepath) override {
    std::error_code ec;
    const bool existed = fs::exists(filepath, ec);
    ModelCheckpoint::_remove_checkpoint(trainer, filepath);
    json event = base_event(trainer, "remove", filepath);
    event["existed_before"] = existed;
    event["exists_after"] = fs::exists(filepath, ec);
    rec_.events.push_back(std::move(event));
  }
  void _link_checkpoint(pl::Trainer& trainer, const std::string& filepath, const std::string& linkpath) override {
    ModelCheckpoint::_link_checkpoint(trainer, filepath, linkpath);
    json event = base_event(trainer, "link", linkpath);
    std::error_code ec;
    const bool is_link = fs::is_symlink(fs::symlink_status(linkpath, ec));
    event["target"] = rec_.paths->rel(filepath);
    event["is_symlink"] = is_link;
    event["readlink"] = is_link ? json(fs::read_symlink(linkpath, ec).string()) : json(nullptr);
    rec_.events.push_back(std::move(event));
  }

  json state_json(const pl::Trainer& trainer) const {
    const Paths& p = *rec_.paths;
    json best_k = json::array();
    const bool integral = integral_scores(trainer);
    for (const auto& [path, score] : best_k_models()) best_k.push_back(json::array({p.rel(path), number(score, integral)}));
    return json{{"best_model_path", p.rel(best_model_path())},
                {"best_model_score", best_model_score() ? number(*best_model_score(), integral) : json(nullptr)},
                {"kth_best_model_path", p.rel(kth_best_model_path())},
                {"kth_value", number(kth_value(), integral)},
                {"last_model_path", p.rel(last_model_path())},
                {"best_k_models", best_k},
                {"current_score", current_score() ? number(*current_score(), integral) : json(nullptr)}};
  }

  void snapshot(const pl::Trainer& trainer, const std::string& tag) {
    json s = state_json(trainer);
    s["run"] = rec_.run;
    s["tag"] = tag;
    s["epoch"] = trainer.current_epoch();
    s["global_step"] = trainer.global_step();
    json metrics = json::object();
    for (const auto& [name, value] : trainer.callback_metrics()) metrics[name] = number(value.value, value.integral);
    s["callback_metrics"] = metrics;
    s["last_global_step_saved"] = last_global_step_saved();
    s["dirpath"] = dirpath() ? json(rec_.paths->rel(*dirpath())) : json(nullptr);
    s["save_on_train_epoch_end_resolved"] = should_save_on_train_epoch_end(trainer);
    const json l = listing(*rec_.paths);
    s["files"] = l.at("files");
    s["links"] = l.at("links");
    s["dirs"] = l.at("dirs");
    rec_.snapshots.push_back(std::move(s));
  }

 private:
  struct Hook {
    Hook(TracingCheckpoint* self, const char* name) : self_(self), previous_(self->hook_) { self->hook_ = name; }
    ~Hook() { self_->hook_ = previous_; }
    TracingCheckpoint* self_;
    std::string previous_;
  };

  // Scores of `epoch`/`step` monitors are integers (as in the checkpoint state).
  bool integral_scores(const pl::Trainer&) const {
    const json state = state_dict();
    for (const char* key : {"best_model_score", "current_score"})
      if (state.at(key).is_number_integer()) return true;
    return false;
  }

  json base_event(const pl::Trainer& trainer, const std::string& op, const std::string& path) const {
    json event{{"run", rec_.run},
               {"op", op},
               {"hook", hook_},
               {"epoch", trainer.current_epoch()},
               {"global_step", trainer.global_step()},
               {"path", rec_.paths->rel(path)}};
    if (monitor()) {
      const pl::Scalar* v = last_candidates_.find(*monitor());
      event["monitor_value"] = v ? number(v->value, v->integral) : json(nullptr);
    }
    return event;
  }

  json summarize(const std::string& filepath) const {
    const Paths& p = *rec_.paths;
    const pl::CheckpointDict ckpt = pl::load_checkpoint_file(filepath);
    std::vector<std::string> keys;
    for (const auto& e : ckpt) keys.push_back(e.key().toStringRef());
    std::sort(keys.begin(), keys.end());
    auto has = [&](const char* k) { return ckpt.contains(k); };
    json s{{"keys", keys}};
    if (has("epoch")) s["epoch"] = number_from_ivalue(ckpt.at("epoch"));
    if (has("global_step")) s["global_step"] = number_from_ivalue(ckpt.at("global_step"));
    if (has("pytorch-lightning_version")) s["pytorch-lightning_version"] = ckpt.at("pytorch-lightning_version").toStringRef();
    if (has("state_dict")) {
      std::vector<std::string> names;
      for (const auto& e : ckpt.at("state_dict").toGenericDict()) names.push_back(e.key().toStringRef());
      std::sort(names.begin(), names.end());
      s["state_dict_keys"] = names;
    }
    if (has("callbacks")) {
      std::vector<std::string> names;
      const auto callbacks = ckpt.at("callbacks").toGenericDict();
      for (const auto& e : callbacks) names.push_back(e.key().toStringRef());
      s["callbacks_keys"] = names;
      auto it = callbacks.find(state_key());
      if (it != callbacks.end()) {
        json cb = json::object();
        for (const auto& e : it->value().toGenericDict()) {
          const std::string k = e.key().toStringRef();
          const c10::IValue& v = e.value();
          if (k == "best_k_models") {
            json list = json::array();
            for (const auto& m : v.toGenericDict())
              list.push_back(json::array({p.rel(m.key().toStringRef()), number_from_ivalue(m.value())}));
            cb[k] = list;
          } else if (k == "best_model_path" || k == "kth_best_model_path" || k == "last_model_path" ||
                     k == "dirpath") {
            cb[k] = v.isString() ? json(p.rel(v.toStringRef())) : json(nullptr);
          } else if (v.isString() || v.isNone()) {
            cb[k] = pl::ivalue_to_json(v);
          } else {
            cb[k] = number_from_ivalue(v);
          }
        }
        s["cb_state"] = cb;
      }
    }
    if (has("optimizer_states")) s["n_optimizer_states"] = ckpt.at("optimizer_states").toList().size();
    if (has("lr_schedulers")) s["n_lr_schedulers"] = ckpt.at("lr_schedulers").toList().size();
    if (has("hyper_parameters")) s["hyper_parameters"] = pl::ivalue_to_json(ckpt.at("hyper_parameters"));
    if (has("hparams_name")) s["hparams_name"] = ckpt.at("hparams_name").toStringRef();
    if (has("loops")) {
      const json loops = pl::ivalue_to_json(ckpt.at("loops"));
      std::vector<std::string> names;
      for (auto it = loops.begin(); it != loops.end(); ++it) names.push_back(it.key());
      s["loops_keys"] = names;
      const json fit = loops.value("fit_loop", json::object());
      auto progress = [](const json& src) {
        json out = json::object();
        for (const char* part : {"total", "current"}) {
          json counts = json::object();
          for (const char* c : {"ready", "completed", "started", "processed"})
            counts[c] = src.contains(part) && src.at(part).contains(c) ? src.at(part).at(c) : json(nullptr);
          out[part] = counts;
        }
        return out;
      };
      json fl = json::object();
      fl["epoch_progress"] = progress(fit.value("epoch_progress", json::object()));
      const json es = fit.value("epoch_loop.state_dict", json::object());
      fl["epoch_loop.state_dict"] = {{"_batches_that_stepped", es.value("_batches_that_stepped", json(nullptr))}};
      const json bp = fit.value("epoch_loop.batch_progress", json::object());
      json bpo = progress(bp);
      bpo["is_last_batch"] = bp.value("is_last_batch", json(nullptr));
      fl["epoch_loop.batch_progress"] = bpo;
      s["fit_loop"] = fl;
    }
    return s;
  }

  Recorder& rec_;
  std::string hook_;
  mutable pl::MetricMap last_candidates_;
};

// ---- building options from the case ------------------------------------------------------------------------------

json merge_case(const json& defaults, const json& overrides) {
  json out = defaults;
  for (auto it = overrides.begin(); it != overrides.end(); ++it) {
    if ((it.key() == "trainer" || it.key() == "ckpt") && it.value().is_object() && out.contains(it.key())) {
      for (auto jt = it.value().begin(); jt != it.value().end(); ++jt) out[it.key()][jt.key()] = jt.value();
    } else {
      out[it.key()] = it.value();
    }
  }
  return out;
}

std::optional<std::int64_t> opt_int(const json& v) {
  if (v.is_null()) return std::nullopt;
  return v.get<std::int64_t>();
}

pl::IntOrFloat int_or_float(const json& v) {
  if (v.is_number_integer()) return pl::IntOrFloat(static_cast<long long>(v.get<std::int64_t>()));
  return pl::IntOrFloat(v.get<double>());
}

pl::ModelCheckpointOptions checkpoint_options(const json& ckpt, const Paths& paths, std::vector<std::string>& unknown) {
  pl::ModelCheckpointOptions o;
  for (auto it = ckpt.begin(); it != ckpt.end(); ++it) {
    const std::string& k = it.key();
    const json& v = it.value();
    if (k == "dirpath") {
      if (v.is_string()) {
        const std::string d = v.get<std::string>();
        o.dirpath(d.empty() || d[0] == '/' || d.find("://") != std::string::npos ? d : paths.root + "/" + d);
      } else {
        o.dirpath(std::nullopt);
      }
    } else if (k == "filename") {
      o.filename(v.is_null() ? std::nullopt : std::optional<std::string>(v.get<std::string>()));
    } else if (k == "monitor") {
      o.monitor(v.is_null() ? std::nullopt : std::optional<std::string>(v.get<std::string>()));
    } else if (k == "verbose") {
      o.verbose(v.get<bool>());
    } else if (k == "save_last") {
      if (v.is_null()) o.save_last(pl::SaveLast::none);
      else if (v.is_boolean()) o.save_last(v.get<bool>());
      else o.save_last(v.get<std::string>());
    } else if (k == "save_top_k") {
      o.save_top_k(v.get<std::int64_t>());
    } else if (k == "save_on_exception") {
      o.save_on_exception(v.get<bool>());
    } else if (k == "save_weights_only") {
      o.save_weights_only(v.get<bool>());
    } else if (k == "mode") {
      o.mode(v.get<std::string>());
    } else if (k == "auto_insert_metric_name") {
      o.auto_insert_metric_name(v.get<bool>());
    } else if (k == "every_n_train_steps") {
      o.every_n_train_steps(opt_int(v));
    } else if (k == "every_n_epochs") {
      o.every_n_epochs(opt_int(v));
    } else if (k == "train_time_interval_s") {
      if (v.is_null()) o.train_time_interval(std::nullopt);
      else o.train_time_interval(std::chrono::duration<double>(v.get<double>()));
    } else if (k == "save_on_train_epoch_end") {
      o.save_on_train_epoch_end(v.is_null() ? std::nullopt : std::optional<bool>(v.get<bool>()));
    } else if (k == "enable_version_counter") {
      o.enable_version_counter(v.get<bool>());
    } else {
      unknown.push_back("ckpt." + k);
    }
  }
  return o;
}

void apply_class_attrs(pl::ModelCheckpoint& c, const json& attrs, std::vector<std::string>& unknown) {
  for (auto it = attrs.begin(); it != attrs.end(); ++it) {
    if (it.key() == "CHECKPOINT_JOIN_CHAR") c.checkpoint_join_char = it.value().get<std::string>();
    else if (it.key() == "CHECKPOINT_EQUALS_CHAR") c.checkpoint_equals_char = it.value().get<std::string>();
    else if (it.key() == "CHECKPOINT_NAME_LAST") c.checkpoint_name_last = it.value().get<std::string>();
    else if (it.key() == "FILE_EXTENSION") c.file_extension = it.value().get<std::string>();
    else if (it.key() == "STARTING_VERSION") c.starting_version = it.value().get<std::int64_t>();
    else unknown.push_back("class_attrs." + it.key());
  }
}

std::string resolve_path(const Paths& paths, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  return paths.root + "/" + path;
}

std::shared_ptr<pl::Logger> make_logger(const json& spec, const Paths& paths, std::vector<std::string>& unknown) {
  const std::string type = spec.value("type", "csv");
  const std::string save_dir = resolve_path(paths, spec.value("save_dir", "."));
  std::string name = "lightning_logs";
  if (spec.contains("name")) name = spec.at("name").is_null() ? "" : spec.at("name").get<std::string>();
  std::optional<pl::LoggerVersion> version;
  if (spec.contains("version") && !spec.at("version").is_null()) {
    const json& v = spec.at("version");
    version = v.is_string() ? pl::LoggerVersion(v.get<std::string>()) : pl::LoggerVersion(v.get<std::int64_t>());
  }
  for (auto it = spec.begin(); it != spec.end(); ++it) {
    static const std::set<std::string> kKnown = {"type",   "save_dir", "name",    "version",
                                                 "prefix", "sub_dir",  "default_hp_metric", "flush_logs_every_n_steps"};
    if (!kKnown.count(it.key())) unknown.push_back("logger." + it.key());
  }
  if (type == "csv") {
    auto o = pl::CSVLoggerOptions().save_dir(save_dir).name(name).version(version).prefix(spec.value("prefix", ""));
    if (spec.contains("flush_logs_every_n_steps")) o.flush_logs_every_n_steps(spec.at("flush_logs_every_n_steps"));
    return std::make_shared<pl::CSVLogger>(o);
  }
  if (type == "tb" || type == "tensorboard") {
    auto o = pl::TensorBoardLoggerOptions().save_dir(save_dir).name(name).version(version).prefix(
        spec.value("prefix", ""));
    if (spec.contains("sub_dir") && !spec.at("sub_dir").is_null()) o.sub_dir(spec.at("sub_dir").get<std::string>());
    if (spec.contains("default_hp_metric")) o.default_hp_metric(spec.at("default_hp_metric").get<bool>());
    return std::make_shared<pl::TensorBoardLogger>(o);
  }
  unknown.push_back("logger.type=" + type);
  return nullptr;
}

pl::TrainerOptions trainer_options(const json& t, const Paths& paths, std::vector<std::string>& unknown) {
  pl::TrainerOptions o;
  o.default_root_dir(paths.root).enable_progress_bar(false).accelerator("cpu");
  for (auto it = t.begin(); it != t.end(); ++it) {
    const std::string& k = it.key();
    const json& v = it.value();
    if (k == "max_epochs") o.max_epochs(opt_int(v));
    else if (k == "max_steps") o.max_steps(v.get<std::int64_t>());
    else if (k == "min_epochs") o.min_epochs(opt_int(v));
    else if (k == "min_steps") o.min_steps(opt_int(v));
    else if (k == "num_sanity_val_steps") o.num_sanity_val_steps(v.get<std::int64_t>());
    else if (k == "log_every_n_steps") o.log_every_n_steps(v.get<std::int64_t>());
    else if (k == "val_check_interval") o.val_check_interval(int_or_float(v));
    else if (k == "check_val_every_n_epoch") o.check_val_every_n_epoch(opt_int(v));
    else if (k == "limit_train_batches") o.limit_train_batches(int_or_float(v));
    else if (k == "limit_val_batches") o.limit_val_batches(int_or_float(v));
    else if (k == "accumulate_grad_batches") o.accumulate_grad_batches(v.get<std::int64_t>());
    else if (k == "fast_dev_run") o.fast_dev_run(v.is_boolean() ? (v.get<bool>() ? 1 : 0) : v.get<std::int64_t>());
    else if (k == "enable_checkpointing") o.enable_checkpointing(v.get<bool>());
    else if (k == "gradient_clip_val") o.gradient_clip_val(v.is_null() ? std::nullopt : std::optional<double>(v.get<double>()));
    else if (k == "default_root_dir") o.default_root_dir(resolve_path(paths, v.get<std::string>()));
    else unknown.push_back("trainer." + k);
  }
  return o;
}

json logger_files(const Paths& paths) {
  json out = json::object();
  std::error_code ec;
  for (fs::recursive_directory_iterator it(paths.root, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if ((name == "metrics.csv" || name == "hparams.yaml") && it->is_regular_file(ec)) {
      out[paths.rel(it->path().string())] = lamin::test::read_file(it->path());
    }
  }
  return out;
}

void make_pre_existing(const Paths& paths, const json& entries) {
  for (const auto& e : entries) {
    const std::string rel = e.get<std::string>();
    const fs::path p = fs::path(paths.root) / rel;
    if (!rel.empty() && rel.back() == '/') {
      fs::create_directories(p);
    } else {
      fs::create_directories(p.parent_path());
      std::ofstream(p) << "pre-existing\n";
    }
  }
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
  bool any_error = false;
  std::shared_ptr<TracingCheckpoint> previous;

  for (std::size_t run_index = 0; run_index < runs.size(); ++run_index) {
    const json run_def = runs[run_index];
    json cfg = merge_case(resolved, run_def);
    const std::string field = "runs[" + std::to_string(run_index) + "]";
    const json exp = run_index < expected_runs.size() ? expected_runs[run_index] : json::object();
    std::vector<std::string> unknown;
    Recorder rec;
    rec.paths = &paths;
    rec.run = static_cast<int>(run_index);
    lamin::log::WarningCapture warnings;
    json outcome{{"status", "ok"}};
    std::string error_kind;
    std::shared_ptr<TracingCheckpoint> callback;
    json actual_ckpt_path = nullptr;
    json trainer_block;
    json construct;

    // construct
    try {
      callback = std::make_shared<TracingCheckpoint>(checkpoint_options(cfg.at("ckpt"), paths, unknown), rec);
      apply_class_attrs(*callback, cfg.value("class_attrs", json::object()), unknown);
    } catch (const std::exception& e) {
      outcome = {{"status", "error"}, {"phase", "init"}, {"message", paths.text(e.what())}};
      error_kind = kind_of(e);
    }
    if (callback) {
      const auto& o = callback->options();
      construct = {{"state_key", callback->state_key()},
                   {"monitor", o.monitor() ? json(*o.monitor()) : json(nullptr)},
                   {"mode", o.mode()},
                   {"kth_value", number(callback->kth_value())},
                   {"save_top_k", o.save_top_k()},
                   {"every_n_epochs", callback->every_n_epochs()},
                   {"every_n_train_steps", callback->every_n_train_steps()},
                   {"train_time_interval_s", o.train_time_interval() ? json(o.train_time_interval()->count())
                                                                       : json(nullptr)},
                   {"save_on_train_epoch_end", o.save_on_train_epoch_end() ? json(*o.save_on_train_epoch_end())
                                                                           : json(nullptr)},
                   {"dirpath", callback->dirpath() ? json(paths.rel(*callback->dirpath())) : json(nullptr)},
                   {"filename", o.filename() ? json(*o.filename()) : json(nullptr)}};
      switch (o.save_last()) {
        case pl::SaveLast::none: construct["save_last"] = nullptr; break;
        case pl::SaveLast::off: construct["save_last"] = false; break;
        case pl::SaveLast::on: construct["save_last"] = true; break;
        case pl::SaveLast::link: construct["save_last"] = "link"; break;
      }
      if (resolved.value("construct_only", false)) outcome["phase"] = "init";
    }

    // fit
    if (callback && !resolved.value("construct_only", false)) {
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
      topts.callbacks({callback});
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
        actual_ckpt_path = paths.rel(*ckpt_path);
      }
      std::unique_ptr<pl::Trainer> trainer;
      try {
        trainer = std::make_unique<pl::Trainer>(topts);
        trainer->fit(*module, train, val, ckpt_path);
      } catch (const std::exception& e) {
        outcome = {{"status", "error"}, {"phase", "fit"}, {"message", paths.text(e.what())}};
        error_kind = kind_of(e);
      }
      if (trainer) {
        callback->snapshot(*trainer, "after_fit");
        trainer_block = {{"current_epoch", trainer->current_epoch()},
                         {"global_step", trainer->global_step()},
                         {"log_dir", paths.rel(trainer->log_dir())},
                         {"callback_dirpath", callback->dirpath() ? json(paths.rel(*callback->dirpath())) : json(nullptr)},
                         {"state_key", callback->state_key()},
                         {"num_training_batches", trainer->num_training_batches()},
                         {"num_val_batches", trainer->num_val_batches()},
                         {"val_check_batch", trainer->val_check_batch()}};
      }
    }
    if (outcome.at("status") == "error") any_error = true;

    for (const auto& u : unknown) report.problem(field, "unsupported case key " + u);

    // outcome
    const json& eo = exp.value("outcome", json::object());
    compare(report, field + ".outcome.status", eo.value("status", "ok"), outcome.at("status"));
    if (eo.value("status", "ok") == "error" && outcome.at("status") == "error") {
      compare(report, field + ".outcome.phase", eo.value("phase", json(nullptr)), outcome.value("phase", json(nullptr)));
      compare(report, field + ".outcome.message", eo.value("message", ""), outcome.at("message"));
      if (!exception_matches(eo.value("type", ""), error_kind)) {
        report.mismatch(field + ".outcome.type", eo.value("type", ""), error_kind);
      }
    } else if (outcome.at("status") == "error") {
      report.problem(field + ".outcome", "unexpected error (" + error_kind + "): " + outcome.at("message").get<std::string>());
    }
    if (exp.contains("construct") && !construct.is_null()) compare(report, field + ".construct", exp.at("construct"), construct);
    if (exp.contains("ckpt_path") && !exp.at("ckpt_path").is_null()) {
      compare(report, field + ".ckpt_path", exp.at("ckpt_path"), actual_ckpt_path);
    }
    if (exp.contains("trainer") && !trainer_block.is_null()) {
      json et = exp.at("trainer");
      if (et.contains("num_val_batches") && et.at("num_val_batches").is_array()) {
        std::int64_t sum = 0;
        for (const auto& n : et.at("num_val_batches")) sum += n.get<std::int64_t>();
        et["num_val_batches"] = sum;
      }
      compare(report, field + ".trainer", et, trainer_block);
    }
    compare(report, field + ".events", exp.value("events", json::array()), rec.events);
    compare(report, field + ".snapshots", exp.value("snapshots", json::array()), rec.snapshots);

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

    if (callback) previous = callback;
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
    cases = read_json(argv[1]);
    expected = read_json(argv[2]);
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
        ok = run_case(defaults, c, it->second, base, keep, report);
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
