// TensorBoardLogger: layout, hparams.yaml, and event files decoded by a reader written here, independently of the
// writer (its own bitwise CRC-32C and protobuf decoding), plus CRC-32C's published test vectors.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/files.hpp"
#include "lamin/pl/tensorboard_logger.hpp"
#include "pl/crc32c.hpp"

namespace {

namespace fs = std::filesystem;
using lamin::pl::MetricMap;
using lamin::pl::Scalar;
using lamin::pl::TensorBoardLogger;
using lamin::pl::TensorBoardLoggerOptions;
using nlohmann::json;

using lamin::test::read_file;
using lamin::test::TempDir;

// ---- an independent reader ---------------------------------------------------------------------------------------

std::uint32_t bitwise_crc32c(const std::string& data) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : data) {
    crc ^= byte;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

std::uint32_t masked(const std::string& data) {
  const std::uint32_t crc = bitwise_crc32c(data);
  return static_cast<std::uint32_t>(((crc >> 15) | (crc << 17)) + 0xA282EAD8u);
}

std::uint64_t le(const std::string& s, std::size_t pos, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[pos + i]);
  return v;
}

// Splits a TFRecord file into its payloads, checking both CRCs of every record.
std::vector<std::string> read_records(const std::string& file) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < file.size()) {
    EXPECT_GE(file.size() - pos, 12u) << "truncated header";
    const std::uint64_t len = le(file, pos, 8);
    EXPECT_EQ(le(file, pos + 8, 4), masked(file.substr(pos, 8))) << "length CRC";
    EXPECT_GE(file.size() - pos - 12, len + 4) << "truncated record";
    std::string data = file.substr(pos + 12, len);
    EXPECT_EQ(le(file, pos + 12 + len, 4), masked(data)) << "data CRC";
    out.push_back(std::move(data));
    pos += 12 + len + 4;
  }
  return out;
}

// A protobuf message as field number → raw values (varints as numbers, fixed as bits, bytes as strings).
struct Field {
  int wire;
  std::uint64_t number;
  std::string bytes;
};
using Message = std::multimap<int, Field>;

Message decode(const std::string& s) {
  Message m;
  std::size_t pos = 0;
  auto varint = [&]() {
    std::uint64_t v = 0;
    for (int shift = 0; pos < s.size(); shift += 7) {
      const auto b = static_cast<unsigned char>(s[pos++]);
      v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) break;
    }
    return v;
  };
  while (pos < s.size()) {
    const std::uint64_t key = varint();
    Field f{static_cast<int>(key & 7), 0, {}};
    if (f.wire == 0) {
      f.number = varint();
    } else if (f.wire == 1) {
      f.number = le(s, pos, 8);
      pos += 8;
    } else if (f.wire == 5) {
      f.number = le(s, pos, 4);
      pos += 4;
    } else if (f.wire == 2) {
      const std::uint64_t n = varint();
      f.bytes = s.substr(pos, n);
      pos += n;
    } else {
      ADD_FAILURE() << "unexpected wire type " << f.wire;
      return m;
    }
    m.emplace(static_cast<int>(key >> 3), f);
  }
  return m;
}

