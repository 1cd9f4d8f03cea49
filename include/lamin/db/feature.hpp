#pragma once
// lamin::Feature: a row of `lamindb_feature`, a named, typed dimension for values on artifacts and runs.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace lamin {

/// The dtypes a Feature can have here: LaminDB's `_dtype_str` for non-categorical features.
/// "bool", "int", "float", "num" (int or float), "str", "dict", "datetime", "date", and "list[<dtype>]".
bool is_supported_dtype(const std::string& dtype);

struct Feature {
  std::int64_t id = 0;
  std::string uid;  ///< 12 characters.
  std::string name;
  std::optional<std::string> dtype;  ///< `_dtype_str`; null for feature types (`is_type`).
  bool is_type = false;
  std::optional<std::int64_t> type_id;
  std::optional<std::string> unit;
  std::optional<std::string> description;
  std::optional<bool> nullable;
  std::int64_t branch_id = 1;

  /// The dtype text shown by describe(): `_dtype_str` with a `cat[...]` wrapper stripped.
  std::string dtype_display() const;
};

/// Throws lamin::ValidationError unless `value` is valid for `feature`'s dtype, strictly as LaminDB checks it:
/// an int is not a float, a bool is not an int ("Expected dtype for 'score' is 'float', got 'int'").
void validate_feature_value(const Feature& feature, const nlohmann::json& value);

/// Options for Registry::create_feature (LaminDB's `ln.Feature(name=..., dtype=..., type=...)`).
struct FeatureOptions {
  FeatureOptions() = default;
  FeatureOptions(std::string name, std::string dtype) : name_(std::move(name)), dtype_(std::move(dtype)) {}
  FeatureOptions& name(std::string v) { name_ = std::move(v); return *this; }
  FeatureOptions& dtype(std::string v) { dtype_ = std::move(v); return *this; }
  /// A feature type: a grouping node (`is_type=True`) that features can point to with `type(...)`.
  FeatureOptions& is_type(bool v) { is_type_ = v; return *this; }
  FeatureOptions& type(const Feature& t) { type_id_ = t.id; return *this; }
  FeatureOptions& description(std::string v) { description_ = std::move(v); return *this; }
  FeatureOptions& unit(std::string v) { unit_ = std::move(v); return *this; }
  /// Force `_dtype_str` on a feature type (LaminDB does this for "lamindb.lightning").
  FeatureOptions& type_dtype_str(std::string v) { type_dtype_str_ = std::move(v); return *this; }

  const std::string& name() const { return name_; }
  const std::optional<std::string>& dtype() const { return dtype_; }
  bool is_type() const { return is_type_; }
  std::optional<std::int64_t> type_id() const { return type_id_; }
  const std::optional<std::string>& description() const { return description_; }
  const std::optional<std::string>& unit() const { return unit_; }
  const std::optional<std::string>& type_dtype_str() const { return type_dtype_str_; }

 private:
  std::string name_;
  std::optional<std::string> dtype_;
  bool is_type_ = false;
  std::optional<std::int64_t> type_id_;
  std::optional<std::string> description_, unit_, type_dtype_str_;
};

/// A feature named by text (resolved as LaminDB resolves names) or given as a record (exact).
class FeatureRef {
 public:
  FeatureRef(const char* name) : name_(name) {}                    // NOLINT: implicit, like a Python key.
  FeatureRef(std::string name) : name_(std::move(name)) {}         // NOLINT
  FeatureRef(const Feature& feature) : name_(feature.name), id_(feature.id) {}  // NOLINT
  const std::string& name() const { return name_; }
  std::optional<std::int64_t> id() const { return id_; }

 private:
  std::string name_;
  std::optional<std::int64_t> id_;
};

/// Values for add_values: `{{"score", 0.5}, {"is_best_model", true}}`. Null values are skipped.
using FeatureValues = std::vector<std::pair<FeatureRef, nlohmann::json>>;

}  // namespace lamin
