// lamin::lightning: the artifact publisher, the generic publishing checkpoint, and the LaminDB Checkpoint.

#include "lamin/lightning/checkpoint.hpp"
#include "lamin/lightning/callback.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <system_error>

#include "core/python.hpp"
#include "lamin/db/key.hpp"
#include "lamin/db/outbox.hpp"
#include "lamin/db/query.hpp"
#include "lamin/db/track.hpp"
#include "lamin/error.hpp"
#include "lamin/lightning/features.hpp"
#include "lamin/log.hpp"
#include "lamin/pl/data.hpp"
#include "lamin/pl/logger.hpp"
#include "lamin/pl/module.hpp"
#include "lamin/pl/trainer.hpp"

namespace lamin::lightning {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Python's `PurePosixPath(p).name`: the last component, "" for "/", "." or "".
std::string path_name(const std::string& p) {
  std::string last;
  std::size_t start = 0;
  while (start <= p.size()) {
    const std::size_t end = std::min(p.find('/', start), p.size());
    const std::string part = p.substr(start, end - start);
    if (!part.empty() && part != ".") last = part;
    start = end + 1;
  }
  return last;
}

std::string rstrip_slash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

// Lightning's precision normalisation (`"32"` -> `"32-true"`, `"16"` -> `"16-mixed"`, ...).
std::string normalized_precision(const std::string& p) {
  if (p == "32") return "32-true";
  if (p == "64") return "64-true";
  if (p == "16") return "16-mixed";
  if (p == "bf16") return "bf16-mixed";
  return p;
}

json metric_json(const pl::Scalar& s) {
  if (s.integral) return json(s.as_int());
  return json(s.value);
}

// `getattr(trainer, name)` for the trainer attributes a feature is likely to name. None: no such attribute.
std::optional<json> trainer_attribute(const pl::Trainer& t, const std::string& name) {
  const auto& o = t.options();
  auto opt = [](const auto& v) -> json { return v ? json(*v) : json(nullptr); };
  if (name == "current_epoch") return json(t.current_epoch());
  if (name == "global_step") return json(t.global_step());
  if (name == "max_epochs") return json(t.max_epochs());
  if (name == "max_steps") return json(t.max_steps());
  if (name == "min_epochs") return opt(o.min_epochs());
  if (name == "min_steps") return opt(o.min_steps());
  if (name == "precision") return json(normalized_precision(o.precision()));
  if (name == "accumulate_grad_batches") return json(o.accumulate_grad_batches());
  if (name == "gradient_clip_val") return opt(o.gradient_clip_val());
  if (name == "gradient_clip_algorithm") return json(o.gradient_clip_algorithm());
  if (name == "log_every_n_steps") return json(o.log_every_n_steps());
  if (name == "num_sanity_val_steps") return json(o.num_sanity_val_steps());
  if (name == "check_val_every_n_epoch") return opt(t.check_val_every_n_epoch());
  if (name == "fast_dev_run") return json(t.fast_dev_run());
  if (name == "num_training_batches") return json(t.num_training_batches());
  if (name == "global_rank") return json(t.global_rank());
  if (name == "local_rank") return json(t.local_rank());
  if (name == "world_size") return json(t.world_size());
  if (name == "is_global_zero") return json(t.is_global_zero());
  if (name == "should_stop") return json(t.should_stop());
  if (name == "sanity_checking") return json(t.sanity_checking());
  if (name == "log_dir") return json(t.log_dir());
  if (name == "default_root_dir") return json(t.default_root_dir());
  return std::nullopt;
}

// The feature a name resolves to, as the registry resolves names: the root-level one first, else the first typed.
const lamin::Feature* resolve_by_name(const std::vector<lamin::Feature>& all, const std::string& name) {
  const lamin::Feature* typed = nullptr;
  for (const auto& f : all) {
    if (f.name != name || f.is_type) continue;
    if (!f.type_id) return &f;
    if (!typed) typed = &f;
  }
  return typed;
}

std::string python_set_repr(const std::vector<std::string>& names) {
  std::string out = "{";
  for (std::size_t i = 0; i < names.size(); ++i) out += (i ? ", '" : "'") + names[i] + "'";
  return out + "}";
}

}  // namespace

// ---- publisher ------------------------------------------------------------------------------------------------------

