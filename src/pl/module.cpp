#include "lamin/pl/module.hpp"

#include <torch/torch.h>

#include <set>
#include <sstream>

#include "core/python.hpp"
#include "lamin/error.hpp"
#include "lamin/log.hpp"
#include "lamin/pl/checkpoint_io.hpp"
#include "lamin/pl/trainer.hpp"
#include "module_state.hpp"

namespace lamin::pl {

void LightningModule::configure_gradient_clipping(torch::optim::Optimizer& optimizer, double clip_val,
                                                  const std::string& algorithm) {
  std::vector<at::Tensor> params;
  for (auto& group : optimizer.param_groups())
    for (auto& p : group.params()) params.push_back(p);
  if (algorithm == "value") {
    torch::nn::utils::clip_grad_value_(params, clip_val);
  } else {
    torch::nn::utils::clip_grad_norm_(params, clip_val, 2.0);
  }
}

void LightningModule::log(const std::string& name, double value, const LogOptions& options) {
  if (trainer_ == nullptr) {
    lamin::log::warn_once("You are trying to `self.log()` but the `self.trainer` reference is not registered on the "
                          "model yet. This is most likely because the model hasn't been passed to the `Trainer`");
    return;
  }
  trainer_->log_from_module(name, value, options);
}

void LightningModule::log(const std::string& name, const at::Tensor& value, const LogOptions& options) {
  if (!value.defined() || value.numel() != 1) {
    throw ConfigurationError("`self.log(" + name + ", value)` was called, but the tensor must have a single element.");
  }
  log(name, value.detach().to(at::kCPU).to(at::kFloat).item<double>(), options);
}

at::Tensor LightningModule::predict_step(const Batch&, std::int64_t) {
  throw ConfigurationError(
      "`predict_step` is not implemented: override `LightningModule::predict_step` to use `Trainer.predict`.");
}

void LightningModule::save_hyperparameters(const nlohmann::json& hparams) {
  if (!hparams.is_object()) throw ConfigurationError("save_hyperparameters expects a JSON object of name: value");
  if (hparams_.is_null()) hparams_ = nlohmann::json::object();
  for (auto it = hparams.begin(); it != hparams.end(); ++it) hparams_[it.key()] = it.value();
}

Trainer& LightningModule::trainer() const {
  if (trainer_ == nullptr) throw Error("LightningModule is not attached to a `Trainer`.");
  return *trainer_;
}

torch::Device LightningModule::device() const {
  for (const auto& p : parameters()) return p.device();
  for (const auto& b : buffers()) return b.device();
  return torch::kCPU;
}

nlohmann::json LightningModule::read_checkpoint_hparams(const std::string& path) {
  const CheckpointDict ckpt = load_checkpoint_file(path);
  if (!ckpt.contains("hyper_parameters")) return nullptr;
  return ivalue_to_json(ckpt.at("hyper_parameters"));
}

void LightningModule::load_weights_from_checkpoint(const std::string& path, const LoadOptions& options) {
  const CheckpointDict ckpt = load_checkpoint_file(path);
  detail::load_module_state(*this, ckpt, path, options.strict());
  to(options.map_location());
  if (ckpt.contains("hyper_parameters")) hparams_ = ivalue_to_json(ckpt.at("hyper_parameters"));
  on_load_checkpoint(ckpt);
}

namespace detail {

c10::impl::GenericDict module_state_dict(LightningModule& module) {
  c10::impl::GenericDict out(c10::StringType::get(), c10::TensorType::get());
  auto add_own = [&](const torch::nn::Module& m, const std::string& prefix) {
    for (const auto& p : m.named_parameters(/*recurse=*/false)) out.insert(prefix + p.key(), p.value().detach());
    for (const auto& b : m.named_buffers(/*recurse=*/false)) out.insert(prefix + b.key(), b.value().detach());
  };
  add_own(module, "");
  for (const auto& item : module.named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
    add_own(*item.value(), item.key() + ".");
  }
  return out;
}

namespace {

std::string shape_text(at::IntArrayRef sizes) {
  std::ostringstream s;
  s << "[";
  for (std::size_t i = 0; i < sizes.size(); ++i) s << (i ? ", " : "") << sizes[i];
  s << "]";
  return s.str();
}

/// The state dict a checkpoint holds: its `state_dict`, or the checkpoint itself when it is a bare one.
c10::impl::GenericDict state_dict_of(const CheckpointDict& ckpt, const std::string& source) {
  if (ckpt.contains("state_dict") && ckpt.at("state_dict").isGenericDict()) {
    return ckpt.at("state_dict").toGenericDict();
  }
  bool bare = !ckpt.empty() && !ckpt.contains("state_dict");
  for (const auto& entry : ckpt) bare = bare && entry.key().isString() && entry.value().isTensor();
  if (!bare) throw IntegrityError("checkpoint '" + source + "' has no `state_dict`");
  return ckpt;
}

}  // namespace

void load_module_state(LightningModule& module, const CheckpointDict& ckpt, const std::string& source, bool strict) {
  const auto state = state_dict_of(ckpt, source);
  std::vector<std::pair<std::string, at::Tensor>> targets;
  for (const auto& p : module.named_parameters(/*recurse=*/true)) targets.emplace_back(p.key(), p.value());
  for (const auto& b : module.named_buffers(/*recurse=*/true)) targets.emplace_back(b.key(), b.value());

  std::vector<std::string> problems, missing, unexpected;
  std::set<std::string> expected;
  for (auto& [name, tensor] : targets) {
    expected.insert(name);
    auto it = state.find(name);
    if (it == state.end()) {
      missing.push_back(name);
      if (strict) problems.push_back("Missing key \"" + name + "\" (shape " + shape_text(tensor.sizes()) + ")");
      continue;
    }
    if (!it->value().isTensor()) {
      problems.push_back("\"" + name + "\" is not a tensor in the checkpoint");
      continue;
    }
    const at::Tensor& saved = it->value().toTensor();
    if (saved.sizes() != tensor.sizes()) {
      problems.push_back("size mismatch for " + name + ": copying a param with shape " + shape_text(saved.sizes()) +
                         " from checkpoint, the shape in current model is " + shape_text(tensor.sizes()));
    }
  }
  for (const auto& entry : state) {
    const std::string key = entry.key().toStringRef();
    if (expected.count(key)) continue;
    unexpected.push_back(key);
    if (strict) problems.push_back("Unexpected key \"" + key + "\"");
  }
  if (!problems.empty()) {
    std::string msg = "Error(s) in loading state_dict from '" + source + "':";
    for (const auto& p : problems) msg += "\n\t" + p;
    throw IntegrityError(msg);
  }
  if (!missing.empty()) {
    log::warn("Found keys that are in the model state dict but not in the checkpoint: " +
              lamin::detail::python_list_repr(missing));
  }
  if (!unexpected.empty()) {
    log::warn("Found keys that are not in the model state dict but in the checkpoint: " +
              lamin::detail::python_list_repr(unexpected));
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, tensor] : targets) {
    auto it = state.find(name);
    if (it == state.end()) continue;
    tensor.copy_(it->value().toTensor().to(tensor.device(), tensor.scalar_type()));
  }
}

}  // namespace detail

}  // namespace lamin::pl
