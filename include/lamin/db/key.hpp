#pragma once
// Artifact keys and file suffixes, validated as LaminDB validates them.

#include <filesystem>
#include <string>
#include <string_view>

namespace lamin {

/// Longest key LaminDB accepts (the `key` column is varchar(1024)).
constexpr std::size_t kMaxKeyLength = 1024;

/// Throws lamin::ValidationError unless `key` is a valid artifact key: not empty, at most 1024 characters, no
/// backslash, no NUL or other control characters, no `.` or `..` path segment, no `.lamindb/` segment (LaminDB's
/// `check_key`). Keys are virtual names, never used as file paths.
void validate_key(std::string_view key);

/// LaminDB's canonical suffix of a file path (lamindb_setup/core/canonical_suffix.py, simplified): the last known
/// suffix lower-cased (`.ckpt`, `.pt`, `.yaml`, `.tar.gz`, ...), or "" when the last suffix is not a known one.
std::string canonical_suffix(const std::filesystem::path& path);

/// Throws lamin::ValidationError unless the key's suffix matches the file's canonical suffix (LaminDB's
/// "The suffix '…' of the provided key is incorrect, it should be '…'.").
void validate_key_suffix(std::string_view key, std::string_view file_suffix);

}  // namespace lamin
