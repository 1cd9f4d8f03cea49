#include "lamin/db/key.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "lamin/error.hpp"

namespace lamin {
namespace {

// Suffixes LaminDB recognises (lamindb_setup's VALID_SUFFIXES/KNOWN_SUFFIXES, the ones relevant here).
constexpr std::array<std::string_view, 44> kKnownSuffixes = {
    ".ckpt", ".pt", ".pth", ".safetensors", ".onnx", ".bin", ".h5", ".hdf5", ".keras", ".pkl", ".pickle",
    ".yaml", ".yml", ".json", ".toml", ".txt", ".md", ".html", ".csv", ".tsv", ".parquet", ".feather",
    ".npy", ".npz", ".h5ad", ".h5mu", ".zarr", ".zip", ".tar", ".gz", ".bz2", ".xz", ".zst", ".png",
    ".jpg", ".jpeg", ".svg", ".pdf", ".py", ".ipynb", ".log", ".fastq", ".bam", ".vcf"};
constexpr std::array<std::string_view, 8> kCompoundSuffixes = {".tar.gz", ".tar.bz2", ".tar.xz", ".csv.gz",
                                                               ".tsv.gz", ".json.gz", ".fastq.gz", ".vcf.gz"};

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

bool ends_with(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

}  // namespace

void validate_key(std::string_view key) {
  if (key.empty()) throw ValidationError("Invalid key '': a key cannot be empty.");
  if (key.size() > kMaxKeyLength) {
    throw ValidationError("Invalid key: the key has " + std::to_string(key.size()) + " characters, at most " +
                          std::to_string(kMaxKeyLength) + " are allowed.");
  }
  const std::string shown(key.substr(0, 80));
  if (key.find('\\') != std::string_view::npos) {
    throw ValidationError("Invalid key '" + shown + "': backslashes are not allowed, use forward slashes.");
  }
  for (unsigned char c : key) {
    if (c < 0x20 || c == 0x7f) throw ValidationError("Invalid key '" + shown + "': control characters are not allowed.");
  }
  std::size_t start = 0;
  while (start <= key.size()) {
    const std::size_t end = std::min(key.find('/', start), key.size());
    const std::string_view segment = key.substr(start, end - start);
    if (segment == "." || segment == "..") {
      throw ValidationError("Invalid key '" + shown + "': '" + std::string(segment) +
                            "' path segments are not allowed in keys.");
    }
    if (segment == ".lamindb" && end < key.size()) {
      throw ValidationError("Invalid key '" + shown + "': keys cannot contain '.lamindb/', it is reserved.");
    }
    start = end + 1;
  }
}

std::string canonical_suffix(const std::filesystem::path& path) {
  const std::string name = lower(path.filename().string());
  for (auto s : kCompoundSuffixes) {
    if (ends_with(name, s) && name.size() > s.size()) return std::string(s);
  }
  const auto dot = name.rfind('.');
  if (dot == std::string::npos || dot == 0) return "";
  const std::string last = name.substr(dot);
  for (auto s : kKnownSuffixes) {
    if (last == s) return last;
  }
  return "";
}

void validate_key_suffix(std::string_view key, std::string_view file_suffix) {
  const std::string key_suffix = canonical_suffix(std::filesystem::path(std::string(key)));
  if (key_suffix != file_suffix) {
    throw ValidationError("The suffix '" + key_suffix + "' of the provided key is incorrect, it should be '" +
                          std::string(file_suffix) + "'.");
  }
}

}  // namespace lamin