const Field* get(const Message& m, int field) {
  auto it = m.find(field);
  return it == m.end() ? nullptr : &it->second;
}
double as_double(std::uint64_t bits) {
  double d;
  std::memcpy(&d, &bits, 8);
  return d;
}
float as_float(std::uint64_t bits) {
  const auto b = static_cast<std::uint32_t>(bits);
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

struct Event {
  double wall_time = 0;
  std::int64_t step = 0;
  std::optional<std::string> file_version;
  std::string tag;
  std::optional<float> simple_value;
  std::string plugin_name;
  std::string plugin_content;
};

Event parse_event(const std::string& record) {
  Event e;
  const Message m = decode(record);
  if (auto* f = get(m, 1)) e.wall_time = as_double(f->number);
  if (auto* f = get(m, 2)) e.step = static_cast<std::int64_t>(f->number);
  if (auto* f = get(m, 3)) e.file_version = f->bytes;
  if (auto* f = get(m, 5)) {
    const Message summary = decode(f->bytes);
    EXPECT_EQ(summary.count(1), 1u);
    const Message value = decode(get(summary, 1)->bytes);
    e.tag = get(value, 1)->bytes;
    if (auto* sv = get(value, 2)) {
      EXPECT_EQ(sv->wire, 5);
      e.simple_value = as_float(sv->number);
    }
    if (auto* meta = get(value, 9)) {
      const Message plugin = decode(get(decode(meta->bytes), 1)->bytes);
      e.plugin_name = get(plugin, 1)->bytes;
      e.plugin_content = get(plugin, 2)->bytes;
    }
  }
  return e;
}

std::vector<Event> read_events(const std::string& path) {
  std::vector<Event> events;
  for (const auto& r : read_records(read_file(path))) events.push_back(parse_event(r));
  return events;
}

// ---- tests -----------------------------------------------------------------------------------------------------

TEST(Crc32c, KnownVectors) {
  using lamin::pl::detail::crc32c;
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c("", 0), 0u);
  const std::string zeros(32, '\0'), ones(32, '\xff');
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);  // RFC 3720 B.4
  EXPECT_EQ(crc32c(ones.data(), ones.size()), 0x62A8AB43u);
  EXPECT_EQ(crc32c(ascending.data(), ascending.size()), 0x46DD794Eu);
  const std::uint32_t c = 0xE3069283u;
  EXPECT_EQ(lamin::pl::detail::masked_crc32c("123456789", 9),
            static_cast<std::uint32_t>(((c >> 15) | (c << 17)) + 0xA282EAD8u));
}

TEST(TensorBoardLogger, LayoutAndEventFileName) {
  TempDir tmp;
  for (const char* d : {"version_0", "version_1", "version_nonumber", "other"})
    fs::create_directories(tmp / "custom_logs" / d);
  TensorBoardLogger logger(TensorBoardLoggerOptions().save_dir(tmp.str()).name("custom_logs"));
  EXPECT_EQ(std::get<std::int64_t>(logger.version()), 2);
  EXPECT_EQ(*logger.log_dir(), tmp.str() + "/custom_logs/version_2");
  EXPECT_TRUE(logger.event_file_path().empty());
  logger.init_experiment();
  const fs::path event_file = logger.event_file_path();
  EXPECT_EQ(event_file.parent_path(), tmp / "custom_logs/version_2");
  EXPECT_TRUE(std::regex_match(event_file.filename().string(),
                               std::regex(R"(events\.out\.tfevents\.\d{10}\..+\.)" + std::to_string(::getpid()) +
                                          R"(\.\d+)")))
      << event_file;
  const auto events = read_events(event_file);  // created and flushed at once
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].file_version, std::optional<std::string>("brain.Event:2"));
  EXPECT_GT(events[0].wall_time, 1.6e9);
}

TEST(TensorBoardLogger, SubDirStringVersionAndEmptyName) {
  TempDir tmp;
  TensorBoardLogger a(TensorBoardLoggerOptions().save_dir(tmp.str()).version(std::string("awesome")).sub_dir("sub"));
  EXPECT_EQ(*a.log_dir(), tmp.str() + "/lightning_logs/awesome/sub");
  TensorBoardLogger b(tmp.str(), "", 1);
  EXPECT_EQ(*b.log_dir(), tmp.str() + "/version_1");
  b.init_experiment();
  EXPECT_EQ(fs::path(b.event_file_path()).parent_path(), tmp / "version_1");
  ::setenv("LAMIN_TB_TEST_DIR", "expanded", 1);
  TensorBoardLogger c(TensorBoardLoggerOptions().save_dir(tmp.str()).version(std::string("$LAMIN_TB_TEST_DIR")));
  EXPECT_EQ(*c.log_dir(), tmp.str() + "/lightning_logs/expanded");
}

