// Mutated checkpoints: thousands of variants of C++- and Python-written files (bytes flipped inside the pickle and
// inside the zip, truncations, oversized lengths) and hand-made hostile ones (deep nesting, values that contain
// themselves, exponential sharing, storages declared larger than the file, views outside their storage). Every one
// loads or is a lamin::Error: no crash, no hang, no other exception, and no allocation of a declared size the file
// does not hold. Run it under -DLAMIN_SANITIZE=address,undefined to check memory safety too.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <caffe2/serialize/inline_container.h>

#include <cstdio>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common/files.hpp"
#include "core/pickle_fixtures.hpp"
#include "core/torch_file.hpp"
#include "lamin/error.hpp"
#include "lamin/pl/checkpoint_io.hpp"
#include "pl/python_checkpoint.hpp"

namespace pl = lamin::pl;
using lamin::detail::TorchFile;
using pickle_fixtures::le;

namespace {

enum class Outcome { kLoaded, kRefused, kOther };

struct Tally {
  int loaded = 0, refused = 0;
};

/// Loads `bytes` as load_checkpoint_file does, from memory.
Outcome try_load(const std::string& bytes, const std::string& what, std::string* message = nullptr) {
  try {
    (void)pl::detail::ivalue_from_torch_file(TorchFile::from_bytes(bytes, what));
    return Outcome::kLoaded;
  } catch (const lamin::Error& e) {
    if (message) *message = e.what();
    return Outcome::kRefused;
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": not a lamin::Error: " << e.what();
  } catch (...) {
    ADD_FAILURE() << what << ": a non-standard exception";
  }
  return Outcome::kOther;
}

/// A torch.save zip holding `pickle` as data.pkl and `records` as data/0, data/1, ...
std::string zip_of(const std::string& pickle, const std::vector<std::string>& records = {}) {
  std::string out;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t size) -> size_t {
    out.append(static_cast<const char*>(data), size);
    return size;
  });
  writer.writeRecord("data.pkl", pickle.data(), pickle.size());
  writer.writeRecord("byteorder", "little", 6);
  for (std::size_t i = 0; i < records.size(); ++i) {
    writer.writeRecord("data/" + std::to_string(i), records[i].data(), records[i].size());
  }
  writer.writeEndOfFile();
  return out;
}

/// The records of a valid zip seed: data.pkl first, then data/0, data/1, ...
struct Entries {
  std::string pickle;
  std::vector<std::string> records;
};

Entries entries_of(const std::string& zip) {
  std::istringstream stream(zip);
  caffe2::serialize::PyTorchStreamReader reader(&stream);
  Entries e;
  auto [data, size] = reader.getRecord("data.pkl");
  e.pickle.assign(static_cast<const char*>(data.get()), size);
  for (std::size_t i = 0; reader.hasRecord("data/" + std::to_string(i)); ++i) {
    auto [bytes, n] = reader.getRecord("data/" + std::to_string(i));
    e.records.emplace_back(static_cast<const char*>(bytes.get()), n);
  }
  return e;
}

bool is_zip(const std::string& bytes) { return bytes.rfind("PK\x03\x04", 0) == 0; }

// ---- pickle opcodes ---------------------------------------------------------------------------------------------

std::string str(const std::string& s) { return "X" + le(s.size(), 4) + s; }  // BINUNICODE
std::string i32(std::int64_t v) { return "J" + le(static_cast<std::uint64_t>(v), 4); }  // BININT
std::string i64(std::uint64_t v) { return std::string("\x8a\x08", 2) + le(v, 8); }  // LONG1, 8 bytes
std::string global(const std::string& module, const std::string& name) { return "c" + module + "\n" + name + "\n"; }
const std::string kProto = "\x80\x02";

/// `{'w': tensor}` whose one float storage declares `numel` elements, viewed with `size` and `stride` at `offset`.
std::string tensor_pickle(std::uint64_t numel, std::int64_t offset, std::vector<std::int64_t> size,
                          std::vector<std::int64_t> stride) {
  auto tuple = [](const std::vector<std::int64_t>& xs) {
    std::string t = "(";
    for (auto x : xs) t += i32(x);
    return t + "t";
  };
  return kProto + "}" + str("w") + global("torch._utils", "_rebuild_tensor_v2") + "(" + "(" + str("storage") +
         global("torch", "FloatStorage") + str("0") + str("cpu") + i64(numel) + "tQ" + i32(offset) + tuple(size) +
         tuple(stride) + "\x89" + global("collections", "OrderedDict") + ")Rt" + "Rs.";
}

