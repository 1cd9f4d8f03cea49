// TensorBoardLogger: Lightning's `TensorBoardLogger` over a small event-file writer of our own (TFRecord framing,
// protobuf encoding by hand), producing what torch.utils.tensorboard's SummaryWriter writes for scalars and hparams.

#include "lamin/pl/tensorboard_logger.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

#include "core/file_io.hpp"
#include "event_proto.hpp"
#include "core/python.hpp"
#include "lamin/error.hpp"
#include "logger_internal.hpp"
#include "tfrecord.hpp"

namespace lamin::pl {

namespace fs = std::filesystem;

namespace {

double wall_time_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// TensorBoard's process-wide event file counter (the last part of the file name).
int next_event_file_uid() {
  static std::atomic<int> counter{0};
  return counter.fetch_add(1);
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

using FlatParams = std::vector<std::pair<std::string, nlohmann::json>>;

void flat_set(FlatParams& out, const std::string& key, const nlohmann::json& value) {
  for (auto& entry : out)
    if (entry.first == key) {
      entry.second = value;
      return;
    }
  out.emplace_back(key, value);
}

// Lightning's `_flatten_dict(params, delimiter="/")`: nested objects, and lists made only of objects, become
// `a/b` and `a/0/b` keys.
void flatten(const nlohmann::json& params, const std::string& parent, FlatParams& out) {
  for (auto it = params.begin(); it != params.end(); ++it) {
    const std::string key = parent.empty() ? it.key() : parent + "/" + it.key();
    const nlohmann::json& v = it.value();
    bool all_objects = v.is_array();
    if (all_objects)
      for (const auto& item : v) all_objects = all_objects && item.is_object();
    if (v.is_object()) {
      flatten(v, key, out);
    } else if (all_objects) {
      for (std::size_t i = 0; i < v.size(); ++i) flatten(v[i], key + "/" + std::to_string(i), out);
    } else {
      flat_set(out, key, v);
    }
  }
}

// Lightning's `_sanitize_params` (non-primitives become their Python str) and torch's hparams() value mapping
// (bools, ints and floats are numbers).
std::vector<detail::HParam> sanitize(const FlatParams& flat) {
  std::vector<detail::HParam> out;
  for (const auto& [name, v] : flat) {
    detail::HParam hp{name, std::nullopt, ""};
    if (v.is_boolean()) {
      hp.number = v.get<bool>() ? 1.0 : 0.0;
    } else if (v.is_number()) {
      hp.number = v.get<double>();
    } else if (v.is_string()) {
      hp.text = v.get<std::string>();
    } else {
      hp.text = lamin::detail::python_str(v);
    }
    out.push_back(std::move(hp));
  }
  return out;
}

}  // namespace

TensorBoardLogger::TensorBoardLogger(TensorBoardLoggerOptions options)
    : options_(std::move(options)), rank_(detail::environment_rank()) {}

TensorBoardLogger::TensorBoardLogger(std::string save_dir, std::string name, std::optional<LoggerVersion> version,
                                     bool default_hp_metric, std::string prefix, std::optional<std::string> sub_dir)
    : TensorBoardLogger(TensorBoardLoggerOptions()
                            .save_dir(std::move(save_dir))
                            .name(std::move(name))
                            .version(std::move(version))
                            .default_hp_metric(default_hp_metric)
                            .prefix(std::move(prefix))
                            .sub_dir(std::move(sub_dir))) {}

TensorBoardLogger::~TensorBoardLogger() = default;

LoggerVersion TensorBoardLogger::version() {
  if (!options_.version()) options_.version(LoggerVersion(next_logger_version(root_dir())));
  return *options_.version();
}

std::string TensorBoardLogger::root_dir() const { return lamin::detail::python_path_join(options_.save_dir(), options_.name()); }

std::optional<std::string> TensorBoardLogger::log_dir() {
  std::string dir = lamin::detail::python_path_join(root_dir(), version_folder_name(version()));
  if (options_.sub_dir()) dir = lamin::detail::python_path_join(dir, *options_.sub_dir());
  return lamin::detail::python_expanduser(lamin::detail::python_expandvars(dir));
}

void TensorBoardLogger::init_experiment() {
  if (!rank_zero() || writer_) return;
  std::error_code ec;
  if (!root_dir().empty()) fs::create_directories(root_dir(), ec);
  const std::string dir = *log_dir();
  fs::create_directories(dir, ec);
  if (!fs::is_directory(dir)) throw StorageError("Could not create the log directory " + dir + ": " + ec.message());

  const double now = wall_time_now();
  char name[512];
  std::snprintf(name, sizeof(name), "events.out.tfevents.%010lld.%s.%lld.%d", static_cast<long long>(now),
                host_name().c_str(), static_cast<long long>(::getpid()), next_event_file_uid());
  event_file_ = lamin::detail::python_path_join(dir, std::string(name) + options_.filename_suffix());
  writer_ = std::make_unique<detail::RecordWriter>(event_file_);
  writer_->write(detail::file_version_event(now));
  writer_->flush();
}

void TensorBoardLogger::write_scalars(const MetricMap& metrics, std::optional<std::int64_t> step) {
  init_experiment();
  for (const auto& [name, value] : detail::add_prefix(metrics, options_.prefix(), kLoggerJoinChar))
    writer_->write(
        detail::summary_event(wall_time_now(), step, detail::scalar_summary(name, static_cast<float>(value.value))));
}

void TensorBoardLogger::log_metrics(const MetricMap& metrics, std::int64_t step) {
  if (!rank_zero()) return;
  write_scalars(metrics, step);
}

void TensorBoardLogger::log_hyperparams(const nlohmann::json& params) {
  MetricMap metrics;
  if (options_.default_hp_metric()) metrics.set("hp_metric", Scalar::integer(-1));
  log_hyperparams(params, metrics, std::nullopt);
}

void TensorBoardLogger::log_hyperparams(const nlohmann::json& params, const MetricMap& metrics,
                                        std::optional<std::int64_t> step) {
  if (!rank_zero()) return;
  if (!params.is_null() && !params.is_object())
    throw ConfigurationError("log_hyperparams expects a JSON object, got " + std::string(params.type_name()));
  if (params.is_object())
    for (auto it = params.begin(); it != params.end(); ++it) hparams_[it.key()] = it.value();
  if (metrics.empty()) return;

  FlatParams flat;
  if (params.is_object()) flatten(params, "", flat);
  const std::vector<detail::HParam> hps = sanitize(flat);

  write_scalars(metrics, step);
  const double now = wall_time_now();
  writer_->write(detail::summary_event(now, step, detail::hparams_experiment_summary(hps, metrics.keys())));
  writer_->write(detail::summary_event(now, step, detail::hparams_session_start_summary(hps)));
  writer_->write(detail::summary_event(now, step, detail::hparams_session_end_summary()));
}

void TensorBoardLogger::save() {
  if (!rank_zero()) return;
  init_experiment();
  writer_->flush();
  const std::string dir = *log_dir();
  const fs::path hparams_file = fs::path(dir) / kNameHparamsFile;
  std::error_code ec;
  if (fs::is_directory(dir, ec) && !fs::is_regular_file(hparams_file, ec))
    lamin::detail::atomic_write(hparams_file, lamin::detail::yaml_dump(hparams_), /*durable=*/false);
}

void TensorBoardLogger::finalize(const std::string& status) {
  if (!rank_zero()) return;
  if (writer_) {
    writer_->flush();
    writer_->close();
  }
  if (status == "success") save();
}

}  // namespace lamin::pl
