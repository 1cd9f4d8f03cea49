#pragma once
// lamin::Transform: a row of `lamindb_transform`, the program that runs execute (LaminDB's `ln.Transform`).

#include <cstdint>
#include <optional>
#include <string>

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
  TransformOptions& key(std::string v) { key_ = std::move(v); return *this; }
  TransformOptions& kind(std::string v) { kind_ = std::move(v); return *this; }
  TransformOptions& description(std::string v) { description_ = std::move(v); return *this; }
  TransformOptions& source_code(std::string v) { source_code_ = std::move(v); return *this; }
  /// The content hash; default: hash_string(source_code) when source code is given.
  TransformOptions& hash(std::string v) { hash_ = std::move(v); return *this; }
  TransformOptions& reference(std::string v, std::string type) { reference_ = std::move(v); reference_type_ = std::move(type); return *this; }
  TransformOptions& version_tag(std::string v) { version_tag_ = std::move(v); return *this; }

  const std::string& key() const { return key_; }
  const std::string& kind() const { return kind_; }
  const std::optional<std::string>& description() const { return description_; }
  const std::optional<std::string>& source_code() const { return source_code_; }
  const std::optional<std::string>& hash() const { return hash_; }
  const std::optional<std::string>& reference() const { return reference_; }
  const std::optional<std::string>& reference_type() const { return reference_type_; }
  const std::optional<std::string>& version_tag() const { return version_tag_; }

 private:
  std::string key_;
  std::string kind_ = "script";
  std::optional<std::string> description_, source_code_, hash_, reference_, reference_type_, version_tag_;
};

}  // namespace lamin
