// ModelCheckpoint's state: Lightning's state_dict / load_state_dict, its entry in a checkpoint's `callbacks`
// (scores as tensors, as Lightning stores them) and best_k_models.yaml.

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/file_io.hpp"
#include "core/python.hpp"
#include "lamin/error.hpp"
#include "lamin/log.hpp"
#include "lamin/pl/model_checkpoint.hpp"

namespace lamin::pl {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

std::optional<double> score_from_json(const nlohmann::json& value) {
  if (value.is_null()) return std::nullopt;
  if (value.is_number()) return value.get<double>();
  if (value.is_string()) {
    const auto text = value.get<std::string>();
    if (text == "inf" || text == "Infinity") return kInf;
    if (text == "-inf" || text == "-Infinity") return -kInf;
    if (text == "nan" || text == "NaN") return std::numeric_limits<double>::quiet_NaN();
  }
  throw IntegrityError("ModelCheckpoint state: a score must be a number, got " + value.dump());
}

}  // namespace

// ---- state --------------------------------------------------------------------------------------------------------

nlohmann::json ModelCheckpoint::score_json(double value) const {
  if (integral_scores_ && std::isfinite(value)) return static_cast<std::int64_t>(value);
  return value;
}

nlohmann::json ModelCheckpoint::state_dict() const {
  nlohmann::json state = nlohmann::json::object();
  state["monitor"] = options_.monitor() ? nlohmann::json(*options_.monitor()) : nlohmann::json(nullptr);
  state["best_model_score"] = best_model_score_ ? score_json(*best_model_score_) : nlohmann::json(nullptr);
  state["best_model_path"] = best_model_path_;
  state["current_score"] = current_score_ ? score_json(*current_score_) : nlohmann::json(nullptr);
  state["dirpath"] = dirpath_ ? nlohmann::json(*dirpath_) : nlohmann::json(nullptr);
  nlohmann::json best_k = nlohmann::json::object();
  for (const auto& [path, score] : best_k_models_) best_k[path] = score_json(score);
  state["best_k_models"] = std::move(best_k);
  state["kth_best_model_path"] = kth_best_model_path_;
  state["kth_value"] = score_json(kth_value_);
  state["last_model_path"] = last_model_path_;
  return state;
}

void ModelCheckpoint::load_state_dict(const nlohmann::json& state) {
  if (!state.is_object()) throw IntegrityError("ModelCheckpoint state must be a JSON object, got " + state.dump());
  const nlohmann::json current_dirpath = dirpath_ ? nlohmann::json(*dirpath_) : nlohmann::json(nullptr);
  const nlohmann::json saved_dirpath = state.contains("dirpath") ? state.at("dirpath") : current_dirpath;
  auto is_integral = [](const nlohmann::json& v) { return v.is_number_integer(); };

  if (saved_dirpath == current_dirpath) {
    if (!state.contains("best_model_score")) throw IntegrityError("ModelCheckpoint state has no best_model_score");
    best_model_score_ = score_from_json(state.at("best_model_score"));
    bool integral = is_integral(state.at("best_model_score"));
    if (state.contains("kth_best_model_path")) kth_best_model_path_ = state.at("kth_best_model_path");
    if (state.contains("kth_value")) {
      if (auto v = score_from_json(state.at("kth_value"))) kth_value_ = *v;
    }
    if (state.contains("best_k_models")) {
      const auto& saved = state.at("best_k_models");
      best_k_models_.clear();
      if (saved.is_object()) {
        for (auto it = saved.begin(); it != saved.end(); ++it) {
          best_k_models_.emplace_back(it.key(), score_from_json(it.value()).value_or(kInf));
          integral = integral || is_integral(it.value());
        }
        // JSON objects are sorted by key: put the entries back in the order the checkpoint stores them.
        if (!loaded_best_k_order_.empty()) {
          auto rank = [&](const std::string& path) {
            return std::find(loaded_best_k_order_.begin(), loaded_best_k_order_.end(), path) -
                   loaded_best_k_order_.begin();
          };
          std::stable_sort(best_k_models_.begin(), best_k_models_.end(),
                           [&](const ScoredPath& a, const ScoredPath& b) { return rank(a.first) < rank(b.first); });
        }
      } else if (saved.is_array()) {  // [[path, score], ...]: the order-preserving form
        for (const auto& entry : saved) {
          best_k_models_.emplace_back(entry.at(0).get<std::string>(), score_from_json(entry.at(1)).value_or(kInf));
          integral = integral || is_integral(entry.at(1));
        }
      }
    }
    integral_scores_ = integral;
    reindex_best_k_models();
    if (state.contains("last_model_path")) last_model_path_ = state.at("last_model_path");
  } else {
    auto repr = [](const nlohmann::json& v) {
      return v.is_string() ? lamin::detail::python_str_repr(v.get<std::string>()) : std::string("None");
    };
    log::warn("The dirpath has changed from " + repr(saved_dirpath) + " to " + repr(current_dirpath) +
              ", therefore `best_model_score`, `kth_best_model_path`, `kth_value`, `last_model_path` and "
              "`best_k_models` won't be reloaded. Only `best_model_path` will be reloaded.");
  }
  loaded_best_k_order_.clear();
  if (!state.contains("best_model_path")) throw IntegrityError("ModelCheckpoint state has no best_model_path");
  best_model_path_ = state.at("best_model_path").get<std::string>();
}

