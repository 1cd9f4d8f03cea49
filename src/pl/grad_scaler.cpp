#include "grad_scaler.hpp"

#include <ATen/ATen.h>
#include <ATen/core/Dict.h>
#include <ATen/core/grad_mode.h>

#include <cmath>
#include <string>

#include "lamin/error.hpp"

namespace lamin::pl::detail {

at::Tensor GradScaler::scale(const at::Tensor& loss) const { return loss * static_cast<double>(scale_); }

void GradScaler::unscale(torch::optim::Optimizer& optimizer) {
  PerOptimizer& state = per_optimizer_[&optimizer];
  if (state.stepped) throw Error("unscale_() is being called after step().");
  if (state.unscaled) throw Error("unscale_() has already been called on this optimizer since the last update().");
  // torch multiplies by the reciprocal of the float32 scale, itself rounded to float32.
  const float inv_scale = static_cast<float>(1.0 / static_cast<double>(scale_));
  at::NoGradGuard no_grad;
  at::Tensor found_inf;
  for (auto& group : optimizer.param_groups()) {
    for (auto& param : group.params()) {
      at::Tensor grad = param.grad();
      if (!grad.defined()) continue;
      if (grad.scalar_type() == at::kHalf) throw Error("Attempting to unscale FP16 gradients.");
      const at::Tensor values = grad.is_sparse() ? grad.coalesce()._values() : grad;
      at::Tensor bad = at::isfinite(values).logical_not().any();
      found_inf = found_inf.defined() ? found_inf.logical_or(bad.to(found_inf.device())) : bad;
      grad.mul_(inv_scale);
    }
  }
  state.found_inf = found_inf.defined() && found_inf.item<bool>();
  state.unscaled = true;
}

bool GradScaler::step(torch::optim::Optimizer& optimizer) {
  if (per_optimizer_[&optimizer].stepped) throw Error("step() has already been called since the last update().");
  if (!per_optimizer_[&optimizer].unscaled) unscale(optimizer);
  PerOptimizer& state = per_optimizer_[&optimizer];
  state.stepped = true;
  if (state.found_inf) return false;
  optimizer.step();
  return true;
}

void GradScaler::update() {
  bool any_checked = false, found_inf = false;
  for (const auto& [optimizer, state] : per_optimizer_) {
    any_checked = any_checked || state.unscaled;
    found_inf = found_inf || (state.unscaled && state.found_inf);
  }
  if (!any_checked) throw Error("No inf checks were recorded prior to update.");
  // torch's _amp_update_scale_: back off at once, grow after growth_interval good steps in a row (unless the grown
  // scale would not be finite).
  if (found_inf) {
    scale_ *= backoff_factor_;
    growth_tracker_ = 0;
  } else if (growth_tracker_ + 1 == growth_interval_) {
    const float grown = scale_ * growth_factor_;
    if (std::isfinite(grown)) scale_ = grown;
    growth_tracker_ = 0;
  } else {
    ++growth_tracker_;
  }
  per_optimizer_.clear();
}

c10::IValue GradScaler::state_dict() const {
  c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
  d.insert("scale", static_cast<double>(scale_));
  d.insert("growth_factor", static_cast<double>(growth_factor_));
  d.insert("backoff_factor", static_cast<double>(backoff_factor_));
  d.insert("growth_interval", growth_interval_);
  d.insert("_growth_tracker", growth_tracker_);
  return d;
}

void GradScaler::load_state_dict(const c10::IValue& state) {
  if (!state.isGenericDict() || state.toGenericDict().empty()) {
    throw IntegrityError("The source state dict is empty, possibly because it was saved from a disabled instance of "
                         "GradScaler.");
  }
  const auto d = state.toGenericDict();
  auto at = [&](const char* key) -> c10::IValue {
    const auto it = d.find(key);
    if (it == d.end()) throw IntegrityError(std::string("the GradScaler state has no '") + key + "'");
    return it->value();
  };
  auto number = [&](const char* key) {
    const c10::IValue v = at(key);
    if (v.isDouble()) return v.toDouble();
    if (v.isInt()) return static_cast<double>(v.toInt());
    throw IntegrityError(std::string("the GradScaler state's '") + key + "' is not a number");
  };
  auto integer = [&](const char* key) {
    const c10::IValue v = at(key);
    if (!v.isInt()) throw IntegrityError(std::string("the GradScaler state's '") + key + "' is not an integer");
    return v.toInt();
  };
  scale_ = static_cast<float>(number("scale"));
  growth_factor_ = static_cast<float>(number("growth_factor"));
  backoff_factor_ = static_cast<float>(number("backoff_factor"));
  growth_interval_ = integer("growth_interval");
  growth_tracker_ = integer("_growth_tracker");
  per_optimizer_.clear();
}

}  // namespace lamin::pl::detail
