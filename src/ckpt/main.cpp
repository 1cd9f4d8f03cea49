// lamin-ckpt: what a checkpoint holds, before it is loaded.
//
//   lamin-ckpt show FILE      the tree: keys, then each tensor's dtype, shape and size, as a torch.load in a REPL
//   lamin-ckpt diff A B       whether two checkpoints hold equal tensors and states; exit 0 equal, 1 different
//
// Reads files of lamin-cpp, Python's torch.save (zip or legacy) and Lightning with the allowlist of
// torch.load(weights_only=True): nothing in a file runs. Errors exit 2. Links LibTorch, so it is not part of the
// torch-free `lamin` tool.
#include <torch/torch.h>

#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "core/python.hpp"
#include "core/torch_file.hpp"
#include "lamin/error.hpp"
#include "pl/python_checkpoint.hpp"

namespace {

constexpr std::size_t kMaxItems = 20;  // list items shown before "... N more"

c10::IValue load(const std::string& path) {
  return lamin::pl::detail::ivalue_from_torch_file(lamin::detail::TorchFile::open(path));
}

std::string human_bytes(std::int64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  std::ostringstream s;
  if (u == 0) s << n << " B";
  else s << std::fixed << std::setprecision(1) << v << " " << units[u];
  return s.str();
}

/// Python's name of a dtype ("float32"), as torch prints it without "torch.".
std::string dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kDouble: return "float64";
    case at::kFloat: return "float32";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kShort: return "int16";
    case at::kChar: return "int8";
    case at::kByte: return "uint8";
    case at::kBool: return "bool";
    case at::kComplexFloat: return "complex64";
    case at::kComplexDouble: return "complex128";
    default: return c10::toString(t);
  }
}

std::string tensor_line(const at::Tensor& t) {
  std::ostringstream s;
  s << "tensor " << dtype_name(t.scalar_type()) << " [";
  for (std::size_t i = 0; i < t.sizes().size(); ++i) s << (i ? ", " : "") << t.sizes()[i];
  s << "] " << human_bytes(static_cast<std::int64_t>(t.numel() * t.element_size()));
  if (t.numel() == 1 && !t.is_complex()) {
    s << " = "
      << (at::isIntegralType(t.scalar_type(), /*includeBool=*/true) ? std::to_string(t.item<std::int64_t>())
                                                                     : lamin::detail::python_repr(t.item<double>()));
  }
  if (t.requires_grad()) s << ", requires_grad";
  return s.str();
}

bool is_leaf(const c10::IValue& v) { return !v.isGenericDict() && !v.isList() && !v.isTuple(); }

std::string leaf_text(const c10::IValue& v) {
  if (v.isTensor()) return tensor_line(v.toTensor());
  if (v.isString()) return "'" + v.toStringRef() + "'";
  if (v.isNone()) return "None";
  if (v.isBool()) return v.toBool() ? "True" : "False";
  if (v.isDouble()) return lamin::detail::python_repr(v.toDouble());
  std::ostringstream s;
  s << v;
  return s.str();
}

std::string key_text(const c10::IValue& k) { return k.isString() ? k.toStringRef() : leaf_text(k); }

/// A tuple or list of leaves on one line ("(0.9, 0.999)"); empty when it holds containers.
std::string inline_sequence(const std::vector<c10::IValue>& items, bool tuple) {
  std::string out = tuple ? "(" : "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (!is_leaf(items[i]) || items[i].isTensor()) return "";
    out += (i ? ", " : "") + leaf_text(items[i]);
  }
  return out + (tuple && items.size() == 1 ? ",)" : tuple ? ")" : "]");
}

void show(const c10::IValue& v, int depth, std::ostream& out) {
  const std::string pad(2 * depth, ' ');
  auto child = [&](const std::string& name, const c10::IValue& value) {
    std::string line;
    if (is_leaf(value)) {
      line = leaf_text(value);
    } else if (value.isGenericDict()) {
      line = value.toGenericDict().empty() ? "{}" : "";
    } else {
      const auto seq = value.isList() ? value.toList().vec() : value.toTupleRef().elements().vec();
      line = seq.empty() ? (value.isTuple() ? "()" : "[]") : inline_sequence(seq, value.isTuple());
    }
    if (!line.empty()) {
      out << pad << name << ": " << line << "\n";
    } else {
      out << pad << name << ":\n";
      show(value, depth + 1, out);
    }
  };
  if (v.isGenericDict()) {
    for (const auto& e : v.toGenericDict()) child(key_text(e.key()), e.value());
  } else if (v.isList() || v.isTuple()) {
    const auto items = v.isList() ? v.toList().vec() : v.toTupleRef().elements().vec();
    for (std::size_t i = 0; i < items.size() && i < kMaxItems; ++i) child("[" + std::to_string(i) + "]", items[i]);
    if (items.size() > kMaxItems) out << pad << "... " << items.size() - kMaxItems << " more\n";
  } else {
    out << pad << leaf_text(v) << "\n";
  }
}