TEST(TensorBoardLogger, ScalarsDecodeWithTagsStepsAndFloat32Values) {
  TempDir tmp;
  TensorBoardLogger logger(TensorBoardLoggerOptions().save_dir(tmp.str()).prefix("p"));
  MetricMap m;
  m.set("train_loss", Scalar::f32(0.3));
  m.set("epoch", Scalar::integer(2));
  logger.log_metrics(m, 0);
  MetricMap zero;
  zero.set("val_loss", Scalar::f32(0.0));
  logger.log_metrics(zero, 12345678901);
  logger.save();
  const auto events = read_events(logger.event_file_path());
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[1].tag, "p-train_loss");
  EXPECT_EQ(events[1].step, 0);
  EXPECT_EQ(events[1].simple_value, std::optional<float>(0.3f));
  EXPECT_EQ(events[2].tag, "p-epoch");
  EXPECT_EQ(events[2].simple_value, std::optional<float>(2.0f));
  EXPECT_EQ(events[3].tag, "p-val_loss");
  EXPECT_EQ(events[3].step, 12345678901);
  EXPECT_EQ(events[3].simple_value, std::optional<float>(0.0f));  // a oneof member: present even when 0
  for (const auto& e : events) EXPECT_GE(e.wall_time, events[0].wall_time);
}

TEST(TensorBoardLogger, HyperparametersAsTheHparamsPluginWritesThem) {
  TempDir tmp;
  TensorBoardLogger logger(tmp.str());
  const json params = json::parse(R"({"lr": 0.05, "opt": "adam", "model": {"width": 2}, "flag": true,
                                      "dims": [1, 2], "none": null})");
  logger.log_hyperparams(params);
  logger.save();
  const auto events = read_events(logger.event_file_path());
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[1].tag, "hp_metric");
  EXPECT_EQ(events[1].simple_value, std::optional<float>(-1.0f));
  EXPECT_EQ(events[1].step, 0);
  EXPECT_EQ(events[2].tag, "_hparams_/experiment");
  EXPECT_EQ(events[3].tag, "_hparams_/session_start_info");
  EXPECT_EQ(events[4].tag, "_hparams_/session_end_info");
  for (int i = 2; i <= 4; ++i) {
    EXPECT_EQ(events[i].plugin_name, "hparams");
    EXPECT_FALSE(events[i].simple_value.has_value());
  }

  // Experiment{hparam_infos (4): {name 1, type 4}, metric_infos (5): {name 1: {tag 2}}}
  const Message exp_data = decode(events[2].plugin_content);
  EXPECT_EQ(get(exp_data, 1), nullptr);  // version 0 is not written
  const Message experiment = decode(get(exp_data, 2)->bytes);
  std::map<std::string, std::uint64_t> types;
  for (auto [it, end] = experiment.equal_range(4); it != end; ++it) {
    const Message info = decode(it->second.bytes);
    types[get(info, 1)->bytes] = get(info, 4)->number;
  }
  const std::map<std::string, std::uint64_t> expected_types{{"dims", 1}, {"flag", 3}, {"lr", 3},
                                                           {"model/width", 3}, {"none", 1}, {"opt", 1}};
  EXPECT_EQ(types, expected_types);
  ASSERT_EQ(experiment.count(5), 1u);
  EXPECT_EQ(get(decode(get(decode(get(experiment, 5)->bytes), 1)->bytes), 2)->bytes, "hp_metric");

  // SessionStartInfo{hparams (1): map entries {key 1, value 2: google.protobuf.Value}}
  const Message start = decode(get(decode(events[3].plugin_content), 3)->bytes);
  std::map<std::string, std::string> values;
  for (auto [it, end] = start.equal_range(1); it != end; ++it) {
    const Message entry = decode(it->second.bytes);
    const Message value = decode(get(entry, 2)->bytes);
    if (auto* num = get(value, 2)) {
      values[get(entry, 1)->bytes] = "number:" + std::to_string(as_double(num->number));
    } else {
      values[get(entry, 1)->bytes] = "string:" + get(value, 3)->bytes;
    }
  }
  const std::map<std::string, std::string> expected_values{
      {"dims", "string:[1, 2]"},          {"flag", "number:1.000000"}, {"lr", "number:0.050000"},
      {"model/width", "number:2.000000"}, {"none", "string:None"},     {"opt", "string:adam"}};
  EXPECT_EQ(values, expected_values);

  // SessionEndInfo{status: STATUS_SUCCESS}
  const Message end_info = decode(get(decode(events[4].plugin_content), 4)->bytes);
  EXPECT_EQ(get(end_info, 1)->number, 1u);

  // hparams.yaml holds exactly the logged (unflattened) hyperparameters, in log_dir.
  EXPECT_EQ(read_file(tmp / "lightning_logs/version_0/hparams.yaml"),
            "dims:\n- 1\n- 2\nflag: true\nlr: 0.05\nmodel:\n  width: 2\nnone: null\nopt: adam\n");
  EXPECT_FALSE(fs::exists(tmp / "hparams.yaml"));
}

