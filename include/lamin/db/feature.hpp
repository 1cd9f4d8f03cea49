#pragma once
// lamin::Feature: a row of `lamindb_feature`, a named, typed dimension for values on artifacts and runs.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "lamin/arg.hpp"

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

/// Options for Registry::create_feature (LaminDB's `ln.Feature(name=..., dtype=..., type=...)`):
/// `FeatureOptions("val_loss", "float").description("validation loss")`.
struct FeatureOptions {
  FeatureOptions() = default;
  FeatureOptions(std::string name, std::string dtype) : name_(std::move(name)), dtype_(std::move(dtype)) {}

  LAMIN_ARG(std::string, name) = "";
  LAMIN_ARG(std::optional<std::string>, dtype) = std::nullopt;
  /// A feature type: a grouping node (`is_type=True`) that features can point to with `type(...)`.
  LAMIN_ARG(bool, is_type) = false;
  /// The id of the feature type this feature belongs to; `type(feature_type)` sets it from the record.
  LAMIN_ARG(std::optional<std::int64_t>, type_id) = std::nullopt;
  LAMIN_ARG(std::optional<std::string>, description) = std::nullopt;
  LAMIN_ARG(std::optional<std::string>, unit) = std::nullopt;
  /// Force `_dtype_str` on a feature type (LaminDB does this for "lamindb.lightning").
  LAMIN_ARG(std::optional<std::string>, type_dtype_str) = std::nullopt;

 public:
  /// LaminDB's `type=`: the feature type (a feature with `is_type`) this feature belongs to.
  FeatureOptions& type(const Feature& t) { return type_id(t.id); }
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
