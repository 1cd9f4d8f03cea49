#pragma once
// Hand-written protobuf encoding of the TensorBoard messages the TensorBoard logger writes: `Event`, `Summary`
// (scalars and plugin summaries) and the hparams plugin's `HParamsPluginData`. Private to lamin::pl.
//
// Field numbers (tensorboard/compat/proto/{event,summary}.proto, plugins/hparams/{api,plugin_data}.proto):
//   Event { double wall_time = 1; int64 step = 2; oneof { string file_version = 3; Summary summary = 5; } }
//   Summary { repeated Value value = 1; }
//   Summary.Value { string tag = 1; SummaryMetadata metadata = 9; oneof { float simple_value = 2; } }
//   SummaryMetadata { PluginData plugin_data = 1; }   PluginData { string plugin_name = 1; bytes content = 2; }
//   HParamsPluginData { int32 version = 1; oneof { Experiment experiment = 2; SessionStartInfo session_start_info = 3;
//                                                  SessionEndInfo session_end_info = 4; } }
//   SessionStartInfo { map<string, google.protobuf.Value> hparams = 1; }
//   google.protobuf.Value { oneof { double number_value = 2; string string_value = 3; bool bool_value = 4; } }
//   Experiment { repeated HParamInfo hparam_infos = 4; repeated MetricInfo metric_infos = 5; }
//   HParamInfo { string name = 1; DataType type = 4; }   MetricInfo { MetricName name = 1; }
//   MetricName { string group = 1; string tag = 2; }      SessionEndInfo { Status status = 1; }

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lamin::pl::detail {

/// Appends protobuf wire-format fields to a byte string.
class ProtoWriter {
 public:
  void varint_field(int field, std::uint64_t value);
  void double_field(int field, double value);
  void float_field(int field, float value);
  void bytes_field(int field, std::string_view bytes);
  const std::string& bytes() const { return out_; }

 private:
  void varint(std::uint64_t value);
  std::string out_;
};

/// The hparams plugin's names (torch.utils.tensorboard.summary.hparams).
inline constexpr const char* kHparamsPluginName = "hparams";
inline constexpr const char* kHparamsExperimentTag = "_hparams_/experiment";
inline constexpr const char* kHparamsSessionStartTag = "_hparams_/session_start_info";
inline constexpr const char* kHparamsSessionEndTag = "_hparams_/session_end_info";

/// The first record of every event file: `Event{wall_time, file_version: "brain.Event:2"}`.
std::string file_version_event(double wall_time);
/// `Event{wall_time, step (if any), summary}`.
std::string summary_event(double wall_time, std::optional<std::int64_t> step, const std::string& summary);
/// `Summary` with one `simple_value` (what SummaryWriter.add_scalar writes).
std::string scalar_summary(const std::string& tag, float value);

/// One flattened hyperparameter: a number (ints, floats and bools) or a string.
struct HParam {
  std::string name;
  std::optional<double> number;
  std::string text;
};

/// The three summaries of torch's `hparams(hparam_dict, metric_dict)`: experiment, session start, session end.
std::string hparams_experiment_summary(const std::vector<HParam>& hparams, const std::vector<std::string>& metrics);
std::string hparams_session_start_summary(const std::vector<HParam>& hparams);
std::string hparams_session_end_summary();

}  // namespace lamin::pl::detail
