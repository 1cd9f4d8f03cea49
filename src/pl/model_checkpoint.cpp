#include "lamin/pl/model_checkpoint.hpp"

#include <torch/torch.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <system_error>

#include "checkpoint_filename.hpp"
#include "core/file_io.hpp"
#include "core/python.hpp"
#include "lamin/error.hpp"
#include "lamin/log.hpp"
#include "lamin/pl/trainer.hpp"

namespace fs = std::filesystem;

namespace lamin::pl {
using lamin::detail::python_abspath;
using lamin::detail::python_path_join;
using lamin::detail::python_realpath;
using lamin::detail::python_expanduser;
using lamin::detail::python_str_repr;
using lamin::detail::python_list_repr;
using lamin::detail::python_timedelta_str;
using lamin::detail::python_timedelta_repr;
using lamin::detail::python_format;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// fsspec's `get_protocol(path) == "file"`: no "proto://" or "proto::" prefix, or the "file" protocol.
bool is_local_path(const std::string& path) {
  const auto a = path.find("://");
  const auto b = path.find("::");
  const auto cut = std::min(a, b);
  if (cut == std::string::npos) return true;
  return path.compare(0, cut, "file") == 0 && cut == 4;
}

// pathlib's `Path(path).absolute()` as components: cwd-joined, "." and empty parts dropped, ".." kept.
std::vector<std::string> pathlib_absolute_parts(const std::string& path) {
  std::string text = path;
  if (text.empty() || text[0] != '/') {
    std::error_code ec;
    text = fs::current_path(ec).string() + "/" + text;
  }
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto end = text.find('/', start);
    const std::string part = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!part.empty() && part != ".") parts.push_back(part);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return parts;
}

std::string optional_str_repr(const std::optional<std::string>& text) {
  return text ? python_str_repr(*text) : "None";
}

// Python's `f"{value:0.5f}"` of a score.
std::string format_score(double value, bool integral) {
  return python_format({value, integral}, "0.5f");
}

// pathlib's Path.suffix / Path.stem of a file name.
std::pair<std::string, std::string> stem_and_suffix(const std::string& name) {
  const auto dot = name.rfind('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == name.size()) return {name, ""};
  return {name.substr(0, dot), name.substr(dot)};
}

}  // namespace

SaveLast parse_save_last(std::string_view text) {
  if (text == "true" || text == "True" || text == "yes") return SaveLast::on;
  if (text == "false" || text == "False" || text == "no") return SaveLast::off;
  if (text == "link") return SaveLast::link;
  if (text.empty() || text == "none" || text == "None") return SaveLast::none;
  throw ConfigurationError("Invalid value for save_last: '" + std::string(text) +
                           "'. Expected one of: true, false, 'link'");
}

