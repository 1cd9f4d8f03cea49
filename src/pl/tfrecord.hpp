#pragma once
// TFRecord files, the container of TensorBoard's event files. Private to lamin::pl.

#include <cstdio>
#include <string>
#include <string_view>

namespace lamin::pl::detail {

/// One framed record: uint64 length (little-endian), masked CRC-32C of those 8 bytes, the data, masked CRC-32C of
/// the data (both CRCs as little-endian uint32).
std::string frame_record(std::string_view data);

/// Appends framed records to a file. Records are buffered by stdio until flush(). Throws lamin::StorageError
/// naming the file on failure.
class RecordWriter {
 public:
  /// Creates (or truncates) `path`.
  explicit RecordWriter(std::string path);
  ~RecordWriter();
  RecordWriter(const RecordWriter&) = delete;
  RecordWriter& operator=(const RecordWriter&) = delete;

  void write(std::string_view data);
  void flush();
  /// Flushes and closes; later writes and flushes are ignored.
  void close();
  bool closed() const { return file_ == nullptr; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace lamin::pl::detail
