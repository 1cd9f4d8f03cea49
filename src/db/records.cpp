// Small methods of the record types (Artifact, Run, Feature) and dtype validation.
#include <algorithm>
#include <cctype>

#include "lamin/db/artifact.hpp"
#include "lamin/db/feature.hpp"
#include "lamin/db/run.hpp"
#include "lamin/error.hpp"

namespace lamin {

std::string Artifact::version() const {
  if (version_tag) return *version_tag;
  return uid.size() >= 4 ? uid.substr(uid.size() - 4) : uid;
}

std::string Artifact::storage_key() const {
  return ".lamindb/" + (overwrite_versions ? stem_uid() : uid) + suffix;
}

bool Artifact::storage_in_progress() const {
  return aux.is_object() && aux.contains("so") && !aux["so"].is_null();
}

ArtifactOptions& ArtifactOptions::run(const Run& run) {
  run_mode_ = RunMode::given;
  run_id_ = run.id;
  return *this;
}

const char* to_string(RunStatus status) {
  switch (status) {
    case RunStatus::scheduled: return "scheduled";
    case RunStatus::restarted: return "restarted";
    case RunStatus::started: return "started";
    case RunStatus::completed: return "completed";
    case RunStatus::errored: return "errored";
    case RunStatus::aborted: return "aborted";
  }
  return "unknown";
}

namespace {

bool is_list_dtype(const std::string& dtype, std::string* inner) {
  if (dtype.size() > 6 && dtype.compare(0, 5, "list[") == 0 && dtype.back() == ']') {
    if (inner) *inner = dtype.substr(5, dtype.size() - 6);
    return true;
  }
  return false;
}

const char* python_type_name(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::null: return "NoneType";
    case nlohmann::json::value_t::boolean: return "bool";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned: return "int";
    case nlohmann::json::value_t::number_float: return "float";
    case nlohmann::json::value_t::string: return "str";
    case nlohmann::json::value_t::array: return "list";
    case nlohmann::json::value_t::object: return "dict";
    default: return "object";
  }
}

bool digits(const std::string& s, std::size_t pos, std::size_t n) {
  if (s.size() < pos + n) return false;
  for (std::size_t i = pos; i < pos + n; ++i)
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  return true;
}

bool is_iso_date(const std::string& s) {
  return s.size() >= 10 && digits(s, 0, 4) && s[4] == '-' && digits(s, 5, 2) && s[7] == '-' && digits(s, 8, 2);
}

bool matches(const std::string& dtype, const nlohmann::json& v) {
  std::string inner;
  if (dtype == "bool") return v.is_boolean();
  if (dtype == "int") return v.is_number_integer();
  if (dtype == "float") return v.is_number_float();
  if (dtype == "num") return v.is_number();
  if (dtype == "str") return v.is_string();
  if (dtype == "dict") return v.is_object();
  if (dtype == "date") return v.is_string() && v.get<std::string>().size() == 10 && is_iso_date(v.get<std::string>());
  if (dtype == "datetime") {
    if (!v.is_string()) return false;
    const auto& s = v.get_ref<const std::string&>();
    return s.size() >= 19 && is_iso_date(s) && (s[10] == 'T' || s[10] == ' ') && digits(s, 11, 2) && s[13] == ':';
  }
  if (is_list_dtype(dtype, &inner)) {
    if (!v.is_array()) return false;
    return std::all_of(v.begin(), v.end(), [&](const nlohmann::json& e) { return matches(inner, e); });
  }
  return false;
}

}  // namespace

bool is_supported_dtype(const std::string& dtype) {
  static const char* kScalar[] = {"bool", "int", "float", "num", "str", "dict", "date", "datetime"};
  for (const char* s : kScalar)
    if (dtype == s) return true;
  std::string inner;
  if (is_list_dtype(dtype, &inner)) return inner != "dict" && !is_list_dtype(inner, nullptr) && is_supported_dtype(inner);
  return false;
}

std::string Feature::dtype_display() const {
  if (!dtype) return "";
  const std::string& d = *dtype;
  if (d.size() > 5 && d.compare(0, 4, "cat[") == 0 && d.back() == ']') return d.substr(4, d.size() - 5);
  return d;
}

void validate_feature_value(const Feature& feature, const nlohmann::json& value) {
  if (feature.is_type) {
    throw ValidationError("Feature '" + feature.name + "' is a feature type (is_type=True) and cannot hold values.");
  }
  const std::string dtype = feature.dtype.value_or("");
  if (!is_supported_dtype(dtype)) {
    throw ValidationError("Feature '" + feature.name + "' has dtype '" + dtype +
                          "', which lamin-cpp cannot validate (categorical features are not supported yet).");
  }
  if (!matches(dtype, value)) {
    throw ValidationError("Expected dtype for '" + feature.name + "' is '" + dtype + "', got '" +
                          python_type_name(value) + "'");
  }
}

}  // namespace lamin