std::string cpp_seed(const lamin::test::TempDir& tmp) {
  torch::manual_seed(0);
  pl::CheckpointDict ckpt = pl::make_checkpoint_dict();
  c10::impl::GenericDict sd(c10::StringType::get(), c10::TensorType::get());
  const at::Tensor w = torch::randn({3, 4});
  sd.insert("w", w);
  sd.insert("w_row", w.narrow(0, 1, 1));
  sd.insert("b", torch::randn({4}, torch::kFloat64));
  sd.insert("i", torch::arange(5));
  sd.insert("h", torch::ones({2}, torch::kHalf));
  sd.insert("scalar", torch::tensor(2.5));
  ckpt.insert("state_dict", sd);
  ckpt.insert("epoch", std::int64_t{3});
  c10::impl::GenericList nested(c10::AnyType::get());
  nested.push_back(c10::ivalue::Tuple::create({std::string("é日本"), 1.5, std::nan("")}));
  nested.push_back(c10::IValue());
  ckpt.insert("nested", nested);
  const std::string path = (tmp / "seed.ckpt").string();
  pl::save_checkpoint_file(ckpt, path);
  return lamin::test::read_file(path);
}

std::vector<std::pair<std::string, std::string>> seeds(const lamin::test::TempDir& tmp) {
  std::vector<std::pair<std::string, std::string>> out{{"cpp.ckpt", cpp_seed(tmp)}};
  if (!pickle_fixtures::torch_fixtures().empty()) {
    for (const char* name : {"lightning.ckpt", "dtypes_legacy.pt", "views.pt", "views_legacy.pt", "protocol4.pt",
                             "sgd_legacy.pt"}) {
      out.emplace_back(name, lamin::test::read_file(pickle_fixtures::torch_fixtures() / name));
    }
  }
  return out;
}

/// One random variant of `seed`: bytes flipped in the pickle (the zip rebuilt around it, so its checksums hold)
/// or anywhere, a truncation, or a length-like field overwritten with a huge value.
std::string mutate(const std::string& seed, std::mt19937_64& rng) {
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % std::max<std::size_t>(n, 1)); };
  std::string out = seed;
  auto flip = [&](std::string& s, int times) {
    for (int i = 0; i < times && !s.empty(); ++i) s[pick(s.size())] = static_cast<char>(rng());
  };
  switch (pick(5)) {
    case 0:
    case 1:
      if (is_zip(seed)) {
        Entries e = entries_of(seed);
        flip(e.pickle, 1 + static_cast<int>(pick(4)));
        return zip_of(e.pickle, e.records);
      }
      flip(out, 1 + static_cast<int>(pick(4)));
      return out;
    case 2:
      flip(out, 1 + static_cast<int>(pick(8)));
      return out;
    case 3:
      out.resize(pick(out.size()));
      return out;
    default: {
      static const std::uint64_t kHuge[] = {0xffffffffULL, 0x7fffffffULL, 0x80000000ULL, 0xfffffff0ULL};
      const std::size_t at = pick(out.size() > 4 ? out.size() - 4 : 0);
      out.replace(at, 4, le(kHuge[pick(4)], 4));
      return out;
    }
  }
}

}  // namespace

TEST(CheckpointFuzz, EveryMutatedVariantLoadsOrIsALaminError) {
  lamin::test::TempDir tmp("ckpt_fuzz");
  std::mt19937_64 rng(20261204);
  Tally tally;
  int variants = 0;
  for (const auto& [name, seed] : seeds(tmp)) {
    ASSERT_EQ(try_load(seed, name), Outcome::kLoaded) << name << " is not a valid seed";
    for (int i = 0; i < 2500; ++i, ++variants) {
      const std::string what = name + " variant " + std::to_string(i);
      switch (try_load(mutate(seed, rng), what)) {
        case Outcome::kLoaded: ++tally.loaded; break;
        case Outcome::kRefused: ++tally.refused; break;
        case Outcome::kOther: break;
      }
    }
  }
  std::printf("%d variants: %d loaded, %d refused with a lamin::Error\n", variants, tally.loaded, tally.refused);
  EXPECT_EQ(tally.loaded + tally.refused, variants);
  EXPECT_GT(tally.refused, variants / 4);  // the mutations reach the checks
}

TEST(CheckpointFuzz, DeepNestingIsRefusedOrLoadedWithoutExhaustingTheStack) {
  const int n = 200000;
  std::string lists = kProto + std::string(n, ']') + std::string(n - 1, 'a') + ".";
  std::string tuples = kProto + std::string(n, '(') + std::string(n, 't') + ".";
  std::string dicts = kProto + "}";
  for (int i = 1; i < n; ++i) dicts += str("k") + "}";
  dicts += std::string(n - 1, 's') + ".";
  for (const auto& [what, pickle] : {std::pair{"lists", lists}, {"tuples", tuples}, {"dicts", dicts}}) {
    std::string message;
    EXPECT_EQ(try_load(zip_of(pickle), what, &message), Outcome::kRefused) << what;
    EXPECT_NE(message.find("nested"), std::string::npos) << message;
  }
  // Shallow nesting still loads.
  EXPECT_EQ(try_load(zip_of(kProto + std::string(100, ']') + std::string(99, 'a') + "."), "100 lists"),
            Outcome::kLoaded);
}

