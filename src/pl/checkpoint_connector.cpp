#include "checkpoint_connector.hpp"

#include <torch/torch.h>

#include <filesystem>
#include <set>
#include <sstream>

#include "core/python.hpp"
#include "lamin/error.hpp"
#include "lamin/log.hpp"
#include "lamin/pl/checkpoint_io.hpp"
#include "lamin/pl/model_checkpoint.hpp"
#include "lamin/pl/trainer.hpp"
#include "grad_scaler.hpp"
#include "loops/fit_loop.hpp"
#include "module_state.hpp"

namespace fs = std::filesystem;

namespace lamin::pl::detail {
namespace {

using c10::IValue;

c10::impl::GenericDict str_dict() { return c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get()); }

IValue tensor_or_none(const at::Tensor& t) { return t.defined() ? IValue(t.detach()) : IValue(); }

// LibTorch keys optimizer state by the parameter's TensorImpl: as a string in 1.x, as the pointer in 2.x.
using StateMap = std::decay_t<decltype(std::declval<torch::optim::Optimizer&>().state())>;
using StateKey = typename StateMap::key_type;

template <typename Key = StateKey>
Key param_key(const at::Tensor& p) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream s;
    s << p.unsafeGetTensorImpl();
    return s.str();
  } else {
    return p.unsafeGetTensorImpl();
  }
}

/// PyTorch's `param_groups` entry of one group (hyperparameters with PyTorch's defaults for what LibTorch lacks).
c10::impl::GenericDict param_group_dict(torch::optim::OptimizerParamGroup& group, bool sgd, bool adam, bool adamw) {
  auto g = str_dict();
  if (sgd) {
    auto& o = static_cast<torch::optim::SGDOptions&>(group.options());
    g.insert("lr", o.lr());
    g.insert("momentum", o.momentum());
    g.insert("dampening", o.dampening());
    g.insert("weight_decay", o.weight_decay());
    g.insert("nesterov", o.nesterov());
    g.insert("maximize", false);
    g.insert("foreach", IValue());
    g.insert("differentiable", false);
    g.insert("fused", IValue());
  } else if (adam || adamw) {
    double lr, eps, wd;
    std::tuple<double, double> betas;
    bool amsgrad;
    if (adam) {
      auto& o = static_cast<torch::optim::AdamOptions&>(group.options());
      lr = o.lr(), eps = o.eps(), wd = o.weight_decay(), betas = o.betas(), amsgrad = o.amsgrad();
    } else {
      auto& o = static_cast<torch::optim::AdamWOptions&>(group.options());
      lr = o.lr(), eps = o.eps(), wd = o.weight_decay(), betas = o.betas(), amsgrad = o.amsgrad();
    }
    g.insert("lr", lr);
    g.insert("betas", c10::ivalue::Tuple::create({std::get<0>(betas), std::get<1>(betas)}));
    g.insert("eps", eps);
    g.insert("weight_decay", wd);
    g.insert("amsgrad", amsgrad);
    g.insert("maximize", false);
    g.insert("foreach", IValue());
    g.insert("capturable", false);
    g.insert("differentiable", false);
    g.insert("fused", IValue());
  } else {
    g.insert("lr", group.options().get_lr());
  }
  return g;
}

/// PyTorch's per-parameter `state` entry of SGD, Adam or AdamW.
c10::impl::GenericDict param_state_dict(torch::optim::OptimizerParamState& param_state, bool sgd, bool adam) {
  auto s = str_dict();
  auto adam_like = [&](auto& ps) {
    s.insert("step", torch::tensor(static_cast<float>(ps.step())));
    s.insert("exp_avg", tensor_or_none(ps.exp_avg()));
    s.insert("exp_avg_sq", tensor_or_none(ps.exp_avg_sq()));
    if (ps.max_exp_avg_sq().defined()) s.insert("max_exp_avg_sq", ps.max_exp_avg_sq().detach());
  };
  if (sgd) {
    auto& ps = static_cast<torch::optim::SGDParamState&>(param_state);
    s.insert("momentum_buffer", tensor_or_none(ps.momentum_buffer()));
  } else if (adam) {
    adam_like(static_cast<torch::optim::AdamParamState&>(param_state));
  } else {
    adam_like(static_cast<torch::optim::AdamWParamState&>(param_state));
  }
  return s;
}

