#include "lamin/pl/optim.hpp"

#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "lamin/error.hpp"

namespace lamin::pl {

LRScheduler::LRScheduler(torch::optim::Optimizer& optimizer) : optimizer_(optimizer) {
  for (auto& group : optimizer_.param_groups()) base_lrs_.push_back(group.options().get_lr());
  last_lr_ = base_lrs_;
}

void LRScheduler::apply_lr(const std::vector<double>& lrs) {
  auto& groups = optimizer_.param_groups();
  for (std::size_t i = 0; i < groups.size() && i < lrs.size(); ++i) groups[i].options().set_lr(lrs[i]);
  last_lr_ = lrs;
}

void LRScheduler::step(std::optional<double> metric) {
  (void)metric;
  ++step_count_;
  ++last_epoch_;
  apply_lr(compute_lr());
}

nlohmann::json LRScheduler::state_dict() const {
  return {{"base_lrs", base_lrs_},
          {"last_epoch", last_epoch_},
          {"verbose", false},
          {"_step_count", step_count_},
          {"_get_lr_called_within_step", false},
          {"_last_lr", last_lr_}};
}

void LRScheduler::load_state_dict(const nlohmann::json& state) {
  try {
    base_lrs_ = state.at("base_lrs").get<std::vector<double>>();
    last_epoch_ = state.at("last_epoch").get<std::int64_t>();
    step_count_ = state.value("_step_count", last_epoch_ + 1);
    apply_lr(state.contains("_last_lr") ? state.at("_last_lr").get<std::vector<double>>() : compute_lr());
  } catch (const nlohmann::json::exception& e) {
    throw IntegrityError(std::string("invalid lr scheduler state in checkpoint: ") + e.what());
  }
}

StepLR::StepLR(torch::optim::Optimizer& optimizer, std::int64_t step_size, double gamma)
    : LRScheduler(optimizer), step_size_(step_size), gamma_(gamma) {
  if (step_size < 1) throw ConfigurationError("StepLR step_size must be >= 1");
}

std::vector<double> StepLR::compute_lr() const {
  // PyTorch's recursive form (not the closed one), so learning rates match Python bit for bit.
  std::vector<double> out;
  for (auto& group : optimizer_.param_groups()) {
    const double lr = group.options().get_lr();
    out.push_back(last_epoch_ == 0 || last_epoch_ % step_size_ != 0 ? lr : lr * gamma_);
  }
  return out;
}

nlohmann::json StepLR::state_dict() const {
  auto s = LRScheduler::state_dict();
  s["step_size"] = step_size_;
  s["gamma"] = gamma_;
  return s;
}

void StepLR::load_state_dict(const nlohmann::json& state) {
  try {
    const auto step_size = state.value("step_size", step_size_);
    if (step_size < 1) throw IntegrityError("invalid lr scheduler state in checkpoint: StepLR step_size < 1");
    step_size_ = step_size;
    gamma_ = state.value("gamma", gamma_);
  } catch (const nlohmann::json::exception& e) {
    throw IntegrityError(std::string("invalid lr scheduler state in checkpoint: ") + e.what());
  }
  LRScheduler::load_state_dict(state);
}

ExponentialLR::ExponentialLR(torch::optim::Optimizer& optimizer, double gamma) : LRScheduler(optimizer), gamma_(gamma) {}

std::vector<double> ExponentialLR::compute_lr() const {
  std::vector<double> out;
  for (auto& group : optimizer_.param_groups()) {
    const double lr = group.options().get_lr();
    out.push_back(last_epoch_ == 0 ? lr : lr * gamma_);
  }
  return out;
}

nlohmann::json ExponentialLR::state_dict() const {
  auto s = LRScheduler::state_dict();
  s["gamma"] = gamma_;
  return s;
}

void ExponentialLR::load_state_dict(const nlohmann::json& state) {
  try {
    gamma_ = state.value("gamma", gamma_);
  } catch (const nlohmann::json::exception& e) {
    throw IntegrityError(std::string("invalid lr scheduler state in checkpoint: ") + e.what());
  }
  LRScheduler::load_state_dict(state);
}

ReduceLROnPlateau::ReduceLROnPlateau(torch::optim::Optimizer& optimizer, std::string mode, double factor,
                                     std::int64_t patience, double threshold, std::int64_t cooldown, double min_lr)
    : LRScheduler(optimizer),
      mode_(std::move(mode)),
      factor_(factor),
      threshold_(threshold),
      min_lr_(min_lr),
      patience_(patience),
      cooldown_(cooldown) {
  if (mode_ != "min" && mode_ != "max") throw ConfigurationError("mode " + mode_ + " is unknown!");
  if (factor >= 1.0) throw ConfigurationError("Factor should be < 1.0.");
  best_ = mode_ == "min" ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
}

bool ReduceLROnPlateau::is_better(double a, double best) const {
  return mode_ == "min" ? a < best * (1.0 - threshold_) : a > best * (1.0 + threshold_);
}

void ReduceLROnPlateau::step(std::optional<double> metric) {
  if (!metric) throw ConfigurationError("ReduceLROnPlateau.step needs the monitored metric");
  ++last_epoch_;
  ++step_count_;
  if (is_better(*metric, best_)) {
    best_ = *metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;
  }
  if (num_bad_epochs_ > patience_) {
    std::vector<double> lrs;
    for (auto& group : optimizer_.param_groups()) lrs.push_back(std::max(group.options().get_lr() * factor_, min_lr_));
    apply_lr(lrs);
    cooldown_counter_ = cooldown_;
    num_bad_epochs_ = 0;
  }
}

std::vector<double> ReduceLROnPlateau::compute_lr() const { return last_lr_; }

nlohmann::json ReduceLROnPlateau::state_dict() const {
  auto s = LRScheduler::state_dict();
  s["mode"] = mode_;
  s["factor"] = factor_;
  s["patience"] = patience_;
  s["threshold"] = threshold_;
  s["threshold_mode"] = "rel";
  s["cooldown"] = cooldown_;
  s["min_lrs"] = std::vector<double>(base_lrs_.size(), min_lr_);
  s["best"] = best_;
  s["num_bad_epochs"] = num_bad_epochs_;
  s["cooldown_counter"] = cooldown_counter_;
  s["eps"] = 1e-8;
  return s;
}

void ReduceLROnPlateau::load_state_dict(const nlohmann::json& state) {
  LRScheduler::load_state_dict(state);
  best_ = state.value("best", best_);
  num_bad_epochs_ = state.value("num_bad_epochs", std::int64_t{0});
  cooldown_counter_ = state.value("cooldown_counter", std::int64_t{0});
}

}  // namespace lamin::pl