namespace {

c10::IValue score_ivalue(const std::optional<double>& value, bool integral) {
  if (!value) return c10::IValue();
  if (integral && std::isfinite(*value)) return torch::scalar_tensor(static_cast<std::int64_t>(*value), torch::kLong);
  return torch::scalar_tensor(*value, torch::kFloat);
}

}  // namespace

void ModelCheckpoint::on_save_checkpoint(Trainer&, LightningModule&, CheckpointDict& checkpoint) {
  if (!checkpoint.contains("callbacks") || !checkpoint.at("callbacks").isGenericDict()) return;
  auto callbacks = checkpoint.at("callbacks").toGenericDict();
  const std::string key = state_key();
  if (!callbacks.contains(key)) return;
  c10::impl::GenericDict best_k(c10::StringType::get(), c10::AnyType::get());
  for (const auto& [path, score] : best_k_models_) best_k.insert(path, score_ivalue(score, integral_scores_));
  c10::impl::GenericDict state(c10::StringType::get(), c10::AnyType::get());
  state.insert("monitor", options_.monitor() ? c10::IValue(*options_.monitor()) : c10::IValue());
  state.insert("best_model_score", score_ivalue(best_model_score_, integral_scores_));
  state.insert("best_model_path", best_model_path_);
  state.insert("current_score", score_ivalue(current_score_, integral_scores_));
  state.insert("dirpath", dirpath_ ? c10::IValue(*dirpath_) : c10::IValue());
  state.insert("best_k_models", best_k);
  state.insert("kth_best_model_path", kth_best_model_path_);
  state.insert("kth_value", score_ivalue(kth_value_, integral_scores_));
  state.insert("last_model_path", last_model_path_);
  callbacks.insert_or_assign(key, state);
}

void ModelCheckpoint::on_load_checkpoint(Trainer&, LightningModule&, const CheckpointDict& checkpoint) {
  loaded_best_k_order_.clear();
  if (!checkpoint.contains("callbacks") || !checkpoint.at("callbacks").isGenericDict()) return;
  const auto callbacks = checkpoint.at("callbacks").toGenericDict();
  const auto it = callbacks.find(state_key());
  if (it == callbacks.end() || !it->value().isGenericDict()) return;
  const auto state = it->value().toGenericDict();
  if (!state.contains("best_k_models") || !state.at("best_k_models").isGenericDict()) return;
  for (const auto& entry : state.at("best_k_models").toGenericDict()) {
    if (entry.key().isString()) loaded_best_k_order_.push_back(entry.key().toStringRef());
  }
}

void ModelCheckpoint::to_yaml(const std::optional<std::string>& filepath) const {
  std::string path;
  if (filepath) {
    path = *filepath;
  } else {
    if (!dirpath_) throw ConfigurationError("ModelCheckpoint.to_yaml() needs a dirpath (call it after setup)");
    path = lamin::detail::python_path_join(*dirpath_, "best_k_models.yaml");
  }
  nlohmann::json best_k = nlohmann::json::object();  // Lightning: yaml.dump({path: score.item()})
  for (const auto& [key, score] : best_k_models_) {
    if (integral_scores_ && std::isfinite(score)) best_k[key] = static_cast<std::int64_t>(score);
    else best_k[key] = score;
  }
  const std::string text = lamin::detail::yaml_dump(best_k);
  lamin::detail::atomic_write(path, text);
}

}  // namespace lamin::pl