lamin::Instance default_instance() {
  if (auto run = lamin::context().run()) {
    (void)run;
    if (auto inst = lamin::context().instance()) return inst;
  }
  return lamin::connect();
}

LaminArtifactPublisher::LaminArtifactPublisher(lamin::Instance instance) : instance_(std::move(instance)) {}

lamin::Instance LaminArtifactPublisher::instance() const { return instance_ ? instance_ : default_instance(); }

lamin::Artifact LaminArtifactPublisher::create_artifact(const fs::path& local_path, const PublishOptions& options) {
  lamin::Instance inst = instance();
  lamin::ArtifactOptions a(options.key());
  a.description(options.description()).skip_hash_lookup(options.skip_hash_lookup()).storage_mode(options.storage_mode());
  if (options.kind()) a.kind(*options.kind());
  if (!options.add_as_input_to_run()) return inst->create_artifact(local_path, a);

  a.no_run();
  std::optional<lamin::Run> run = lamin::context().run();
  if (run && !(lamin::context().instance() && lamin::context().instance()->info().root == inst->info().root)) {
    run.reset();
  }
  if (!run) {
    log::warn("no run is tracked: '" + options.key() + "' is not linked as an input of a run");
    return inst->create_artifact(local_path, a);
  }
  return lamin::transaction(inst, [&] {
    lamin::Artifact artifact = inst->create_artifact(local_path, a);
    inst->add_run_input(artifact, *run);
    return artifact;
  });
}

std::string LaminArtifactPublisher::storage_uri(const lamin::Artifact& artifact) {
  return instance()->storage_path(artifact).string();
}

// ---- ArtifactPublishingModelCheckpoint ------------------------------------------------------------------------------

ArtifactPublishingModelCheckpoint::ArtifactPublishingModelCheckpoint(pl::ModelCheckpointOptions options,
                                                                     Observers observers)
    : pl::ModelCheckpoint(std::move(options)) {
  for (auto& o : observers) add_artifact_observer(std::move(o));
  latest_[kCheckpointKind];
  latest_[kConfigKind];
  latest_[kHparamsKind];
}

void ArtifactPublishingModelCheckpoint::add_artifact_observer(std::shared_ptr<ArtifactObserver> observer) {
  if (!observer) throw ConfigurationError("add_artifact_observer: the observer is null");
  observers_.push_back(std::move(observer));
}

void ArtifactPublishingModelCheckpoint::remove_artifact_observer(const std::shared_ptr<ArtifactObserver>& observer) {
  auto it = std::find(observers_.begin(), observers_.end(), observer);
  if (it == observers_.end()) throw NotFoundError("list.remove(x): x not in list");
  observers_.erase(it);
}

const std::optional<lamin::Artifact>& ArtifactPublishingModelCheckpoint::last_checkpoint_artifact() const {
  return latest_.at(kCheckpointKind);
}
const std::optional<lamin::Artifact>& ArtifactPublishingModelCheckpoint::last_config_artifact() const {
  return latest_.at(kConfigKind);
}
const std::optional<lamin::Artifact>& ArtifactPublishingModelCheckpoint::last_hparams_artifact() const {
  return latest_.at(kHparamsKind);
}

std::optional<lamin::Artifact> ArtifactPublishingModelCheckpoint::get_last_artifact(const std::string& kind) const {
  auto it = latest_.find(kind);
  return it == latest_.end() ? std::nullopt : it->second;
}

void ArtifactPublishingModelCheckpoint::notify_artifact_saved(const std::string& kind, const std::string& key,
                                                              const fs::path& local_path, pl::Trainer* trainer,
                                                              const lamin::Artifact& artifact) {
  auto event = std::make_shared<ArtifactSavedEvent>();
  event->kind = kind;
  event->key = key;
  event->local_path = local_path;
  event->trainer = trainer;
  event->artifact = artifact;
  event->storage_uri = resolve_artifact_storage_uri(artifact);
  latest_[kind] = artifact;
  last_event_ = event;
  on_artifact_saved(*event);
  const Observers snapshot = observers_;
  for (const auto& o : snapshot) o->on_artifact_saved(*event);
}

