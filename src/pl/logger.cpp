// Logger helpers: version folders (Lightning's `_get_next_version`) and the pieces the file loggers share.

#include "lamin/pl/logger.hpp"

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "core/python.hpp"
#include "logger_internal.hpp"

namespace lamin::pl {

namespace fs = std::filesystem;

std::string version_folder_name(const LoggerVersion& version) {
  if (const auto* s = std::get_if<std::string>(&version)) return *s;
  return "version_" + std::to_string(std::get<std::int64_t>(version));
}

std::int64_t next_logger_version(const std::string& root_dir) {
  std::error_code ec;
  const fs::path root = root_dir.empty() ? fs::path(".") : fs::path(root_dir);
  if (!fs::is_directory(root, ec)) return 0;
  fs::directory_iterator it(root, ec);
  if (ec) return 0;

  bool found = false;
  std::int64_t best = 0;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return found ? best + 1 : 0;
    const std::string name = it->path().filename().string();
    if (name.rfind("version_", 0) != 0) continue;
    std::error_code dir_ec;
    if (!it->is_directory(dir_ec)) continue;  // follows symlinks, like os.path.isdir
    // Python: name.split("_")[1].isdigit(), i.e. the text between the first and the second '_'.
    const std::size_t begin = 8;
    const std::size_t end = name.find('_', begin);
    const std::string text = name.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    if (text.empty()) continue;
    bool digits = true;
    for (char c : text) digits = digits && std::isdigit(static_cast<unsigned char>(c));
    if (!digits) continue;
    std::int64_t v = 0;
    bool overflow = false;
    for (char c : text) {
      if (v > (INT64_MAX - (c - '0')) / 10) {
        overflow = true;
        break;
      }
      v = v * 10 + (c - '0');
    }
    if (overflow) continue;
    if (!found || v > best) best = v;
    found = true;
  }
  return found ? best + 1 : 0;
}

namespace detail {

int environment_rank() {
  for (const char* key : {"RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"}) {
    if (const char* value = std::getenv(key)) {
      char* end = nullptr;
      const long rank = std::strtol(value, &end, 10);
      if (end != value && *end == '\0') return static_cast<int>(rank);
    }
  }
  return 0;
}

MetricMap add_prefix(const MetricMap& metrics, const std::string& prefix, const std::string& separator) {
  if (prefix.empty()) return metrics;
  MetricMap out;
  for (const auto& [name, value] : metrics) out.set(prefix + separator + name, value);
  return out;
}

std::string metric_text(const Scalar& value) {
  if (value.integral) return lamin::detail::python_repr(value.as_int());
  return lamin::detail::python_repr(value.value);
}

}  // namespace detail
}  // namespace lamin::pl
