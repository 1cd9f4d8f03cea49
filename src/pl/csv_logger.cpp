// CSVLogger: Lightning's `CSVLogger` / `ExperimentWriter` (pytorch flavour), writing the same bytes.

#include "lamin/pl/csv_logger.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <system_error>

#include "core/file_io.hpp"
#include "core/python.hpp"
#include "lamin/error.hpp"
#include "lamin/log.hpp"
#include "logger_internal.hpp"

namespace lamin::pl {

namespace fs = std::filesystem;

namespace {

// Python csv's QUOTE_MINIMAL: quote fields holding the delimiter, the quote character or a line break.
void append_csv_field(std::string& out, const std::string& field) {
  if (field.find_first_of(",\"\r\n") == std::string::npos) {
    out += field;
    return;
  }
  out += '"';
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

void append_csv_row(std::string& out, const std::vector<std::string>& fields) {
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) out += ',';
    append_csv_field(out, fields[i]);
  }
  if (fields.size() == 1 && fields[0].empty()) out += "\"\"";  // csv writes a lone empty field as ""
  out += "\r\n";
}

// Python csv.reader over the whole text (default dialect), skipping blank rows like csv.DictReader.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool in_quotes = false, field_started = false;
  auto end_row = [&]() {
    if (field_started || !row.empty()) {
      row.push_back(field);
      rows.push_back(row);
    }
    row.clear();
    field.clear();
    field_started = false;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        field += c;
      }
    } else if (c == '"') {
      in_quotes = true;
      field_started = true;
    } else if (c == ',') {
      row.push_back(field);
      field.clear();
      field_started = true;
    } else if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      end_row();
    } else {
      field += c;
      field_started = true;
    }
  }
  end_row();
  return rows;
}

}  // namespace

CSVLogger::CSVLogger(CSVLoggerOptions options) : options_(std::move(options)), rank_(detail::environment_rank()) {
  if (options_.flush_logs_every_n_steps() < 1)
    throw ConfigurationError("`flush_logs_every_n_steps` must be at least 1, got " +
                             std::to_string(options_.flush_logs_every_n_steps()));
}

CSVLogger::CSVLogger(std::string save_dir, std::string name, std::optional<LoggerVersion> version,
                     std::string prefix, std::int64_t flush_logs_every_n_steps)
    : CSVLogger(CSVLoggerOptions()
                    .save_dir(std::move(save_dir))
                    .name(std::move(name))
                    .version(std::move(version))
                    .prefix(std::move(prefix))
                    .flush_logs_every_n_steps(flush_logs_every_n_steps)) {}

LoggerVersion CSVLogger::version() {
  if (!options_.version()) options_.version(LoggerVersion(next_logger_version(root_dir())));
  return *options_.version();
}

std::string CSVLogger::root_dir() const { return lamin::detail::python_path_join(options_.save_dir(), options_.name()); }

std::optional<std::string> CSVLogger::log_dir() { return lamin::detail::python_path_join(root_dir(), version_folder_name(version())); }

std::string CSVLogger::metrics_file_path() { return lamin::detail::python_path_join(*log_dir(), kNameMetricsFile); }

void CSVLogger::init_experiment() {
  if (!rank_zero() || experiment_) return;
  const std::string dir = *log_dir();
  std::error_code ec;
  fs::create_directories(root_dir().empty() ? "." : root_dir(), ec);
  if (fs::is_directory(dir, ec) && !fs::is_empty(dir, ec)) {
    log::warn("Experiment logs directory " + dir +
              " exists and is not empty. Previous log files in this directory will be deleted when the new ones are"
              " saved!");
    const std::string metrics = metrics_file_path();
    if (fs::is_regular_file(metrics, ec)) fs::remove(metrics, ec);
  }
  fs::create_directories(dir, ec);
  if (!fs::is_directory(dir)) throw StorageError("Could not create the log directory " + dir + ": " + ec.message());
  experiment_ = true;
}

void CSVLogger::ensure_experiment() { init_experiment(); }

void CSVLogger::log_metrics(const MetricMap& metrics, std::int64_t step) {
  if (!rank_zero()) return;
  ensure_experiment();
  Row row;
  for (const auto& [name, value] : detail::add_prefix(metrics, options_.prefix(), kLoggerJoinChar)) {
    if (name == "step") continue;  // Python: metrics["step"] = step overwrites it
    row.emplace_back(name, detail::metric_text(value));
  }
  row.emplace_back("step", std::to_string(step));
  pending_.push_back(std::move(row));
  if ((step + 1) % options_.flush_logs_every_n_steps() == 0) save();
}

void CSVLogger::log_hyperparams(const nlohmann::json& params) {
  if (!rank_zero()) return;
  if (!params.is_null() && !params.is_object())
    throw ConfigurationError("log_hyperparams expects a JSON object, got " + std::string(params.type_name()));
  ensure_experiment();
  if (params.is_object())
    for (auto it = params.begin(); it != params.end(); ++it) hparams_[it.key()] = it.value();
  lamin::detail::atomic_write(fs::path(*log_dir()) / kNameHparamsFile, lamin::detail::yaml_dump(hparams_),
                              /*durable=*/false);
}

void CSVLogger::save() {
  if (!rank_zero()) return;
  ensure_experiment();
  if (pending_.empty()) return;

  std::set<std::string> known(metrics_keys_.begin(), metrics_keys_.end());
  bool new_keys = false;
  for (const auto& row : pending_)
    for (const auto& cell : row)
      if (known.insert(cell.first).second) new_keys = true;
  if (new_keys) metrics_keys_.assign(known.begin(), known.end());  // std::set is sorted like list.sort()

  const std::string path = metrics_file_path();
  std::error_code ec;
  const bool file_exists = fs::is_regular_file(path, ec);

  std::string text;
  auto append_pending = [&]() {
    for (const auto& row : pending_) {
      std::map<std::string, const std::string*> by_key;
      for (const auto& cell : row) by_key[cell.first] = &cell.second;
      std::vector<std::string> fields;
      fields.reserve(metrics_keys_.size());
      for (const auto& key : metrics_keys_) {
        auto it = by_key.find(key);
        fields.push_back(it == by_key.end() ? std::string() : *it->second);
      }
      append_csv_row(text, fields);
    }
  };

  if (!file_exists || new_keys) {
    // A fresh file, or the header grew: write the whole file (old rows under the new header) atomically.
    append_csv_row(text, metrics_keys_);
    if (file_exists) {
      const auto rows = parse_csv(lamin::detail::read_file(path));
      if (!rows.empty()) {
        const auto& header = rows.front();
        for (std::size_t r = 1; r < rows.size(); ++r) {
          std::map<std::string, std::string> by_key;
          for (std::size_t c = 0; c < header.size() && c < rows[r].size(); ++c) by_key[header[c]] = rows[r][c];
          std::vector<std::string> fields;
          for (const auto& key : metrics_keys_) {
            auto it = by_key.find(key);
            fields.push_back(it == by_key.end() ? std::string() : it->second);
          }
          append_csv_row(text, fields);
        }
      }
    }
    append_pending();
    lamin::detail::atomic_write(path, text, /*durable=*/false);
  } else {
    append_pending();
    std::ofstream out(path, std::ios::binary | std::ios::app);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    out.flush();
    if (!out) throw StorageError("Could not append to " + path);
  }
  pending_.clear();
}

void CSVLogger::finalize(const std::string& status) {
  (void)status;
  if (!rank_zero() || !experiment_) return;
  save();
}

}  // namespace lamin::pl