void ArtifactPublishingModelCheckpoint::notify_artifact_removed(const std::string& kind, const std::string& key,
                                                                const fs::path& local_path, pl::Trainer* trainer,
                                                                const std::optional<lamin::Artifact>& artifact) {
  auto event = std::make_shared<ArtifactRemovedEvent>();
  event->kind = kind;
  event->key = key;
  event->local_path = local_path;
  event->trainer = trainer;
  event->artifact = artifact;
  if (artifact) event->storage_uri = resolve_artifact_storage_uri(*artifact);
  last_event_ = event;
  on_artifact_removed(*event);
  const Observers snapshot = observers_;
  for (const auto& o : snapshot) o->on_artifact_removed(*event);
}

// ---- Checkpoint -----------------------------------------------------------------------------------------------------

// What LaminDB's FeatureAnnotator holds: the features found at setup and the once-per-callback flag.
struct Checkpoint::Annotator {
  std::map<std::string, lamin::Feature> auto_features;  // name -> `lamindb.lightning` feature
  std::map<std::string, lamin::Feature> user_features;  // user feature names -> the feature the name resolves to
  std::map<std::string, lamin::Feature> hparam_features;  // hyperparameter names that have a feature
  bool run_features_saved = false;

  const lamin::Feature* auto_feature(const std::string& name) const {
    auto it = auto_features.find(name);
    return it == auto_features.end() ? nullptr : &it->second;
  }
};

Checkpoint::Checkpoint(CheckpointOptions options)
    : ArtifactPublishingModelCheckpoint(options.model_checkpoint_options(), options.artifact_observers()),
      options_(std::move(options)),
      annotator_(std::make_shared<Annotator>()) {
  const json& f = options_.features();
  if (!f.is_null()) {
    if (!f.is_object()) {
      throw ConfigurationError("features must be a dict with the keys 'run' and/or 'artifact', got " + f.dump());
    }
    std::vector<std::string> invalid;
    for (auto it = f.begin(); it != f.end(); ++it) {
      if (it.key() != "run" && it.key() != "artifact") invalid.push_back(it.key());
    }
    if (!invalid.empty()) {
      throw ConfigurationError("Invalid feature keys: " + python_set_repr(invalid) + ". Use 'run' and/or 'artifact'.");
    }
    for (const char* scope : {"run", "artifact"}) {
      if (!f.contains(scope) || f.at(scope).is_null()) continue;
      if (!f.at(scope).is_object()) {
        throw ConfigurationError(std::string("features['") + scope + "'] must be a dict of feature names to values");
      }
      (std::string(scope) == "run" ? run_features_ : artifact_features_) = f.at(scope);
    }
  }
  instance_ = options_.instance();
}

std::string Checkpoint::state_key() const { return generate_state_key("Checkpoint"); }

lamin::Instance Checkpoint::instance() const {
  if (!instance_) instance_ = default_instance();
  return instance_;
}

ArtifactPublisher& Checkpoint::artifact_publisher() {
  if (!publisher_) publisher_ = std::make_shared<LaminArtifactPublisher>(instance());
  return *publisher_;
}

std::optional<std::string> Checkpoint::run_uid() const {
  if (!options_.run_uid_is_version()) return std::nullopt;
  if (auto run = lamin::context().run()) return run->uid;
  return std::nullopt;
}

std::string Checkpoint::base_prefix_for(const pl::Trainer& trainer) const {
  return base_prefix_of(trainer.loggers().empty() ? nullptr : trainer.loggers().front(), trainer.default_root_dir());
}

std::string Checkpoint::base_prefix_of(const std::shared_ptr<pl::Logger>& logger,
                                       const std::string& default_root_dir) const {
  const std::optional<std::string> uid = run_uid();
  const auto& dirpath = options_.dirpath();
  if (dirpath && !dirpath->empty()) {
    const std::string p = rstrip_slash(*dirpath);
    return uid ? p + "/" + *uid : p;
  }
  if (logger) {
    std::string save_dir = logger->save_dir().value_or("");
    if (save_dir.empty()) save_dir = default_root_dir;
    const std::string name = rstrip_slash(logger->name());
    const std::string version = uid ? *uid : pl::version_folder_name(logger->version());
    return path_name(save_dir) + "/" + name + "/" + rstrip_slash(version);
  }
  return uid.value_or("");
}

std::string Checkpoint::base_prefix() const {
  if (!set_up_) throw Error("base_prefix is only available after setup()");
  return base_prefix_of(logger_, default_root_dir_);
}

std::string Checkpoint::checkpoint_key_prefix() const {
  if (!set_up_) throw Error("checkpoint_key_prefix is only available after setup()");
  const std::string base = base_prefix_of(logger_, default_root_dir_);
  return base.empty() ? "checkpoints" : base + "/checkpoints";
}

