#pragma once
// LaminDB's content hashes (lamindb_setup/core/hashing.py): what `Artifact.hash` and `JsonValue.hash` hold.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace lamin {

/// Files up to this size are hashed whole (md5); larger ones by their first and last chunk (sha1-fl).
constexpr std::uint64_t kHashChunkSize = 52428800;  // 50 MiB

/// The hash of a file, as LaminDB stores it.
struct FileHash {
  std::string hash;       ///< 22 characters of URL-safe base64, no padding.
  std::string hash_type;  ///< "md5" (whole file) or "sha1-fl" (first and last chunk).
  std::uint64_t size = 0;
};

/// LaminDB's `hash_file`: md5 of the whole file if size <= chunk_size, else
/// sha1(sha1(first chunk) || sha1(last chunk)). Reads at most 2 * chunk_size bytes, so its cost is bounded.
/// Throws lamin::NotFoundError or lamin::StorageError.
FileHash hash_file(const std::filesystem::path& path, std::uint64_t chunk_size = kHashChunkSize);

/// LaminDB's `hash_string`: URL-safe base64 of md5(UTF-8 text), 22 characters.
std::string hash_string(std::string_view text);

/// LaminDB's `hash_md5s_from_dir`-style encoding of raw digest bytes: URL-safe base64 without padding, first 22 chars.
std::string b64_hash(const unsigned char* digest, std::size_t size);

}  // namespace lamin