/// PyTorch's `Optimizer.state_dict()` for LibTorch's optimizers: SGD, Adam and AdamW in PyTorch's own layout
/// (so Python can resume from the file), others as a LibTorch archive under `lamin_archive`.
IValue optimizer_state_dict(torch::optim::Optimizer& optimizer) {
  std::unordered_map<StateKey, std::int64_t> index;
  std::int64_t next = 0;
  c10::impl::GenericList groups(c10::AnyType::get());
  c10::impl::GenericDict state(c10::IntType::get(), c10::AnyType::get());
  const bool sgd = dynamic_cast<torch::optim::SGD*>(&optimizer) != nullptr;
  const bool adam = dynamic_cast<torch::optim::Adam*>(&optimizer) != nullptr;
  const bool adamw = dynamic_cast<torch::optim::AdamW*>(&optimizer) != nullptr;
  for (auto& group : optimizer.param_groups()) {
    auto g = param_group_dict(group, sgd, adam, adamw);
    // A generic list: a typed int list would be pickled through torch.jit's helpers, which weights_only refuses.
    c10::impl::GenericList ids(c10::AnyType::get());
    for (auto& p : group.params()) {
      index[param_key(p)] = next;
      ids.push_back(next++);
    }
    g.insert("params", ids);
    groups.push_back(g);
  }
  auto out = str_dict();
  if (sgd || adam || adamw) {
    for (auto& [key, param_state] : optimizer.state()) {
      auto it = index.find(key);
      if (it != index.end()) state.insert(it->second, param_state_dict(*param_state, sgd, adam));
    }
  } else {
    torch::serialize::OutputArchive archive;
    optimizer.save(archive);
    std::ostringstream bytes;
    archive.save_to(bytes);
    const std::string b = bytes.str();
    at::Tensor blob = torch::empty({static_cast<std::int64_t>(b.size())}, torch::kUInt8);
    std::memcpy(blob.data_ptr(), b.data(), b.size());
    out.insert("lamin_archive", blob);
  }
  out.insert("state", state);
  out.insert("param_groups", groups);
  return out;
}

/// A number as Python wrote it: an int, a float, a bool or a 0-dim tensor (torch >= 1.12 keeps Adam's step so).
double number(const IValue& v, const std::string& what) {
  if (v.isDouble()) return v.toDouble();
  if (v.isInt()) return static_cast<double>(v.toInt());
  if (v.isBool()) return v.toBool() ? 1.0 : 0.0;
  if (v.isTensor() && v.toTensor().numel() == 1) return v.toTensor().item<double>();
  throw IntegrityError("optimizer state: `" + what + "` is not a number");
}

/// (beta1, beta2) from a tuple or a list.
std::tuple<double, double> betas_of(const IValue& v) {
  std::vector<IValue> items;
  if (v.isTuple()) items = v.toTupleRef().elements().vec();
  else if (v.isList()) items = v.toList().vec();
  if (items.size() != 2) throw IntegrityError("optimizer state: `betas` is not a pair");
  return {number(items[0], "betas"), number(items[1], "betas")};
}

