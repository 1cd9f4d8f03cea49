#pragma once
// lamin::Transform: a row of `lamindb_transform`, the program that runs execute (LaminDB's `ln.Transform`).

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "lamin/arg.hpp"

namespace lamin {

struct Transform {
  std::int64_t id = 0;
  std::string uid;  ///< 16 characters: 12-character stem + 4-character version suffix.
  std::string key;  ///< e.g. the program's file name.
  std::optional<std::string> description;
  std::string kind;  ///< "pipeline", "notebook", "script" or "function".
  std::optional<std::string> source_code;
  std::optional<std::string> hash;
  std::optional<std::string> reference;
  std::optional<std::string> reference_type;
  std::optional<std::string> version_tag;
  bool is_latest = true;
  std::string created_at;
};

/// Options for Registry::create_transform. A transform with the same key and hash is reused; the same key with a
/// different hash becomes a new version (same 12-character stem, incremented suffix).
struct TransformOptions {
  TransformOptions() = default;
  TransformOptions(std::string key) : key_(std::move(key)) {}  // NOLINT: reads like the Python keyword.

  LAMIN_ARG(std::string, key) = "";
  /// "pipeline", "notebook", "script" or "function".
  LAMIN_ARG(std::string, kind) = "script";
  LAMIN_ARG(std::optional<std::string>, description) = std::nullopt;
  LAMIN_ARG(std::optional<std::string>, source_code) = std::nullopt;
  /// The content hash; default: hash_string(source_code) when source code is given.
  LAMIN_ARG(std::optional<std::string>, hash) = std::nullopt;
  /// The reference and its type; `reference(value, type)` sets both.
  LAMIN_ARG(std::optional<std::string>, reference) = std::nullopt;
  LAMIN_ARG(std::optional<std::string>, reference_type) = std::nullopt;
  LAMIN_ARG(std::optional<std::string>, version_tag) = std::nullopt;

 public:
  /// LaminDB's `reference=..., reference_type=...` in one call.
  TransformOptions& reference(std::string v, std::string type) {
    return reference(std::move(v)).reference_type(std::move(type));
  }
};

}  // namespace lamin
