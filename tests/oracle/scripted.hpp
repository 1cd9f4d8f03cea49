#pragma once
// The Lightning oracle's actors: a LightningModule that logs a case's scripted metric sequences, and a tracing
// ModelCheckpoint that records every save, removal and link with its hook, epoch, step and monitor value, and a
// snapshot of itself after each train epoch end and after fit. Included by lightning_replay.cpp only.

#include <torch/torch.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "lamin/pl/checkpoint_io.hpp"
#include "lamin/pl/module.hpp"
#include "oracle/replay.hpp"

namespace replay {

inline json number_from_ivalue(const c10::IValue& v) {
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


}  // namespace replay
