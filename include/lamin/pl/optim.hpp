#pragma once
// What `configure_optimizers` returns: optimizers and learning-rate schedulers with Lightning's config
// (`interval`, `frequency`, `monitor`), and schedulers whose state can be saved in Lightning checkpoints.

#include <torch/optim/optimizer.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

namespace lamin::pl {

/// A learning-rate scheduler over one optimizer, with a Python-compatible `state_dict`.
class LRScheduler {
 public:
  explicit LRScheduler(torch::optim::Optimizer& optimizer);
  virtual ~LRScheduler() = default;
  /// One scheduler step (`metric` is used by plateau schedulers only).
  virtual void step(std::optional<double> metric = std::nullopt);
  virtual bool is_plateau() const { return false; }
  /// The current learning rates, one per parameter group.
  std::vector<double> get_last_lr() const { return last_lr_; }
  /// PyTorch's `state_dict()` of the scheduler (`base_lrs`, `last_epoch`, `_step_count`, `_last_lr`, ...).
  virtual nlohmann::json state_dict() const;
  virtual void load_state_dict(const nlohmann::json& state);

 protected:
  /// The learning rates for `last_epoch_` (closed form), one per group.
  virtual std::vector<double> compute_lr() const = 0;
  void apply_lr(const std::vector<double>& lrs);

  torch::optim::Optimizer& optimizer_;
  std::vector<double> base_lrs_;
  std::vector<double> last_lr_;
  std::int64_t last_epoch_ = 0;
  std::int64_t step_count_ = 1;
};

/// `torch.optim.lr_scheduler.StepLR`: lr = base · gamma^(epoch // step_size).
class StepLR : public LRScheduler {
 public:
  StepLR(torch::optim::Optimizer& optimizer, std::int64_t step_size, double gamma = 0.1);
  nlohmann::json state_dict() const override;
  /// Also takes the saved `step_size` and `gamma`, as PyTorch's does.
  void load_state_dict(const nlohmann::json& state) override;

 protected:
  std::vector<double> compute_lr() const override;

 private:
  std::int64_t step_size_;
  double gamma_;
};

/// `torch.optim.lr_scheduler.ExponentialLR`: lr = base · gamma^epoch.
class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(torch::optim::Optimizer& optimizer, double gamma);
  nlohmann::json state_dict() const override;
  /// Also takes the saved `gamma`, as PyTorch's does.
  void load_state_dict(const nlohmann::json& state) override;

 protected:
  std::vector<double> compute_lr() const override;

 private:
  double gamma_;
};

/// `torch.optim.lr_scheduler.ReduceLROnPlateau` (mode min/max, factor, patience, threshold rel, cooldown, min_lr).
class ReduceLROnPlateau : public LRScheduler {
 public:
  ReduceLROnPlateau(torch::optim::Optimizer& optimizer, std::string mode = "min", double factor = 0.1,
                    std::int64_t patience = 10, double threshold = 1e-4, std::int64_t cooldown = 0,
                    double min_lr = 0.0);
  void step(std::optional<double> metric = std::nullopt) override;
  bool is_plateau() const override { return true; }
  nlohmann::json state_dict() const override;
  void load_state_dict(const nlohmann::json& state) override;

 protected:
  std::vector<double> compute_lr() const override;

 private:
  bool is_better(double a, double best) const;
  std::string mode_;
  double factor_, threshold_, min_lr_;
  std::int64_t patience_, cooldown_;
  double best_;
  std::int64_t num_bad_epochs_ = 0, cooldown_counter_ = 0;
};

/// Lightning's lr-scheduler config.
struct SchedulerConfig {
  std::shared_ptr<LRScheduler> scheduler;
  std::string interval = "epoch";  ///< "epoch" or "step"
  std::int64_t frequency = 1;
  std::string monitor;  ///< metric for plateau schedulers (e.g. "val_loss")
  bool strict = true;
};

/// What `LightningModule::configure_optimizers` returns.
struct OptimizerConfig {
  std::vector<std::shared_ptr<torch::optim::Optimizer>> optimizers;
  std::vector<SchedulerConfig> schedulers;

  OptimizerConfig() = default;
  /// One optimizer (any torch::optim optimizer), as `return std::make_shared<torch::optim::SGD>(...)`.
  template <typename O, typename = std::enable_if_t<std::is_base_of_v<torch::optim::Optimizer, O>>>
  /* implicit */ OptimizerConfig(std::shared_ptr<O> optimizer) {  // NOLINT
    optimizers.push_back(std::move(optimizer));
  }
  /// One optimizer with one scheduler.
  template <typename O, typename = std::enable_if_t<std::is_base_of_v<torch::optim::Optimizer, O>>>
  OptimizerConfig(std::shared_ptr<O> optimizer, SchedulerConfig scheduler) {
    optimizers.push_back(std::move(optimizer));
    schedulers.push_back(std::move(scheduler));
  }
};

}  // namespace lamin::pl
