#pragma once
// Dynamic loss scaling for "16-mixed", as torch.amp.GradScaler does it with its defaults (and Lightning's
// MixedPrecision plugin drives it): the loss is multiplied by the scale before backward, the gradients are divided
// by it before the optimizer step, a step whose gradients hold an inf or NaN is skipped and halves the scale, and
// 2,000 steps in a row without one double it.

#include <cstdint>
#include <unordered_map>

#include <ATen/core/Tensor.h>
#include <ATen/core/ivalue.h>
#include <torch/optim/optimizer.h>

namespace lamin::pl::detail {

class GradScaler {
 public:
  /// `loss` times the current scale.
  at::Tensor scale(const at::Tensor& loss) const;
  /// Divides the optimizer's gradients by the scale, in place, and notes whether any is not finite. Once per
  /// optimizer between two update() calls, and before step().
  void unscale(torch::optim::Optimizer& optimizer);
  /// Steps the optimizer unless one of its gradients is not finite (unscaling them first if unscale() was not
  /// called); whether it stepped. Once per optimizer between two update() calls.
  bool step(torch::optim::Optimizer& optimizer);
  /// Halves the scale if a gradient unscaled since the last update was not finite, else counts a good step and
  /// doubles the scale after growth_interval() of them in a row.
  void update();

  float get_scale() const { return scale_; }
  std::int64_t growth_tracker() const { return growth_tracker_; }
  std::int64_t growth_interval() const { return growth_interval_; }

  /// torch's GradScaler.state_dict(): scale, growth_factor, backoff_factor, growth_interval, _growth_tracker
  /// (what Lightning stores under the checkpoint key "MixedPrecision").
  c10::IValue state_dict() const;
  void load_state_dict(const c10::IValue& state);

 private:
  struct PerOptimizer {
    bool unscaled = false;
    bool stepped = false;
    bool found_inf = false;
  };
  float scale_ = 65536.0f;  // 2**16
  float growth_factor_ = 2.0f;
  float backoff_factor_ = 0.5f;
  std::int64_t growth_interval_ = 2000;
  std::int64_t growth_tracker_ = 0;
  std::unordered_map<const torch::optim::Optimizer*, PerOptimizer> per_optimizer_;
};

}  // namespace lamin::pl::detail