ModelCheckpoint::ModelCheckpoint(ModelCheckpointOptions options) : options_(std::move(options)) {
  // 1. mode
  const std::string& mode = options_.mode();
  if (mode != "min" && mode != "max") throw ConfigurationError("`mode` can be min, max but got " + mode);
  kth_value_ = mode == "min" ? kInf : -kInf;

  // 2. dirpath: local paths become realpath(expanduser(dirpath)).
  const auto& dirpath = options_.dirpath();
  if (dirpath && !dirpath->empty() && is_local_path(*dirpath)) {
    dirpath_ = python_realpath(python_expanduser(*dirpath));
  } else {
    dirpath_ = dirpath;
  }

  // 3. triggers
  const auto& steps = options_.every_n_train_steps();
  const auto& epochs = options_.every_n_epochs();
  const auto& interval = options_.train_time_interval();
  if (!steps && !epochs && !interval) {
    every_n_epochs_ = 1;
    every_n_train_steps_ = 0;
  } else {
    every_n_epochs_ = epochs.value_or(0);
    every_n_train_steps_ = steps.value_or(0);
  }

  // 4. validation, first failure wins
  const std::int64_t k = options_.save_top_k();
  if (k < -1) throw ConfigurationError("Invalid value for save_top_k=" + std::to_string(k) + ". Must be >= -1");
  if (every_n_train_steps_ < 0) {
    throw ConfigurationError("Invalid value for every_n_train_steps=" + std::to_string(every_n_train_steps_) +
                             ". Must be >= 0");
  }
  if (every_n_epochs_ < 0) {
    throw ConfigurationError("Invalid value for every_n_epochs=" + std::to_string(every_n_epochs_) +
                             ". Must be >= 0");
  }
  const int triggered = (every_n_train_steps_ >= 1 ? 1 : 0) + (every_n_epochs_ >= 1 ? 1 : 0) + (interval ? 1 : 0);
  if (triggered > 1) {
    throw ConfigurationError("Combination of parameters every_n_train_steps=" + std::to_string(every_n_train_steps_) +
                             ", every_n_epochs=" + std::to_string(every_n_epochs_) + " and train_time_interval=" +
                             (interval ? python_timedelta_str(*interval) : std::string("None")) +
                             " should be mutually exclusive.");
  }
  if (!options_.monitor() && k != -1 && k != 0 && k != 1) {
    throw ConfigurationError("ModelCheckpoint(save_top_k=" + std::to_string(k) +
                             ", monitor=None) is not a valid configuration. No quantity for top_k to track.");
  }
}

std::string ModelCheckpoint::generate_state_key(const std::string& qualname) const {
  const auto& interval = options_.train_time_interval();
  return qualname + "{'monitor': " + optional_str_repr(options_.monitor()) +
         ", 'mode': " + python_str_repr(options_.mode()) +
         ", 'every_n_train_steps': " + std::to_string(every_n_train_steps_) +
         ", 'every_n_epochs': " + std::to_string(every_n_epochs_) +
         ", 'train_time_interval': " + (interval ? python_timedelta_repr(*interval) : std::string("None")) +
         "}";
}

std::string ModelCheckpoint::state_key() const { return generate_state_key("ModelCheckpoint"); }

double ModelCheckpoint::monotonic_now() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// ---- hooks --------------------------------------------------------------------------------------------------------

std::string ModelCheckpoint::resolve_ckpt_dir(const Trainer& trainer) const {
  if (dirpath_) return *dirpath_;
  const auto& loggers = trainer.loggers();
  if (!loggers.empty()) {
    const auto& logger = loggers.front();
    const std::string save_dir = logger->save_dir().value_or(trainer.default_root_dir());
    const std::string version = version_folder_name(logger->version());
    return python_path_join(python_path_join(python_path_join(save_dir, logger->name()), version), "checkpoints");
  }
  return python_path_join(trainer.default_root_dir(), "checkpoints");
}

void ModelCheckpoint::setup(Trainer& trainer, LightningModule&, const std::string& stage) {
  dirpath_ = resolve_ckpt_dir(trainer);
  const std::string& dirpath = *dirpath_;
  const bool local = is_local_path(dirpath);
  if (trainer.is_global_zero() && stage == "fit" && local) {
    // Temporary files of a save whose process was killed mid-write (never a completed checkpoint).
    if (const std::size_t n = lamin::detail::remove_stale_temporaries(dirpath)) {
      log::info("Removed " + std::to_string(n) + " temporary file(s) left in " + dirpath +
                " by an interrupted checkpoint save.");
    }
  }
  if (trainer.is_global_zero() && stage == "fit" && local && options_.save_top_k() != 0) {
    std::error_code ec;
    if (fs::is_directory(dirpath, ec) && fs::directory_iterator(dirpath, ec) != fs::directory_iterator()) {
      log::warn("Checkpoint directory " + dirpath + " exists and is not empty.");
    }
  }
  if (options_.save_last() == SaveLast::link && !local) {
    throw ConfigurationError(
        "`ModelCheckpoint(save_last='link')` is only supported for local file paths, got `dirpath=" + dirpath + "`.");
  }
  // Fail now, not after the first epoch, when checkpoints could not be written there. Nothing is created.
  if (stage == "fit" && local && trainer.is_global_zero()) {
    const std::string absolute = python_abspath(dirpath);
    fs::path probe(absolute);
    std::error_code ec;
    while (!fs::exists(probe, ec) && probe.has_parent_path() && probe.parent_path() != probe) {
      probe = probe.parent_path();
    }
    std::string reason;
    if (!fs::is_directory(probe, ec)) {
      reason = "`" + probe.string() + "` exists and is not a folder";
    } else if (::access(probe.c_str(), W_OK | X_OK) != 0) {
      reason = "`" + probe.string() + "` is not writable";
    }
    if (!reason.empty()) {
      throw StorageError("ModelCheckpoint cannot write checkpoints to dirpath `" + dirpath + "`: " + reason);
    }
  }
}

