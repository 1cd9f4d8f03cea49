#pragma once
// LaminDB's uids: base62 text from a CSPRNG, with a 4-character version suffix for versioned records.

#include <cstddef>
#include <string>
#include <string_view>

namespace lamin {

/// LaminDB's base62 alphabet, in the order used for generation and version arithmetic.
constexpr std::string_view kBase62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `n` random base62 characters (lamindb/base/uids.py::base62).
std::string base62_uid(std::size_t n);

/// Value of a base62 text; throws lamin::ValidationError for characters outside the alphabet.
unsigned long long base62_decode(std::string_view text);

/// The next version suffix: base62 + 1 with carry, left-padded with '0' to `width` ("0009" -> "000A",
/// "000Z" -> "000a", "000z" -> "0010"). Throws lamin::ValidationError when the suffix would overflow.
std::string increment_version_suffix(std::string_view suffix, std::size_t width = 4);

/// Uid lengths (the column sizes of LaminDB's tables).
constexpr std::size_t kArtifactUidLength = 20;
constexpr std::size_t kTransformUidLength = 16;
constexpr std::size_t kRunUidLength = 16;
constexpr std::size_t kFeatureUidLength = 12;
constexpr std::size_t kVersionSuffixLength = 4;

}  // namespace lamin