/// The hyperparameters of a saved group replace the optimizer's own, as torch.optim's load_state_dict does; keys
/// a group lacks keep the optimizer's value.
void restore_group_options(torch::optim::OptimizerParamGroup& group, const c10::impl::GenericDict& g, bool sgd,
                           bool adam) {
  auto num = [&](const char* k, double fallback) { return g.contains(k) ? number(g.at(k), k) : fallback; };
  auto flag = [&](const char* k, bool fallback) { return g.contains(k) ? number(g.at(k), k) != 0.0 : fallback; };
  if (sgd) {
    auto& o = static_cast<torch::optim::SGDOptions&>(group.options());
    o.lr(num("lr", o.lr())).momentum(num("momentum", o.momentum())).dampening(num("dampening", o.dampening()));
    o.weight_decay(num("weight_decay", o.weight_decay())).nesterov(flag("nesterov", o.nesterov()));
    return;
  }
  auto apply = [&](auto& o) {
    o.lr(num("lr", o.lr())).eps(num("eps", o.eps())).weight_decay(num("weight_decay", o.weight_decay()));
    o.amsgrad(flag("amsgrad", o.amsgrad()));
    if (g.contains("betas")) o.betas(betas_of(g.at("betas")));
  };
  if (adam) apply(static_cast<torch::optim::AdamOptions&>(group.options()));
  else apply(static_cast<torch::optim::AdamWOptions&>(group.options()));
}

void load_optimizer_state_dict(torch::optim::Optimizer& optimizer, const IValue& value) {
  if (!value.isGenericDict()) throw IntegrityError("optimizer state in checkpoint is not a dict");
  auto d = value.toGenericDict();
  if (d.contains("lamin_archive")) {
    const at::Tensor blob = d.at("lamin_archive").toTensor().contiguous();
    std::istringstream bytes(std::string(static_cast<const char*>(blob.data_ptr()), blob.numel()));
    torch::serialize::InputArchive archive;
    archive.load_from(bytes);
    optimizer.load(archive);
    return;
  }
  auto* sgd = dynamic_cast<torch::optim::SGD*>(&optimizer);
  auto* adam = dynamic_cast<torch::optim::Adam*>(&optimizer);
  auto* adamw = dynamic_cast<torch::optim::AdamW*>(&optimizer);
  if (!sgd && !adam && !adamw) {
    throw IntegrityError("the checkpoint's optimizer state was written for another optimizer type");
  }
  std::vector<at::Tensor> params;
  auto groups = d.at("param_groups").toList();
  auto& my_groups = optimizer.param_groups();
  if (groups.size() != my_groups.size()) {
    throw IntegrityError("loaded optimizer state has " + std::to_string(groups.size()) +
                         " parameter groups, the optimizer has " + std::to_string(my_groups.size()));
  }
  for (std::size_t i = 0; i < my_groups.size(); ++i) {
    auto g = groups.get(i).toGenericDict();
    restore_group_options(my_groups[i], g, sgd != nullptr, adam != nullptr);
    for (auto& p : my_groups[i].params()) params.push_back(p);
  }
  auto state = d.at("state").toGenericDict();
  optimizer.state().clear();
  for (const auto& entry : state) {
    const std::int64_t idx = entry.key().toInt();
    if (idx < 0 || idx >= static_cast<std::int64_t>(params.size())) {
      throw IntegrityError("optimizer state refers to parameter " + std::to_string(idx) + " which does not exist");
    }
    const at::Tensor& p = params[static_cast<std::size_t>(idx)];
    auto s = entry.value().toGenericDict();
    auto tensor = [&](const char* name) -> at::Tensor {
      if (!s.contains(name) || s.at(name).isNone()) return at::Tensor();
      return s.at(name).toTensor().to(p.device(), p.scalar_type());
    };
    const StateKey key = param_key(p);
    if (sgd) {
      auto ps = std::make_unique<torch::optim::SGDParamState>();
      ps->momentum_buffer(tensor("momentum_buffer"));
      optimizer.state()[key] = std::move(ps);
    } else {
      const auto step = static_cast<std::int64_t>(number(s.at("step"), "step"));
      if (adam) {
        auto ps = std::make_unique<torch::optim::AdamParamState>();
        ps->step(step);
        ps->exp_avg(tensor("exp_avg"));
        ps->exp_avg_sq(tensor("exp_avg_sq"));
        ps->max_exp_avg_sq(tensor("max_exp_avg_sq"));
        optimizer.state()[key] = std::move(ps);
      } else {
        auto ps = std::make_unique<torch::optim::AdamWParamState>();
        ps->step(step);
        ps->exp_avg(tensor("exp_avg"));
        ps->exp_avg_sq(tensor("exp_avg_sq"));
        ps->max_exp_avg_sq(tensor("max_exp_avg_sq"));
        optimizer.state()[key] = std::move(ps);
      }
    }
  }
}

}  // namespace