std::string Checkpoint::resolve_artifact_key(const pl::Trainer& trainer, const std::string& filepath,
                                             const std::string& kind) const {
  const std::string base = base_prefix_for(trainer);
  std::string prefix = base;
  if (kind != kConfigKind) prefix = base.empty() ? "checkpoints" : base + "/checkpoints";
  const std::string name = lamin::detail::python_basename(filepath);
  return prefix.empty() ? name : prefix + "/" + name;
}

std::string Checkpoint::resolve_artifact_storage_uri(const lamin::Artifact& artifact) {
  return artifact_publisher().storage_uri(artifact);
}

// The current run, if it lives in this callback's instance.
static std::optional<lamin::Run> run_in(const lamin::Instance& instance) {
  auto run = lamin::context().run();
  if (!run) return std::nullopt;
  auto ctx = lamin::context().instance();
  if (!ctx || ctx->info().root != instance->info().root) return std::nullopt;
  return run;
}

void Checkpoint::on_fit_end(pl::Trainer& trainer, pl::LightningModule& module) {
  ArtifactPublishingModelCheckpoint::on_fit_end(trainer, module);
  if (!trainer.is_global_zero()) return;
  // A no-op for embedded and direct remote instances; for an outbox, a bounded wait with a clear warning. What
  // is left stays queued on disk, so a failure to wait is a warning, never the end of training.
  try {
    lamin::flush(instance(), options_.upload_timeout_s());
  } catch (const std::exception& e) {
    log::warn(std::string("lamin: could not wait for the registry's uploads: ") + e.what());
  }
}

void Checkpoint::setup(pl::Trainer& trainer, pl::LightningModule& module, const std::string& stage) {
  pl::ModelCheckpoint::setup(trainer, module, stage);
  // What the key properties need, kept beyond the trainer's lifetime (the logger's version is still read live).
  logger_ = trainer.loggers().empty() ? nullptr : trainer.loggers().front();
  default_root_dir_ = trainer.default_root_dir();
  set_up_ = true;
  if (pl::is_enabled(save_last())) {
    log::warn("save_last is not necessary with Lamin: every checkpoint is an artifact and the latest one has "
              "is_last_model=True. Consider save_last=False.");
  }
  if (!trainer.is_global_zero()) return;

  lamin::Instance inst = instance();
  const std::vector<lamin::Feature> all = inst->features();  // the one feature query
  Annotator fresh;
  fresh.run_features_saved = annotator_->run_features_saved;

  // (a) the user's features must exist.
  std::set<std::string> names;
  for (const json* scope : {&run_features_, &artifact_features_}) {
    for (auto it = scope->begin(); it != scope->end(); ++it) names.insert(it.key());
  }
  std::vector<std::string> missing;
  for (const auto& n : names) {
    const lamin::Feature* f = resolve_by_name(all, n);
    if (!f) {
      missing.push_back(n);
    } else {
      fresh.user_features.emplace(n, *f);
    }
  }
  if (!missing.empty()) {
    std::string joined;
    for (std::size_t i = 0; i < missing.size(); ++i) joined += (i ? ", " : "") + missing[i];
    throw ValidationError(missing.size() == 1 ? "Feature " + joined + " missing. Create it first."
                                              : "Features " + joined + " missing. Create them first.");
  }

  // (c) the auto-features that exist.
  std::optional<std::int64_t> type_id;
  for (const auto& f : all) {
    if (f.is_type && f.name == kLightningFeatureType) {
      type_id = f.id;
      break;
    }
  }
  if (type_id) {
    for (const auto& spec : lightning_feature_specs()) {
      for (const auto& f : all) {
        if (f.type_id == type_id && f.name == spec.name && !f.is_type) {
          fresh.auto_features.emplace(spec.name, f);
          break;
        }
      }
    }
  }

  // (d) hyperparameters that have a feature of the same name.
  auto match_hparams = [&](const json& hp) {
    if (!hp.is_object()) return;
    for (auto it = hp.begin(); it != hp.end(); ++it) {
      if (const lamin::Feature* f = resolve_by_name(all, it.key())) fresh.hparam_features.emplace(it.key(), *f);
    }
  };
  match_hparams(module.hparams());
  if (trainer.datamodule()) match_hparams(trainer.datamodule()->hparams());

  // (b) run features go to the current run now.
  if (!run_features_.empty()) {
    if (auto run = run_in(inst)) {
      lamin::FeatureValues values;
      for (auto it = run_features_.begin(); it != run_features_.end(); ++it) {
        if (it.value().is_null()) continue;
        const lamin::Feature& f = fresh.user_features.at(it.key());
        lamin::validate_feature_value(f, it.value());
        values.emplace_back(f, it.value());
      }
      if (!values.empty()) inst->add_values(*run, values);
    }
  }
  *annotator_ = std::move(fresh);
}