TEST(TensorBoardLogger, NoHpMetricWhenDisabled) {
  TempDir tmp;
  TensorBoardLogger logger(TensorBoardLoggerOptions().save_dir(tmp.str()).default_hp_metric(false));
  logger.log_hyperparams(json{{"lr", 0.1}});
  logger.save();
  EXPECT_EQ(read_events(logger.event_file_path()).size(), 1u);  // just the file version
  EXPECT_EQ(logger.hparams(), json({{"lr", 0.1}}));
}

TEST(TensorBoardLogger, HparamsYamlWrittenOnceOnSaveAndEmptyByDefault) {
  TempDir tmp;
  TensorBoardLogger logger(tmp.str());
  logger.init_experiment();
  const fs::path yaml = tmp / "lightning_logs/version_0/hparams.yaml";
  EXPECT_FALSE(fs::exists(yaml));
  logger.save();
  EXPECT_EQ(read_file(yaml), "{}\n");
  logger.log_hyperparams(json{{"lr", 0.1}});
  logger.save();
  EXPECT_EQ(read_file(yaml), "{}\n");  // only written when missing
  logger.finalize("success");
}

TEST(TensorBoardLogger, FinalizeClosesAndDoesNotStartANewFile) {
  TempDir tmp;
  TensorBoardLogger logger(tmp.str());
  MetricMap m;
  m.set("x", Scalar::f32(1.5));
  logger.log_metrics(m, 3);
  logger.finalize("success");
  logger.save();
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(tmp / "lightning_logs/version_0"))
    files += e.path().filename().string().rfind("events.out.tfevents.", 0) == 0;
  EXPECT_EQ(files, 1u);
  EXPECT_TRUE(fs::exists(tmp / "lightning_logs/version_0/hparams.yaml"));
  const auto events = read_events(logger.event_file_path());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].step, 3);
  EXPECT_EQ(events[1].simple_value, std::optional<float>(1.5f));
}

TEST(TensorBoardLogger, FailedFinalizeWritesNoHparamsFile) {
  TempDir tmp;
  TensorBoardLogger logger(tmp.str());
  logger.init_experiment();
  logger.finalize("failed");
  EXPECT_FALSE(fs::exists(tmp / "lightning_logs/version_0/hparams.yaml"));
}

TEST(TensorBoardLogger, ReaderRejectsACorruptRecord) {
  // The reader above must notice a flipped byte, or the decode tests would prove nothing about the CRCs.
  TempDir tmp;
  TensorBoardLogger logger(tmp.str());
  logger.init_experiment();
  logger.save();
  std::string bytes = read_file(logger.event_file_path());
  bytes[14] = static_cast<char>(bytes[14] ^ 0x01);
  EXPECT_NE(le(bytes, bytes.size() - 4, 4), masked(bytes.substr(12, bytes.size() - 16)));
}

}  // namespace