TEST(CheckpointFuzz, AValueThatContainsItselfIsRefused) {
  // l = []; l.append(l)  and  d = {}; d['k'] = d
  const std::string put0("q\0", 2), get0("h\0", 2);
  for (const auto& pickle : {kProto + "]" + put0 + get0 + "a.", kProto + "}" + put0 + str("k") + get0 + "s."}) {
    std::string message;
    EXPECT_EQ(try_load(zip_of(pickle), "cycle", &message), Outcome::kRefused);
    EXPECT_NE(message.find("contains itself"), std::string::npos) << message;
  }
}

TEST(CheckpointFuzz, ExponentiallySharedValuesLoadInLinearTime) {
  // l0 = [1]; l_{i+1} = [l_i, l_i]: 2^60 leaves if expanded, 60 lists if shared as Python shares them.
  const std::string put0("q\0", 2), get0("h\0", 2);
  std::string pickle = kProto + "]" + i32(1) + "a";
  for (int i = 0; i < 60; ++i) pickle += put0 + "0]" + get0 + "a" + get0 + "a";  // memo[0] = l_i; pop; [l_i, l_i]
  pickle += ".";
  ASSERT_EQ(try_load(zip_of(pickle), "laughs"), Outcome::kLoaded);
  const c10::IValue v = pl::detail::ivalue_from_torch_file(TorchFile::from_bytes(zip_of(pickle), "laughs"));
  const auto outer = v.toList();
  ASSERT_EQ(outer.size(), 2u);
  EXPECT_TRUE(outer.get(0).is(outer.get(1)));  // shared, not copied
}

TEST(CheckpointFuzz, AStorageDeclaredLargerThanItsRecordIsRefusedBeforeAllocating) {
  const std::string four_bytes(4, '\0');
  // 2^40 floats (4 TiB) declared, 4 bytes stored: refused by the size check, not by a failed allocation.
  std::string message;
  EXPECT_EQ(try_load(zip_of(tensor_pickle(1ULL << 40, 0, {1}, {1}), {four_bytes}), "huge", &message),
            Outcome::kRefused);
  EXPECT_NE(message.find("data/0"), std::string::npos) << message;
  // A declared size whose byte count overflows 64 bits.
  EXPECT_EQ(try_load(zip_of(tensor_pickle(1ULL << 63, 0, {1}, {1}), {four_bytes}), "overflow"), Outcome::kRefused);
}

TEST(CheckpointFuzz, AViewOutsideItsStorageIsRefused) {
  const std::string eight_bytes(8, '\0');  // two floats
  ASSERT_EQ(try_load(zip_of(tensor_pickle(2, 0, {2}, {1}), {eight_bytes}), "fits"), Outcome::kLoaded);
  struct Case {
    const char* what;
    std::int64_t offset;
    std::vector<std::int64_t> size, stride;
  };
  for (const Case& c : {Case{"too long", 0, {3}, {1}}, Case{"offset past the end", 2, {1}, {1}},
                        Case{"stride past the end", 0, {2}, {2}}, Case{"negative size", 0, {-1}, {1}},
                        Case{"negative offset", -1, {1}, {1}}, Case{"negative stride", 1, {2}, {-1}},
                        Case{"overflowing extent", 0, {2, 2}, {0x7fffffff, 0x7fffffff}}}) {
    std::string message;
    EXPECT_EQ(try_load(zip_of(tensor_pickle(2, c.offset, c.size, c.stride), {eight_bytes}), c.what, &message),
              Outcome::kRefused)
        << c.what;
    EXPECT_NE(message.find("outside its storage"), std::string::npos) << c.what << ": " << message;
  }
}

TEST(CheckpointFuzz, DictKeysLibTorchCannotHashBecomeTheirPythonRepr) {
  // {(1, 2): 'v', None: 'n', 'k': 1}: found by the mutations above, where a tuple key escaped as a std::exception.
  const std::string pickle = kProto + "}" + "(" + i32(1) + i32(2) + "t" + str("v") + "sN" + str("n") + "s" + str("k") +
                             i32(1) + "s.";
  const c10::IValue v = pl::detail::ivalue_from_torch_file(TorchFile::from_bytes(zip_of(pickle), "keys"));
  const auto d = v.toGenericDict();
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d.at(c10::IValue(std::string("(1, 2)"))).toStringRef(), "v");
  EXPECT_EQ(d.at(c10::IValue(std::string("None"))).toStringRef(), "n");
  EXPECT_EQ(d.at(c10::IValue(std::string("k"))).toInt(), 1);
}