lamin::Artifact Checkpoint::save_checkpoint_artifact(pl::Trainer& trainer, const std::string& filepath,
                                                     const lamin::FeatureValues& feature_values) {
  lamin::Instance inst = instance();
  const std::string key = resolve_artifact_key(trainer, filepath, kCheckpointKind);
  if (auto existing = inst->artifacts().key(key).one_or_none()) inst->delete_artifact(*existing);
  lamin::Artifact artifact = artifact_publisher().create_artifact(filepath, PublishOptions(key)
                                                                                .description("model checkpoint")
                                                                                .kind("model")
                                                                                .skip_hash_lookup(true)
                                                                                .storage_mode(StorageMode::link));
  if (!feature_values.empty()) inst->add_values(artifact, feature_values);
  return artifact;
}

lamin::Artifact Checkpoint::save_config_artifact(pl::Trainer& trainer, const std::string& filepath) {
  const std::string key = resolve_artifact_key(trainer, filepath, kConfigKind);
  lamin::Artifact artifact = artifact_publisher().create_artifact(filepath, PublishOptions(key)
                                                                                .description("Lightning CLI config")
                                                                                .kind("config")
                                                                                .add_as_input_to_run(true)
                                                                                .skip_hash_lookup(true));
  notify_artifact_saved(kConfigKind, key, filepath, &trainer, artifact);
  return artifact;
}

lamin::Artifact Checkpoint::save_hparams_artifact(pl::Trainer& trainer, const std::string& filepath) {
  const std::string key = resolve_artifact_key(trainer, filepath, kHparamsKind);
  lamin::Artifact artifact = artifact_publisher().create_artifact(
      filepath,
      PublishOptions(key).description("Lightning run hyperparameters").kind("config").skip_hash_lookup(true));
  notify_artifact_saved(kHparamsKind, key, filepath, &trainer, artifact);
  return artifact;
}

namespace {

// Moves a boolean flag off every artifact under `prefix + "/"` that has it set: the `true` link is removed and a
// `false` one added.
// Every checkpoint under `prefix` flagged true gets false instead (one batch, whatever the number of checkpoints).
void clear_flag(const lamin::Instance& inst, const std::string& prefix, const lamin::Feature& flag) {
  const auto flagged =
      inst->artifacts().key_startswith(prefix + "/").where(lamin::feature(flag) == true).all_branches().all();
  std::vector<std::pair<std::int64_t, json>> cleared;
  for (const auto& a : flagged) cleared.emplace_back(a.id, false);
  inst->set_feature_values(flag, cleared);
}

}  // namespace

void Checkpoint::update_model_ranks(const std::string& prefix, const std::string& mode) {
  const lamin::Feature* score_f = annotator_->auto_feature("score");
  const lamin::Feature* rank_f = annotator_->auto_feature("model_rank");
  if (!score_f || !rank_f) return;
  lamin::Instance inst = instance();
  // Every checkpoint under the prefix, by score (smallest number when several), ties in creation order.
  inst->rank_artifacts(inst->artifacts().key_startswith(prefix + "/").all_branches().spec(), *score_f, *rank_f,
                       mode == "max");
}