void ModelCheckpoint::on_train_start(Trainer&, LightningModule&) { last_time_checked_ = monotonic_now(); }

bool ModelCheckpoint::should_skip_saving_checkpoint(const Trainer& trainer) const {
  return trainer.fast_dev_run() != 0 || trainer.state() != TrainerFn::fitting || trainer.sanity_checking() ||
         last_global_step_saved_ == trainer.global_step();
}

bool ModelCheckpoint::should_save_on_train_epoch_end(const Trainer& trainer) const {
  if (options_.save_on_train_epoch_end()) return *options_.save_on_train_epoch_end();
  if (trainer.val_check_interval_is_time_based()) return false;
  const auto every = trainer.check_val_every_n_epoch();
  if (!every || *every != 1) return false;
  if (trainer.num_val_batches() == 0) return true;
  return trainer.val_check_interval() == 1.0;
}

void ModelCheckpoint::on_train_batch_end(Trainer& trainer, LightningModule&, const StepOutput&, const Batch&,
                                         std::int64_t) {
  const bool skip_state = should_skip_saving_checkpoint(trainer);
  const bool skip_batch = every_n_train_steps_ < 1 || trainer.global_step() % every_n_train_steps_ != 0;
  bool skip_time = true;
  const auto& interval = options_.train_time_interval();
  double now = 0.0;
  if (interval) {
    now = monotonic_now();
    skip_time = !last_time_checked_ || (now - *last_time_checked_) < interval->count();
  }
  if (skip_batch && skip_time) return;
  if (!skip_time) last_time_checked_ = now;

  const MetricMap candidates = _monitor_candidates(trainer);
  const auto& monitor = options_.monitor();
  if (monitor && !candidates.contains(*monitor)) {
    // The monitored value is not known yet (e.g. logged only in validation): save once validation ran.
    defer_save_until_validation_ = true;
    return;
  }
  if (monitor && !should_save_on_train_epoch_end(trainer) && trainer.is_last_batch()) {
    const auto every = trainer.check_val_every_n_epoch();
    const bool will_run_val = trainer.enable_validation() && trainer.num_val_batches() > 0 &&
                              (!every || (trainer.current_epoch() + 1) % *every == 0);
    if (will_run_val) {
      // Validation follows this batch: save with its fresh value instead of a stale one.
      defer_save_until_validation_ = true;
      return;
    }
  }
  if (skip_state) return;
  _save_topk_checkpoint(trainer, candidates);
  _save_last_checkpoint(trainer, candidates);
}

void ModelCheckpoint::on_train_epoch_end(Trainer& trainer, LightningModule&) {
  if (should_skip_saving_checkpoint(trainer) || !should_save_on_train_epoch_end(trainer)) return;
  const MetricMap candidates = _monitor_candidates(trainer);
  if (every_n_epochs_ >= 1 && (trainer.current_epoch() + 1) % every_n_epochs_ == 0) {
    _save_topk_checkpoint(trainer, candidates);
  }
  if (last_global_step_saved_ == trainer.global_step() ||
      (options_.save_last() == SaveLast::link && !last_checkpoint_saved_.empty())) {
    _save_last_checkpoint(trainer, candidates);
  }
}