CheckpointDict dump_checkpoint(Trainer& trainer, bool weights_only, const nlohmann::json& loops,
                               const GradScaler* scaler, const c10::impl::GenericDict* kept) {
  LightningModule& module = *trainer.lightning_module();
  CheckpointDict ckpt = make_checkpoint_dict();
  ckpt.insert("epoch", trainer.current_epoch());
  ckpt.insert("global_step", trainer.global_step());
  ckpt.insert("pytorch-lightning_version", std::string(kLightningCheckpointVersion));
  ckpt.insert("state_dict", module_state_dict(module));
  ckpt.insert("loops", json_to_ivalue(loops));
  if (!weights_only) {
    auto callbacks = str_dict();
    for (auto& cb : trainer.callbacks()) {
      nlohmann::json state = cb->state_dict();
      if (state.is_null() || (state.is_object() && state.empty())) continue;
      callbacks.insert(cb->state_key(), json_to_ivalue(state));
    }
    if (kept) {
      for (const auto& e : *kept)
        if (!callbacks.contains(e.key())) callbacks.insert(e.key(), e.value());
    }
    ckpt.insert("callbacks", callbacks);
    c10::impl::GenericList optimizers(c10::AnyType::get());
    for (auto& opt : trainer.optimizers()) optimizers.push_back(optimizer_state_dict(*opt));
    ckpt.insert("optimizer_states", optimizers);
    c10::impl::GenericList schedulers(c10::AnyType::get());
    for (auto& cfg : trainer.lr_scheduler_configs()) schedulers.push_back(json_to_ivalue(cfg.scheduler->state_dict()));
    ckpt.insert("lr_schedulers", schedulers);
    if (scaler) ckpt.insert("MixedPrecision", scaler->state_dict());
  }
  if (module.has_hparams()) {
    ckpt.insert("hyper_parameters", json_to_ivalue(module.hparams()));
    ckpt.insert("hparams_name", std::string("kwargs"));
  }
  if (auto* dm = trainer.datamodule(); dm != nullptr && dm->has_hparams()) {
    ckpt.insert("datamodule_hyper_parameters", json_to_ivalue(dm->hparams()));
    ckpt.insert("datamodule_hparams_name", std::string("kwargs"));
  }
  if (!weights_only) {
    for (auto& cb : trainer.callbacks()) cb->on_save_checkpoint(trainer, module, ckpt);
  }
  module.on_save_checkpoint(ckpt);
  return ckpt;
}

std::string resolve_ckpt_path(Trainer& trainer, const std::string& ckpt_path) {
  std::string path = ckpt_path;
  if (ckpt_path == "best") {
    ModelCheckpoint* mc = trainer.checkpoint_callback();
    if (mc == nullptr || mc->best_model_path().empty()) {
      throw ConfigurationError("`.fit(ckpt_path=\"best\")` is set but `ModelCheckpoint` is not configured to save "
                               "the best model.");
    }
    path = mc->best_model_path();
  } else if (ckpt_path == "last") {
    std::string newest;
    fs::file_time_type newest_time{};
    for (ModelCheckpoint* mc : trainer.checkpoint_callbacks()) {
      for (const auto& candidate : mc->_find_last_checkpoints(trainer)) {
        std::error_code ec;
        const auto t = fs::last_write_time(candidate, ec);
        if (!ec && (newest.empty() || t > newest_time)) newest = candidate, newest_time = t;
      }
    }
    if (newest.empty()) {
      throw NotFoundError(".fit(ckpt_path=\"last\") is set, but there is no last checkpoint available.");
    }
    path = newest;
  }
  std::error_code ec;
  fs::path abs = fs::absolute(path, ec);
  if (!fs::exists(abs, ec)) throw NotFoundError("Checkpoint file not found: " + abs.string());
  return abs.lexically_normal().string();
}