lamin::FeatureValues Checkpoint::artifact_feature_values(pl::Trainer& trainer, const std::string& filepath,
                                                          bool is_best) const {
  const Annotator& an = *annotator_;
  lamin::FeatureValues values;
  std::map<std::string, json> by_name;
  auto add_auto = [&](const char* name, json value) {
    const lamin::Feature* f = an.auto_feature(name);
    if (!f) return;
    lamin::validate_feature_value(*f, value);
    by_name[name] = value;
    values.emplace_back(*f, std::move(value));
  };
  add_auto("is_best_model", is_best);
  add_auto("is_last_model", true);
  if (current_score()) {
    const double score = *current_score();
    if (!std::isfinite(score)) {
      throw ValidationError("The score of '" + lamin::detail::python_basename(filepath) + "' is not finite (" +
                            std::to_string(score) + ", monitor '" + monitor().value_or("") +
                            "'): LaminDB cannot store NaN or Infinity as a feature value.");
    }
    add_auto("score", score);
  }
  add_auto("save_weights_only", save_weights_only());
  if (monitor()) add_auto("monitor", *monitor());
  add_auto("mode", mode());
  for (auto it = artifact_features_.begin(); it != artifact_features_.end(); ++it) {
    json value = it.value();
    if (value.is_null()) {
      if (auto attr = trainer_attribute(trainer, it.key())) {
        value = *attr;
      } else if (const pl::Scalar* m = trainer.callback_metrics().find(it.key())) {
        value = metric_json(*m);
      }
    }
    if (value.is_null()) continue;
    if (value.is_number_float() && !std::isfinite(value.get<double>())) {
      throw ValidationError("The value of feature '" + it.key() +
                            "' is not finite: LaminDB cannot store NaN or Infinity as a feature value.");
    }
    auto same = by_name.find(it.key());
    if (same != by_name.end()) {
      if (same->second != value) {
        throw ValidationError("Conflicting values for feature name " + it.key() + ": " + same->second.dump() +
                              " and " + value.dump());
      }
      continue;
    }
    const lamin::Feature& f = an.user_features.at(it.key());
    lamin::validate_feature_value(f, value);
    by_name[it.key()] = value;
    values.emplace_back(f, std::move(value));
  }
  return values;
}

lamin::FeatureValues Checkpoint::run_feature_values(pl::Trainer& trainer) const {
  const Annotator& an = *annotator_;
  lamin::FeatureValues run_values;
  auto add_run = [&](const lamin::Feature& f, json value) {
    if (value.is_null()) return;
    lamin::validate_feature_value(f, value);
    run_values.emplace_back(f, std::move(value));
  };
  auto add_run_auto = [&](const char* name, json value) {
    if (const lamin::Feature* f = an.auto_feature(name)) add_run(*f, std::move(value));
  };
  if (!trainer.loggers().empty()) {
    const auto& logger = trainer.loggers().front();
    add_run_auto("logger_name", logger->name());
    add_run_auto("logger_version", pl::version_folder_name(logger->version()));
  }
  const auto& o = trainer.options();
  add_run_auto("max_epochs", trainer.max_epochs());
  add_run_auto("max_steps", trainer.max_steps());
  add_run_auto("precision", normalized_precision(o.precision()));
  add_run_auto("accumulate_grad_batches", o.accumulate_grad_batches());
  if (o.gradient_clip_val()) add_run_auto("gradient_clip_val", *o.gradient_clip_val());
  if (monitor()) add_run_auto("monitor", *monitor());
  add_run_auto("mode", mode());
  json hparams = json::object();
  if (const pl::LightningModule* m = trainer.lightning_module(); m && m->hparams().is_object()) {
    hparams.update(m->hparams());
  }
  if (trainer.datamodule() && trainer.datamodule()->hparams().is_object()) {
    hparams.update(trainer.datamodule()->hparams());
  }
  for (auto it = hparams.begin(); it != hparams.end(); ++it) {
    auto f = an.hparam_features.find(it.key());
    if (f != an.hparam_features.end()) add_run(f->second, it.value());
  }
  return run_values;
}

