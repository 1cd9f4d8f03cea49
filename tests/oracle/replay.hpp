#pragma once
// The Lightning oracle's shared pieces: paths and values as the oracle records them, the comparison report, the
// folder listing (replay_support.cpp, torch-free), and the builders of options from a case (replay_options.cpp).

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lamin/pl/model_checkpoint.hpp"
#include "lamin/pl/trainer.hpp"

namespace replay {

namespace fs = std::filesystem;
namespace pl = lamin::pl;
using json = nlohmann::json;

// ---- paths and values as the oracle records them --------------------------------------------------------------------

struct Paths {
  std::string root;  // canonical case root

  // A path as the oracle writes it: relative to the root ("." for the root itself), lexically normalised.
  std::string rel(const std::string& path) const;
  // Message text with the root replaced by "<root>".
  std::string text(std::string message) const;
};

// A score or metric value: ints as ints, non-finite floats as the strings "nan", "inf", "-inf".
json number(double value, bool integral = false);
/// The inverse of number() for floats.
double value_of(const json& v);
// Values of a scripted metric: list[index], the last one past the end.
double pick(const json& list, std::int64_t index);

// ---- comparison -------------------------------------------------------------------------------------------------

struct Report {
  std::string case_name;
  std::vector<std::string> lines;
  void mismatch(const std::string& field, const json& expected, const json& actual);
  void problem(const std::string& field, const std::string& what);
};

// Compares every key of `expected` (an object) with `actual`, recursing into objects and lists of objects.
void compare(Report& r, const std::string& field, const json& expected, const json& actual);
// Python exception type → the lamin::Error kinds (or "runtime_error" for std::runtime_error) that stand for it.
bool exception_matches(const std::string& python_type, const std::string& kind);
std::string kind_of(const std::exception& e);
// Warnings lamin-cpp's ModelCheckpoint emits; a run must not emit any that Lightning did not.
bool is_checkpoint_warning(const std::string& message);
// The folder listing of section 7.
json listing(const Paths& paths);
// The logger files under the root, as the oracle lists them.
json logger_files(const Paths& paths);
void make_pre_existing(const Paths& paths, const json& entries);

// ---- building options from the case (replay_options.cpp) --------------------------------------------------------

json merge_case(const json& defaults, const json& overrides);
pl::ModelCheckpointOptions checkpoint_options(const json& ckpt, const Paths& paths, std::vector<std::string>& unknown);
void apply_class_attrs(pl::ModelCheckpoint& c, const json& attrs, std::vector<std::string>& unknown);
std::string resolve_path(const Paths& paths, const std::string& path);
std::shared_ptr<pl::Logger> make_logger(const json& spec, const Paths& paths, std::vector<std::string>& unknown);
pl::TrainerOptions trainer_options(const json& t, const Paths& paths, std::vector<std::string>& unknown);

}  // namespace replay
