#pragma once
// Putting a file's bytes into storage: hard link (zero copy) when allowed, reflink (copy-on-write) when the
// filesystem can, else a copy; always so that the destination name appears only with complete, synced content.

#include <cstdint>
#include <filesystem>

#include "lamin/db/artifact.hpp"

namespace lamin::detail {

enum class StoredBy { hard_link, reflink, copy };

/// Stores `source` at `dest` (which must not exist). Throws lamin::StorageError; leaves no partial `dest`.
/// `expected_size` guards against a source that changes while it is stored.
StoredBy store_file(const std::filesystem::path& source, const std::filesystem::path& dest, StorageMode mode,
                    std::uint64_t expected_size);

/// Prefix of temporary files in the storage folder (removed by Registry::recover).
constexpr const char* kStorageTempPrefix = ".tmp-lamin-";

}  // namespace lamin::detail