void ModelCheckpoint::on_validation_end(Trainer& trainer, LightningModule&) {
  if (should_skip_saving_checkpoint(trainer) || should_save_on_train_epoch_end(trainer)) return;
  const MetricMap candidates = _monitor_candidates(trainer);
  if (defer_save_until_validation_) {
    _save_topk_checkpoint(trainer, candidates);
    _save_last_checkpoint(trainer, candidates);
    defer_save_until_validation_ = false;
    return;
  }
  if (every_n_epochs_ >= 1 && (trainer.current_epoch() + 1) % every_n_epochs_ == 0) {
    _save_topk_checkpoint(trainer, candidates);
  }
  if (last_global_step_saved_ == trainer.global_step() ||
      (options_.save_last() == SaveLast::link && !last_checkpoint_saved_.empty())) {
    _save_last_checkpoint(trainer, candidates);
  }
}

void ModelCheckpoint::on_train_end(Trainer& trainer, LightningModule&) {
  if (is_enabled(options_.save_last()) && last_checkpoint_saved_.empty()) {
    _save_last_checkpoint(trainer, _monitor_candidates(trainer));
  }
}

void ModelCheckpoint::on_exception(Trainer& trainer, LightningModule&, const std::exception&) {
  if (!options_.save_on_exception() || trainer.fast_dev_run() != 0 || trainer.sanity_checking() ||
      last_global_step_saved_ == trainer.global_step()) {
    return;
  }
  const MetricMap candidates = _monitor_candidates(trainer);
  const std::string filepath = format_checkpoint_name(candidates);
  _save_checkpoint(trainer, filepath);
  _save_last_checkpoint(trainer, candidates);
}

// ---- candidates and names ---------------------------------------------------------------------------------------

MetricMap ModelCheckpoint::_monitor_candidates(const Trainer& trainer) const {
  MetricMap candidates = trainer.callback_metrics();
  const Scalar* epoch = candidates.find("epoch");
  candidates.set("epoch", epoch ? Scalar::integer(static_cast<std::int64_t>(epoch->value))
                                : Scalar::integer(trainer.current_epoch()));
  const Scalar* step = candidates.find("step");
  candidates.set("step", step ? Scalar::integer(static_cast<std::int64_t>(step->value))
                              : Scalar::integer(trainer.global_step()));
  return candidates;
}

std::string ModelCheckpoint::format_checkpoint_name(const MetricMap& metrics, const std::optional<std::string>& filename,
                                                    std::optional<std::int64_t> ver,
                                                    const std::optional<std::string>& prefix) const {
  std::string name;
  if (filename && !filename->empty()) {
    name = *filename;
  } else if (options_.filename()) {
    name = *options_.filename();
  }
  if (name.empty()) name = "{epoch}" + checkpoint_join_char + "{step}";
  name = detail::format_metric_template(name, metrics, options_.auto_insert_metric_name(), checkpoint_equals_char);
  if (prefix && !prefix->empty()) name = *prefix + checkpoint_join_char + name;
  if (ver) name += checkpoint_join_char + "v" + std::to_string(*ver);
  name += file_extension;
  return dirpath_ && !dirpath_->empty() ? python_path_join(*dirpath_, name) : name;
}

bool ModelCheckpoint::file_exists(const std::string& filepath, const Trainer&) const {
  std::error_code ec;
  return fs::exists(filepath, ec);
}

std::string ModelCheckpoint::get_metric_interpolated_filepath_name(
    const MetricMap& candidates, const Trainer& trainer, const std::optional<std::string>& del_filepath) const {
  std::string filepath = format_checkpoint_name(candidates);
  if (options_.enable_version_counter()) {
    std::int64_t version = starting_version;
    while (file_exists(filepath, trainer) && (!del_filepath || filepath != *del_filepath)) {
      filepath = format_checkpoint_name(candidates, std::nullopt, version);
      ++version;
    }
  }
  return filepath;
}

// ---- top-k ------------------------------------------------------------------------------------------------------

