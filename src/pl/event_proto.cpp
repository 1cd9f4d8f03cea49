#include "event_proto.hpp"

#include <cstring>

namespace lamin::pl::detail {
namespace {

constexpr int kWireVarint = 0;
constexpr int kWireFixed64 = 1;
constexpr int kWireBytes = 2;
constexpr int kWireFixed32 = 5;

constexpr int kDataTypeString = 1;
constexpr int kDataTypeFloat64 = 3;
constexpr int kStatusSuccess = 1;

// Summary{value: [Value{tag, metadata{plugin_data{plugin_name: "hparams", content}}}]}
std::string plugin_summary(const std::string& tag, const std::string& content) {
  ProtoWriter plugin_data;
  plugin_data.bytes_field(1, kHparamsPluginName);
  plugin_data.bytes_field(2, content);
  ProtoWriter metadata;
  metadata.bytes_field(1, plugin_data.bytes());
  ProtoWriter value;
  value.bytes_field(1, tag);
  value.bytes_field(9, metadata.bytes());
  ProtoWriter summary;
  summary.bytes_field(1, value.bytes());
  return summary.bytes();
}

// HParamsPluginData{version: 0 (the default, so not written), <field>: message}
std::string plugin_data(int field, const std::string& message) {
  ProtoWriter data;
  data.bytes_field(field, message);
  return data.bytes();
}

}  // namespace

void ProtoWriter::varint(std::uint64_t value) {
  while (value >= 0x80) {
    out_.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out_.push_back(static_cast<char>(value));
}

void ProtoWriter::varint_field(int field, std::uint64_t value) {
  varint((static_cast<std::uint64_t>(field) << 3) | kWireVarint);
  varint(value);
}

void ProtoWriter::double_field(int field, double value) {
  varint((static_cast<std::uint64_t>(field) << 3) | kWireFixed64);
  std::uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>((bits >> (8 * i)) & 0xFF));
}

void ProtoWriter::float_field(int field, float value) {
  varint((static_cast<std::uint64_t>(field) << 3) | kWireFixed32);
  std::uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  for (int i = 0; i < 4; ++i) out_.push_back(static_cast<char>((bits >> (8 * i)) & 0xFF));
}

void ProtoWriter::bytes_field(int field, std::string_view bytes) {
  varint((static_cast<std::uint64_t>(field) << 3) | kWireBytes);
  varint(bytes.size());
  out_.append(bytes.data(), bytes.size());
}

std::string file_version_event(double wall_time) {
  ProtoWriter event;
  event.double_field(1, wall_time);
  event.bytes_field(3, "brain.Event:2");
  return event.bytes();
}

std::string summary_event(double wall_time, std::optional<std::int64_t> step, const std::string& summary) {
  ProtoWriter event;
  if (wall_time != 0.0) event.double_field(1, wall_time);
  if (step && *step != 0) event.varint_field(2, static_cast<std::uint64_t>(*step));  // proto3: 0 is not written
  event.bytes_field(5, summary);
  return event.bytes();
}

std::string scalar_summary(const std::string& tag, float value) {
  ProtoWriter v;
  v.bytes_field(1, tag);
  v.float_field(2, value);  // a oneof member: written even when 0
  ProtoWriter summary;
  summary.bytes_field(1, v.bytes());
  return summary.bytes();
}

std::string hparams_experiment_summary(const std::vector<HParam>& hparams, const std::vector<std::string>& metrics) {
  ProtoWriter experiment;
  for (const auto& hp : hparams) {
    ProtoWriter info;
    info.bytes_field(1, hp.name);
    info.varint_field(4, hp.number ? kDataTypeFloat64 : kDataTypeString);
    experiment.bytes_field(4, info.bytes());
  }
  for (const auto& metric : metrics) {
    ProtoWriter name;
    name.bytes_field(2, metric);
    ProtoWriter info;
    info.bytes_field(1, name.bytes());
    experiment.bytes_field(5, info.bytes());
  }
  return plugin_summary(kHparamsExperimentTag, plugin_data(2, experiment.bytes()));
}

std::string hparams_session_start_summary(const std::vector<HParam>& hparams) {
  ProtoWriter start;
  for (const auto& hp : hparams) {
    ProtoWriter value;  // google.protobuf.Value
    if (hp.number) {
      value.double_field(2, *hp.number);
    } else {
      value.bytes_field(3, hp.text);
    }
    ProtoWriter entry;  // map entry {key = 1, value = 2}
    entry.bytes_field(1, hp.name);
    entry.bytes_field(2, value.bytes());
    start.bytes_field(1, entry.bytes());
  }
  return plugin_summary(kHparamsSessionStartTag, plugin_data(3, start.bytes()));
}

std::string hparams_session_end_summary() {
  ProtoWriter end;
  end.varint_field(1, kStatusSuccess);
  return plugin_summary(kHparamsSessionEndTag, plugin_data(4, end.bytes()));
}

}  // namespace lamin::pl::detail