c10::impl::GenericDict restore_model_and_callbacks(Trainer& trainer, const CheckpointDict& checkpoint) {
  LightningModule& module = *trainer.lightning_module();
  module.on_load_checkpoint(checkpoint);
  load_module_state(module, checkpoint, trainer.ckpt_path().value_or("checkpoint"));
  c10::impl::GenericDict unclaimed(c10::StringType::get(), c10::AnyType::get());
  if (checkpoint.contains("callbacks") && checkpoint.at("callbacks").isGenericDict()) {
    std::set<std::string> keys;
    for (auto& cb : trainer.callbacks()) keys.insert(cb->state_key());
    std::vector<std::string> missing;
    for (const auto& e : checkpoint.at("callbacks").toGenericDict()) {
      if (!e.key().isString() || keys.count(e.key().toStringRef())) continue;
      missing.push_back(e.key().toStringRef());
      unclaimed.insert(e.key(), e.value());
    }
    if (!missing.empty()) {
      lamin::log::warn("Be aware that when using `ckpt_path`, callbacks used to create the checkpoint need to be "
                       "provided during `Trainer` instantiation. Please add the following callbacks: " +
                       lamin::detail::python_list_repr(missing) + ".");
    }
  }
  for (auto& cb : trainer.callbacks()) cb->on_load_checkpoint(trainer, module, checkpoint);
  if (checkpoint.contains("callbacks") && checkpoint.at("callbacks").isGenericDict()) {
    auto states = checkpoint.at("callbacks").toGenericDict();
    for (auto& cb : trainer.callbacks()) {
      auto it = states.find(cb->state_key());
      if (it != states.end()) cb->load_state_dict(ivalue_to_json(it->value()));
    }
  }
  return unclaimed;
}

void restore_training_state(Trainer& trainer, const CheckpointDict& checkpoint, FitLoop& fit_loop,
                            GradScaler* scaler) {
  const std::string source = trainer.ckpt_path().value_or("checkpoint");
  if (scaler && checkpoint.contains("MixedPrecision")) scaler->load_state_dict(checkpoint.at("MixedPrecision"));
  if (!checkpoint.contains("optimizer_states")) {
    throw IntegrityError("Trying to restore optimizer state but checkpoint '" + source +
                         "' contains only the model. This is probably due to `ModelCheckpoint.save_weights_only` "
                         "being set to `True`.");
  }
  const auto& optimizers = trainer.optimizers();
  auto states = checkpoint.at("optimizer_states").toList();
  if (states.size() != optimizers.size()) {
    throw IntegrityError("checkpoint '" + source + "' has " + std::to_string(states.size()) +
                         " optimizer states, the module configures " + std::to_string(optimizers.size()));
  }
  for (std::size_t i = 0; i < states.size(); ++i) load_optimizer_state_dict(*optimizers[i], states.get(i));
  if (checkpoint.contains("lr_schedulers")) {
    auto schedulers = checkpoint.at("lr_schedulers").toList();
    const auto& configs = trainer.lr_scheduler_configs();
    for (std::size_t i = 0; i < schedulers.size() && i < configs.size(); ++i) {
      configs[i].scheduler->load_state_dict(ivalue_to_json(schedulers.get(i)));
    }
  }
  const nlohmann::json loops = checkpoint.contains("loops") ? ivalue_to_json(checkpoint.at("loops")) : nlohmann::json();
  fit_loop.load_state_dict(loops, checkpoint.at("global_step").toInt());
}

}  // namespace lamin::pl::detail
