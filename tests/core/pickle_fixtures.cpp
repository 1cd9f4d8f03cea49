#include "core/pickle_fixtures.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "common/files.hpp"
#include "lamin/error.hpp"

namespace pickle_fixtures {

using namespace lamin::detail;
using lamin::test::TempDir;

#include "pickle_test_scripts.inc"

// ---- Python ---------------------------------------------------------------------------------------------------------

std::string interpreter() {
  const char* python = std::getenv("LAMIN_TEST_PYTHON");
  return python ? python : "/usr/bin/python3";
}

int run_python(const std::string& script, const std::string& arg, std::string* output) {
  TempDir tmp("pickle_py");
  std::ofstream(tmp / "script.py") << script;
  const std::string cmd = interpreter() + " " + (tmp / "script.py").string() + " '" + arg + "' 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) return -1;
  std::string out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, pipe)) out += buf;
  const int status = ::pclose(pipe);
  if (output) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Plain-data pickles and hostile files from Python's standard library, written once per test process.
const fs::path& stdlib_fixtures() {
  static TempDir dir("pickle_stdlib");
  static const bool ok = fs::exists(interpreter()) && run_python(kStdlibFixtures, dir.str()) == 0;
  static const fs::path none;
  return ok ? dir.path() : none;
}

// torch.save files from Python's torch, generated once into the build tree and shared by every test process.
const fs::path& torch_fixtures() {
  static const fs::path dir = []() -> fs::path {
    const std::string id = std::to_string(std::hash<std::string>()(std::string(kTorchFixtures) + interpreter()));
    const fs::path root = fs::path(LAMIN_BINARY_DIR) / "tests" / "core" / "pickle_fixtures";
    const fs::path done = root / id;
    if (fs::exists(done / "manifest.json")) return done;
    if (!fs::exists(interpreter())) return {};
    const fs::path tmp = root / (id + ".tmp-" + std::to_string(::getpid()));
    std::string out;
    if (run_python(kTorchFixtures, tmp.string(), &out) != 0) {
      std::fprintf(stderr, "torch fixtures not generated:\n%s\n", out.c_str());
      fs::remove_all(tmp);
      return {};
    }
    std::error_code ec;
    fs::rename(tmp, done, ec);  // another test process may have won the race; then use its copy
    if (ec) fs::remove_all(tmp);
    return done;
  }();
  return dir;
}

Json read_json(const fs::path& path) { return Json::parse(lamin::test::read_file(path)); }

const Json& manifest() {
  static const Json m = read_json(torch_fixtures() / "manifest.json");
  return m;
}

// ---- bytes --------------------------------------------------------------------------------------------------------

std::string from_hex(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

std::string to_hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (const char c : bytes) {
    out.push_back(digits[static_cast<unsigned char>(c) >> 4]);
    out.push_back(digits[static_cast<unsigned char>(c) & 0xf]);
  }
  return out;
}

// `n` little-endian bytes of `v`.
std::string le(std::uint64_t v, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return out;
}

PickleValuePtr load(std::string_view data, const std::string& source) {
  return unpickle(data, UnpickleOptions().source(source));
}

// The IntegrityError message unpickling `data` gives; fails the test if it succeeds or throws anything else.
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const lamin::IntegrityError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not an IntegrityError: " << e.what();
    return "";
  }
  ADD_FAILURE() << "no error";
  return "";
}

std::string pickle_error(std::string_view data) {
  return error_of([&] { load(data, "bad.pkl"); });
}


// ---- torch records --------------------------------------------------------------------------------------------------

std::vector<std::int64_t> ints(const PickleValue& tuple) {
  std::vector<std::int64_t> out;
  for (const auto& v : tuple.items()) out.push_back(v->as_int());
  return out;
}

// Checks a _rebuild_tensor_v2 record against the manifest's description of the tensor Python saved.
void expect_tensor(const TorchFile& file, const PickleValue& record, const Json& want, const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_TRUE(record.is(PickleKind::kObject)) << pickle_repr(record);
  EXPECT_EQ(record.qualified_name(), "torch._utils._rebuild_tensor_v2");
  const PickleValue& args = *record.args();
  ASSERT_EQ(args.size(), 6u);
  const TorchStorage* storage = file.storage_of(*args.at(0));
  ASSERT_NE(storage, nullptr);
  EXPECT_EQ(storage->dtype, want["dtype"].get<std::string>());
  EXPECT_EQ(storage->location, "cpu");
  EXPECT_EQ(args.at(1)->as_int(), want["offset"].get<std::int64_t>());
  EXPECT_EQ(ints(*args.at(2)), want["shape"].get<std::vector<std::int64_t>>());
  EXPECT_EQ(ints(*args.at(3)), want["stride"].get<std::vector<std::int64_t>>());
  EXPECT_EQ(args.at(4)->as_bool(), want["requires_grad"].get<bool>());
  EXPECT_EQ(args.at(5)->dict_class(), "collections.OrderedDict");  // backward hooks
  EXPECT_EQ(to_hex(file.read_storage(*storage)), want["hex"].get<std::string>());
}

void expect_tensors(const TorchFile& file, const PickleValue& dict, const Json& want) {
  ASSERT_EQ(dict.size(), want.size());
  for (const auto& [name, description] : want.items()) {
    const PickleValuePtr record = dict.get(name);
    ASSERT_NE(record, nullptr) << name;
    expect_tensor(file, *record, description, name);
  }
}

// repr with each storage replaced by its dtype and bytes: equal for the zip and legacy forms of one object.
std::string canonical(const TorchFile& file, const PickleValue& v) {
  if (const TorchStorage* s = file.storage_of(v)) return "<" + s->dtype + ":" + to_hex(file.read_storage(*s)) + ">";
  std::string out = std::string(v.type_name()) + "(";
  switch (v.kind()) {
    case PickleKind::kList:
    case PickleKind::kTuple:
    case PickleKind::kSet:
      for (const auto& item : v.items()) out += canonical(file, *item) + ",";
      break;
    case PickleKind::kDict:
      out += v.dict_class() + ":";
      for (std::size_t i = 0; i < v.size(); ++i)
        out += canonical(file, *v.items()[i]) + "=" + canonical(file, *v.values()[i]) + ",";
      if (v.state()) out += "state=" + canonical(file, *v.state());
      break;
    case PickleKind::kObject:
      out += v.qualified_name() + canonical(file, *v.args());
      break;
    default:
      out += pickle_repr(v);
  }
  return out + ")";
}

TorchFile open_fixture(const std::string& name) { return TorchFile::open(torch_fixtures() / name); }


}  // namespace pickle_fixtures