void ModelCheckpoint::_save_topk_checkpoint(Trainer& trainer, const MetricMap& candidates) {
  if (options_.save_top_k() == 0) return;
  const auto& monitor = options_.monitor();
  if (!monitor) {
    _save_none_monitor_checkpoint(trainer, candidates);
    return;
  }
  if (!candidates.contains(*monitor)) {
    const std::string message = "`ModelCheckpoint(monitor=" + python_str_repr(*monitor) +
                                ")` could not find the monitored key in the returned metrics: " +
                                python_list_repr(candidates.keys()) + ". HINT: Did you call `log(" +
                                python_str_repr(*monitor) + ", value)` in the `LightningModule`?";
    if (trainer.validation_has_run()) throw ConfigurationError(message);
    log::warn_once(message);
  }
  _save_monitor_checkpoint(trainer, candidates);
}

void ModelCheckpoint::_save_monitor_checkpoint(Trainer& trainer, const MetricMap& candidates) {
  const Scalar* found = candidates.find(*options_.monitor());
  const std::optional<Scalar> current = found ? std::optional<Scalar>(*found) : std::nullopt;
  if (check_monitor_top_k(trainer, current)) {
    update_best_and_save(*current, trainer, candidates);
  } else if (options_.verbose()) {
    const Scalar* epoch = candidates.find("epoch");
    const Scalar* step = candidates.find("step");
    log::info("Epoch " + std::to_string(epoch ? epoch->as_int() : 0) + ", global step " +
              std::to_string(step ? step->as_int() : 0) + ": " + python_str_repr(*options_.monitor()) +
              " was not in top " + std::to_string(options_.save_top_k()));
  }
}

bool ModelCheckpoint::check_monitor_top_k(const Trainer&, const std::optional<Scalar>& current) const {
  if (!current) return false;
  const std::int64_t k = options_.save_top_k();
  if (k == -1) return true;
  if (static_cast<std::int64_t>(best_k_models_.size()) < k) return true;
  const auto it = best_k_index_.find(kth_best_model_path_);
  const double kth = it != best_k_index_.end() ? best_k_models_[it->second].second : kth_value_;
  return is_min_mode() ? current->value < kth : current->value > kth;
}

