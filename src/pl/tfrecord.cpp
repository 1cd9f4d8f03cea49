#include "tfrecord.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "crc32c.hpp"
#include "lamin/error.hpp"

namespace lamin::pl::detail {
namespace {

void put_le(std::string& out, std::uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFFu));
}

}  // namespace

std::string frame_record(std::string_view data) {
  std::string out;
  out.reserve(data.size() + 16);
  put_le(out, data.size(), 8);
  put_le(out, masked_crc32c(out.data(), 8), 4);
  out.append(data.data(), data.size());
  put_le(out, masked_crc32c(data.data(), data.size()), 4);
  return out;
}

RecordWriter::RecordWriter(std::string path) : path_(std::move(path)) {
  file_ = std::fopen(path_.c_str(), "wb");
  if (!file_) throw StorageError("Could not create " + path_ + ": " + std::strerror(errno));
}

RecordWriter::~RecordWriter() {
  if (file_) std::fclose(file_);
}

void RecordWriter::write(std::string_view data) {
  if (!file_) return;
  const std::string record = frame_record(data);
  if (std::fwrite(record.data(), 1, record.size(), file_) != record.size())
    throw StorageError("Could not write to " + path_ + ": " + std::strerror(errno));
}

void RecordWriter::flush() {
  if (file_ && std::fflush(file_) != 0)
    throw StorageError("Could not write to " + path_ + ": " + std::strerror(errno));
}

void RecordWriter::close() {
  if (!file_) return;
  const int rc = std::fclose(file_);
  file_ = nullptr;
  if (rc != 0) throw StorageError("Could not close " + path_ + ": " + std::strerror(errno));
}

}  // namespace lamin::pl::detail
