#pragma once
// What the unpickler and torch file tests share: a Python to write fixtures at test time (/usr/bin/python3 or
// $LAMIN_TEST_PYTHON; tests skip cleanly without it or its torch), byte helpers, and checks of torch records against
// the manifest Python writes beside its files.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/pickle.hpp"
#include "core/torch_file.hpp"

namespace pickle_fixtures {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;
using lamin::detail::PickleValue;
using lamin::detail::PickleValuePtr;
using lamin::detail::TorchFile;

// ---- Python ---------------------------------------------------------------------------------------------------------

/// The Python that writes the fixtures.
std::string interpreter();
/// Runs `script` with `arg` as its argument; its exit status (-1 when it could not run), its output in `output`.
int run_python(const std::string& script, const std::string& arg, std::string* output = nullptr);
/// Plain-data pickles and hostile files from Python's standard library, written once per test process (empty when
/// there is no Python).
const fs::path& stdlib_fixtures();
/// torch.save files from Python's torch, generated once into the build tree and shared by every test process
/// (empty when there is no torch).
const fs::path& torch_fixtures();
Json read_json(const fs::path& path);
/// torch_fixtures()/manifest.json: what Python saved in each file.
const Json& manifest();
TorchFile open_fixture(const std::string& name);

#define REQUIRE_PYTHON() \
  if (stdlib_fixtures().empty()) GTEST_SKIP() << interpreter() << " is not available"
#define REQUIRE_TORCH() \
  if (torch_fixtures().empty()) GTEST_SKIP() << interpreter() << " with torch is not available"

#define EXPECT_CONTAINS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)

// ---- bytes --------------------------------------------------------------------------------------------------------

std::string from_hex(const std::string& hex);
std::string to_hex(std::string_view bytes);
/// `n` little-endian bytes of `v`.
std::string le(std::uint64_t v, int n);
PickleValuePtr load(std::string_view data, const std::string& source = "test.pkl");
/// The IntegrityError message `f` throws; fails the test if it succeeds or throws anything else.
std::string error_of(const std::function<void()>& f);
/// The IntegrityError message unpickling `data` gives.
std::string pickle_error(std::string_view data);

// ---- torch records --------------------------------------------------------------------------------------------------

std::vector<std::int64_t> ints(const PickleValue& tuple);
/// Checks a _rebuild_tensor_v2 record against the manifest's description of the tensor Python saved.
void expect_tensor(const TorchFile& file, const PickleValue& record, const Json& want, const std::string& what);
void expect_tensors(const TorchFile& file, const PickleValue& dict, const Json& want);
/// repr with each storage replaced by its dtype and bytes: equal for the zip and legacy forms of one object.
std::string canonical(const TorchFile& file, const PickleValue& v);

}  // namespace pickle_fixtures
