// The Lightning oracle's builders: a case's `ckpt`, `trainer`, `logger` and `class_attrs` entries as lamin::pl
// options. A key the builders do not know is reported, never ignored.
#include <chrono>
#include <optional>

#include "lamin/pl/csv_logger.hpp"
#include "lamin/pl/tensorboard_logger.hpp"
#include "oracle/replay.hpp"

namespace replay {

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

namespace {

std::optional<std::int64_t> opt_int(const json& v) {
  if (v.is_null()) return std::nullopt;
  return v.get<std::int64_t>();
}

pl::IntOrFloat int_or_float(const json& v) {
  if (v.is_number_integer()) return pl::IntOrFloat(static_cast<long long>(v.get<std::int64_t>()));
  return pl::IntOrFloat(v.get<double>());
}

}  // namespace

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

}  // namespace replay