void ModelCheckpoint::update_best_and_save(Scalar current, Trainer& trainer, const MetricMap& candidates) {
  const std::int64_t size = static_cast<std::int64_t>(best_k_models_.size());
  const std::int64_t k = options_.save_top_k() == -1 ? size + 1 : options_.save_top_k();

  std::optional<std::string> del_filepath;
  if (size == k && k > 0) {
    del_filepath = kth_best_model_path_;
    const auto it = best_k_index_.find(*del_filepath);
    if (it != best_k_index_.end()) {
      best_k_models_.erase(best_k_models_.begin() + static_cast<std::ptrdiff_t>(it->second));
      reindex_best_k_models();
    }
  }
  // A NaN is kept as the worst possible score (the file name, formatted from the candidates, still says nan).
  if (std::isnan(current.value)) current = Scalar{is_min_mode() ? kInf : -kInf, false};

  const std::string filepath = get_metric_interpolated_filepath_name(candidates, trainer, del_filepath);

  current_score_ = current.value;
  integral_scores_ = current.integral;
  const auto existing = best_k_index_.find(filepath);
  const bool appended = existing == best_k_index_.end();
  if (appended) {
    best_k_index_.emplace(filepath, best_k_models_.size());
    best_k_models_.emplace_back(filepath, current.value);
  } else {
    best_k_models_[existing->second].second = current.value;
  }

  const bool min_mode = is_min_mode();
  auto worse = [&](double a, double b) { return min_mode ? a > b : a < b; };
  const auto kth_it = best_k_index_.find(kth_best_model_path_);
  const auto best_it = best_k_index_.find(best_model_path_);
  if (appended && !del_filepath && options_.save_top_k() == -1 && best_k_models_.size() > 1 &&
      kth_it != best_k_index_.end() && best_it != best_k_index_.end() && kth_it->first != filepath &&
      best_it->first != filepath) {
    // save_top_k=-1 keeps every entry: the kth (worst) and best of the others are known, and a new last entry only
    // replaces them when strictly worse / better (ties stay with the earlier key), as a full scan would decide.
    const ScoredPath& kth = best_k_models_[kth_it->second];
    const ScoredPath& best = best_k_models_[best_it->second];
    const ScoredPath& added = best_k_models_.back();
    const ScoredPath& new_kth = worse(added.second, kth.second) ? added : kth;
    const ScoredPath& new_best = worse(best.second, added.second) ? added : best;
    kth_best_model_path_ = new_kth.first;
    kth_value_ = new_kth.second;
    best_model_path_ = new_best.first;
    best_model_score_ = new_best.second;
  } else {
    // Python's max()/min() over the dict: ties go to the first key in dict order.
    auto pick = [&](bool want_worst) {
      auto chosen = best_k_models_.begin();
      for (auto it = best_k_models_.begin(); it != best_k_models_.end(); ++it) {
        if (want_worst ? worse(it->second, chosen->second) : worse(chosen->second, it->second)) chosen = it;
      }
      return chosen;
    };
    if (static_cast<std::int64_t>(best_k_models_.size()) == k) {
      const auto kth = pick(true);
      kth_best_model_path_ = kth->first;
      kth_value_ = kth->second;
    }
    const auto best = pick(false);
    best_model_path_ = best->first;
    best_model_score_ = best->second;
  }

  if (options_.verbose()) {
    const Scalar* epoch = candidates.find("epoch");
    const Scalar* step = candidates.find("step");
    log::info("Epoch " + std::to_string(epoch ? epoch->as_int() : 0) + ", global step " +
              std::to_string(step ? step->as_int() : 0) + ": " + python_str_repr(*options_.monitor()) +
              " reached " + format_score(current.value, current.integral) + " (best " +
              format_score(*best_model_score_, integral_scores_) + "), saving model to " +
              python_str_repr(filepath) + " as top " + std::to_string(k));
  }
  _save_checkpoint(trainer, filepath);

  if (del_filepath && !del_filepath->empty() && _should_remove_checkpoint(trainer, *del_filepath, filepath)) {
    _remove_checkpoint(trainer, *del_filepath);
  }
}

void ModelCheckpoint::reindex_best_k_models() {
  best_k_index_.clear();
  for (std::size_t i = 0; i < best_k_models_.size(); ++i) best_k_index_[best_k_models_[i].first] = i;
}

void ModelCheckpoint::_save_none_monitor_checkpoint(Trainer& trainer, const MetricMap& candidates) {
  const std::string filepath = get_metric_interpolated_filepath_name(candidates, trainer, best_model_path_);
  // Set before writing: the file's own state records it.
  const std::string previous = best_model_path_;
  best_model_path_ = filepath;
  _save_checkpoint(trainer, filepath);
  if (options_.save_top_k() == 1 && !previous.empty() && _should_remove_checkpoint(trainer, previous, filepath)) {
    _remove_checkpoint(trainer, previous);
  }
}

void ModelCheckpoint::_save_last_checkpoint(Trainer& trainer, const MetricMap& candidates) {
  if (!is_enabled(options_.save_last())) return;
  std::string filepath = format_checkpoint_name(candidates, checkpoint_name_last);
  if (options_.enable_version_counter()) {
    std::int64_t version = starting_version;
    while (file_exists(filepath, trainer) && filepath != last_model_path_) {
      filepath = format_checkpoint_name(candidates, checkpoint_name_last, version);
      ++version;
    }
  }
  // Set before writing: the file's own state records it.
  const std::string previous = last_model_path_;
  last_model_path_ = filepath;
  if (options_.save_last() == SaveLast::link && !last_checkpoint_saved_.empty() && options_.save_top_k() != 0) {
    _link_checkpoint(trainer, last_checkpoint_saved_, filepath);
  } else {
    _save_checkpoint(trainer, filepath);
  }
  if (!previous.empty() && _should_remove_checkpoint(trainer, previous, filepath)) {
    _remove_checkpoint(trainer, previous);
  }
}