void Checkpoint::_save_checkpoint(pl::Trainer& trainer, const std::string& filepath) {
  if (!trainer.is_global_zero()) {
    pl::ModelCheckpoint::_save_checkpoint(trainer, filepath);
    return;
  }
  lamin::Instance inst = instance();
  const Annotator& an = *annotator_;

  // 1. Everything that can be wrong is checked before the file is written.
  const std::string key = resolve_artifact_key(trainer, filepath, kCheckpointKind);
  lamin::validate_key(key);
  lamin::validate_key_suffix(key, lamin::canonical_suffix(filepath));
  const std::string base = base_prefix_for(trainer);
  const std::string prefix = base.empty() ? "checkpoints" : base + "/checkpoints";
  const bool is_best = best_model_path() == filepath;
  const lamin::FeatureValues values = artifact_feature_values(trainer, filepath, is_best);
  std::optional<lamin::Run> run = run_in(inst);
  const bool write_run = run && !an.run_features_saved;
  const lamin::FeatureValues run_values = write_run ? run_feature_values(trainer) : lamin::FeatureValues{};

  // 2. The file.
  pl::ModelCheckpoint::_save_checkpoint(trainer, filepath);

  // 3. hparams.yaml, once.
  if (!hparams_yaml_saved_) {
    const fs::path hparams_file = fs::path(trainer.log_dir()) / "hparams.yaml";
    std::error_code ec;
    if (fs::is_regular_file(hparams_file, ec)) {
      save_hparams_artifact(trainer, hparams_file.string());
      hparams_yaml_saved_ = true;
    }
  }

  // 4. One transaction: run features (once), flags, the artifact with its values, ranks.
  lamin::Artifact artifact;
  {
    lamin::Transaction tx(inst);
    if (write_run && !run_values.empty()) inst->add_values(*run, run_values);
    if (const lamin::Feature* last = an.auto_feature("is_last_model")) clear_flag(inst, prefix, *last);
    if (is_best) {
      if (const lamin::Feature* best = an.auto_feature("is_best_model")) clear_flag(inst, prefix, *best);
    }
    artifact = save_checkpoint_artifact(trainer, filepath, values);
    update_model_ranks(prefix, mode());
    tx.commit();
  }
  if (write_run) annotator_->run_features_saved = true;

  // 5. The event.
  notify_artifact_saved(kCheckpointKind, key, filepath, &trainer, artifact);
}

void Checkpoint::_remove_checkpoint(pl::Trainer& trainer, const std::string& filepath) {
  const std::string key = resolve_artifact_key(trainer, filepath, kCheckpointKind);
  if (!trainer.is_global_zero()) {
    pl::ModelCheckpoint::_remove_checkpoint(trainer, filepath);
    return;
  }
  lamin::Instance inst = instance();
  const std::optional<lamin::Artifact> existing = inst->artifacts().key(key).one_or_none();
  pl::ModelCheckpoint::_remove_checkpoint(trainer, filepath);
  notify_artifact_removed(kCheckpointKind, key, filepath, &trainer, existing);
  if (existing) inst->delete_artifact(*existing);
}

// ---- the deprecated Callback ------------------------------------------------------------------------------------------

Callback::Callback(std::string path, std::string key, json features, lamin::Instance instance)
    : path_(std::move(path)), key_(std::move(key)), features_(std::move(features)), instance_(std::move(instance)) {
  log::warn("ll.Callback is deprecated, use ll.Checkpoint instead");
  if (features_.is_null()) features_ = json::object();
  if (!features_.is_object()) throw ConfigurationError("features must be a dict of feature names to values");
}

lamin::Instance Callback::instance() const {
  if (!instance_) instance_ = default_instance();
  return instance_;
}

void Callback::on_train_start(pl::Trainer& trainer, pl::LightningModule&) {
  if (!trainer.is_global_zero()) return;
  const auto all = instance()->features();
  std::vector<std::string> missing;
  for (auto it = features_.begin(); it != features_.end(); ++it) {
    if (!resolve_by_name(all, it.key())) missing.push_back(it.key());
  }
  if (missing.empty()) return;
  std::string joined;
  for (std::size_t i = 0; i < missing.size(); ++i) joined += (i ? ", " : "") + missing[i];
  throw ValidationError(missing.size() == 1 ? "Feature " + joined + " missing. Create it first."
                                            : "Features " + joined + " missing. Create them first.");
}

void Callback::on_train_epoch_end(pl::Trainer& trainer, pl::LightningModule&) {
  trainer.save_checkpoint(path_);
  if (!trainer.is_global_zero()) return;
  lamin::Instance inst = instance();
  lamin::FeatureValues values;
  for (auto it = features_.begin(); it != features_.end(); ++it) {
    json value = it.value();
    if (auto attr = trainer_attribute(trainer, it.key())) {
      value = *attr;
    } else if (const pl::Scalar* m = trainer.callback_metrics().find(it.key())) {
      value = metric_json(*m);
    }
    if (!value.is_null()) values.emplace_back(it.key(), value);
  }
  lamin::transaction(inst, [&] {
    lamin::Artifact a = inst->create_artifact(path_, lamin::ArtifactOptions(key_).kind("model"));
    if (!values.empty()) inst->add_values(a, values);
  });
}

}  // namespace lamin::lightning