/// Appends a line for every difference between `a` and `b` under `path`.
void diff(const c10::IValue& a, const c10::IValue& b, const std::string& path, std::vector<std::string>& out) {
  const std::string where = path.empty() ? "<root>" : path;
  if (a.isTensor() && b.isTensor()) {
    const at::Tensor& x = a.toTensor();
    const at::Tensor& y = b.toTensor();
    if (x.scalar_type() != y.scalar_type() || x.sizes() != y.sizes()) {
      out.push_back(where + ": " + tensor_line(x) + " vs " + tensor_line(y));
    } else if (!x.cpu().equal(y.cpu())) {
      out.push_back(where + ": tensors differ (" + tensor_line(x) + ")");
    }
    return;
  }
  if (a.isGenericDict() && b.isGenericDict()) {
    const auto da = a.toGenericDict(), db = b.toGenericDict();
    for (const auto& e : da) {
      const std::string p = path.empty() ? key_text(e.key()) : path + "." + key_text(e.key());
      auto it = db.find(e.key());
      if (it == db.end()) out.push_back(p + ": only in the first");
      else diff(e.value(), it->value(), p, out);
    }
    for (const auto& e : db) {
      if (da.find(e.key()) == da.end()) {
        out.push_back((path.empty() ? key_text(e.key()) : path + "." + key_text(e.key())) + ": only in the second");
      }
    }
    return;
  }
  const bool seq_a = a.isList() || a.isTuple(), seq_b = b.isList() || b.isTuple();
  if (seq_a && seq_b) {
    const auto xa = a.isList() ? a.toList().vec() : a.toTupleRef().elements().vec();
    const auto xb = b.isList() ? b.toList().vec() : b.toTupleRef().elements().vec();
    if (xa.size() != xb.size()) {
      out.push_back(where + ": " + std::to_string(xa.size()) + " items vs " + std::to_string(xb.size()));
      return;
    }
    for (std::size_t i = 0; i < xa.size(); ++i) diff(xa[i], xb[i], path + "[" + std::to_string(i) + "]", out);
    return;
  }
  if (is_leaf(a) && is_leaf(b) && !a.isTensor() && !b.isTensor()) {
    const bool numbers = (a.isInt() || a.isDouble()) && (b.isInt() || b.isDouble());
    const bool same = numbers ? a.toScalar().toDouble() == b.toScalar().toDouble() : leaf_text(a) == leaf_text(b);
    if (!same) out.push_back(where + ": " + leaf_text(a) + " vs " + leaf_text(b));
    return;
  }
  out.push_back(where + ": " + a.tagKind() + " vs " + b.tagKind());
}

int usage(std::ostream& out, int rc) {
  out << "usage: lamin-ckpt show FILE\n"
         "       lamin-ckpt diff A B\n"
         "Shows what a checkpoint (lamin-cpp, torch.save or Lightning) holds, or compares two. Nothing in a file is\n"
         "executed. Exit status: 0, 1 when `diff` finds differences, 2 on errors.\n";
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return usage(std::cerr, 2);
  if (args[0] == "-h" || args[0] == "--help") return usage(std::cout, 0);
  try {
    if (args[0] == "show" && args.size() == 2) {
      show(load(args[1]), 0, std::cout);
      return 0;
    }
    if (args[0] == "diff" && args.size() == 3) {
      std::vector<std::string> lines;
      diff(load(args[1]), load(args[2]), "", lines);
      for (const auto& l : lines) std::cout << l << "\n";
      std::cout << (lines.empty() ? "equal\n" : std::to_string(lines.size()) + " differences\n");
      return lines.empty() ? 0 : 1;
    }
  } catch (const std::exception& e) {
    std::cerr << "lamin-ckpt: " << e.what() << "\n";
    return 2;
  }
  return usage(std::cerr, 2);
}
