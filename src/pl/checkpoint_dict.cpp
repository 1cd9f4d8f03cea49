#include "lamin/pl/checkpoint_dict.hpp"

#include <torch/torch.h>

#include "lamin/error.hpp"

namespace lamin::pl {

c10::IValue json_to_ivalue(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      return c10::IValue();
    case nlohmann::json::value_t::boolean:
      return value.get<bool>();
    case nlohmann::json::value_t::number_integer:
      return value.get<std::int64_t>();
    case nlohmann::json::value_t::number_unsigned:
      return static_cast<std::int64_t>(value.get<std::uint64_t>());
    case nlohmann::json::value_t::number_float:
      return value.get<double>();
    case nlohmann::json::value_t::string:
      return value.get<std::string>();
    case nlohmann::json::value_t::array: {
      c10::impl::GenericList list(c10::AnyType::get());
      for (const auto& item : value) list.push_back(json_to_ivalue(item));
      return list;
    }
    case nlohmann::json::value_t::object: {
      c10::impl::GenericDict dict(c10::StringType::get(), c10::AnyType::get());
      for (auto it = value.begin(); it != value.end(); ++it) dict.insert(it.key(), json_to_ivalue(it.value()));
      return dict;
    }
    case nlohmann::json::value_t::binary:
      break;
  }
  throw IntegrityError("cannot store a binary JSON value in a checkpoint");
}

nlohmann::json ivalue_to_json(const c10::IValue& value) {
  if (value.isNone()) return nullptr;
  if (value.isBool()) return value.toBool();
  if (value.isInt()) return value.toInt();
  if (value.isDouble()) return value.toDouble();
  if (value.isString()) return value.toStringRef();
  if (value.isTensor()) {
    const at::Tensor& t = value.toTensor();
    if (!t.defined() || t.numel() != 1) throw IntegrityError("cannot convert a non-scalar tensor to JSON");
    if (t.scalar_type() == at::kBool) return t.item<bool>();
    if (at::isIntegralType(t.scalar_type(), /*includeBool=*/false)) return t.item<std::int64_t>();
    return t.item<double>();
  }
  if (value.isList()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& item : value.toList()) out.push_back(ivalue_to_json(item));
    return out;
  }
  if (value.isTuple()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& item : value.toTupleRef().elements()) out.push_back(ivalue_to_json(item));
    return out;
  }
  if (value.isGenericDict()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& entry : value.toGenericDict()) {
      const auto& k = entry.key();
      std::string key = k.isString() ? k.toStringRef() : k.isInt() ? std::to_string(k.toInt()) : "";
      out[key] = ivalue_to_json(entry.value());
    }
    return out;
  }
  throw IntegrityError(std::string("cannot convert a checkpoint value of type ") + value.tagKind() + " to JSON");
}

}  // namespace lamin::pl