bool ModelCheckpoint::_should_remove_checkpoint(const Trainer& trainer, const std::string& previous,
                                                const std::string& current) const {
  if (previous == current) return false;
  if (!is_local_path(previous)) return true;
  const auto previous_parts = pathlib_absolute_parts(previous);
  const auto& resume = trainer.ckpt_path();
  if (resume && pathlib_absolute_parts(*resume) == previous_parts) return false;
  if (!dirpath_) return false;
  const auto dir_parts = pathlib_absolute_parts(*dirpath_);
  return dir_parts.size() < previous_parts.size() &&
         std::equal(dir_parts.begin(), dir_parts.end(), previous_parts.begin());
}

// ---- file steps -------------------------------------------------------------------------------------------------

void ModelCheckpoint::mark_checkpoint_saved(const Trainer& trainer, const std::string& filepath) {
  last_global_step_saved_ = trainer.global_step();
  last_checkpoint_saved_ = filepath;
}

void ModelCheckpoint::_save_checkpoint(Trainer& trainer, const std::string& filepath) {
  trainer.save_checkpoint(filepath, options_.save_weights_only());
  mark_checkpoint_saved(trainer, filepath);
  if (trainer.is_global_zero()) {
    for (const auto& logger : trainer.loggers()) logger->after_save_checkpoint(filepath);
  }
}

void ModelCheckpoint::_remove_checkpoint(Trainer& trainer, const std::string& filepath) {
  if (!trainer.is_global_zero()) return;
  std::error_code ec;
  if (!fs::exists(filepath, ec)) return;  // follows links: a dangling link is left alone, as in Lightning
  fs::remove_all(filepath, ec);
  if (ec) throw StorageError("ModelCheckpoint could not remove `" + filepath + "`: " + ec.message());
}

void ModelCheckpoint::_link_checkpoint(Trainer& trainer, const std::string& filepath, const std::string& linkpath) {
  if (!trainer.is_global_zero()) return;
  const std::string target_abs = python_abspath(filepath);
  const std::string link_abs = python_abspath(linkpath);
  if (target_abs == link_abs) return;  // a link to itself would make the file unreadable
  std::error_code ec;
  const auto status = fs::symlink_status(linkpath, ec);
  if (fs::is_symlink(status) || fs::is_regular_file(fs::status(linkpath, ec))) {
    fs::remove(linkpath, ec);
  } else if (fs::is_directory(status)) {
    fs::remove_all(linkpath, ec);
  }
  const fs::path relative = fs::path(target_abs).lexically_relative(fs::path(link_abs).parent_path());
  ec.clear();
  fs::create_symlink(relative, linkpath, ec);
  if (ec) {
    std::error_code copy_ec;
    fs::copy_file(filepath, linkpath, fs::copy_options::overwrite_existing, copy_ec);
    if (copy_ec) {
      throw StorageError("ModelCheckpoint could not link or copy `" + filepath + "` to `" + linkpath +
                         "`: " + copy_ec.message());
    }
  }
}

// ---- last files -----------------------------------------------------------------------------------------------------

std::vector<std::string> ModelCheckpoint::find_last_checkpoints(const std::string& dirpath,
                                                                const std::string& name_last,
                                                                const std::string& file_extension) {
  std::vector<std::string> found;
  std::error_code ec;
  if (!fs::is_directory(dirpath, ec)) return found;
  for (fs::directory_iterator it(dirpath, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const auto [stem, suffix] = stem_and_suffix(name);
    if (suffix == file_extension && stem.compare(0, name_last.size(), name_last) == 0) {
      found.push_back(python_abspath(it->path().string()));
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

std::vector<std::string> ModelCheckpoint::_find_last_checkpoints(const Trainer& trainer) const {
  return find_last_checkpoints(resolve_ckpt_dir(trainer), checkpoint_name_last, file_extension);
}

}  // namespace lamin::pl
