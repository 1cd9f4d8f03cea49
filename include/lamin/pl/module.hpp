#pragma once
// LightningModule: a torch::nn::Module with Lightning's steps, hooks, `log` and hyperparameters.

#include <torch/nn/module.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "lamin/arg.hpp"
#include "lamin/pl/batch.hpp"
#include "lamin/pl/checkpoint_dict.hpp"
#include "lamin/pl/optim.hpp"

namespace lamin::pl {

class Trainer;
namespace detail {
struct ModuleAccess;
}

/// Options of `LightningModule::log` (Lightning's `self.log` keyword arguments). Unset `on_step`/`on_epoch`
/// take Lightning's defaults for the hook the call is made from.
struct LogOptions {
  LAMIN_ARG(std::optional<bool>, on_step) = std::nullopt;
  LAMIN_ARG(std::optional<bool>, on_epoch) = std::nullopt;
  LAMIN_ARG(bool, prog_bar) = false;
  LAMIN_ARG(bool, logger) = true;
  /// "mean" (weighted by batch size), "sum", "max" or "min".
  LAMIN_ARG(std::string, reduce_fx) = "mean";
  /// Batch size for the weighted mean; default: the first dimension of the batch's inputs.
  LAMIN_ARG(std::optional<std::int64_t>, batch_size) = std::nullopt;
};

/// Options of `LightningModule::load_from_checkpoint` and `load_weights_from_checkpoint` (Lightning's
/// `map_location` and `strict`).
struct LoadOptions {
  /// Where the module goes after loading.
  LAMIN_ARG(torch::Device, map_location) = torch::kCPU;
  /// Lightning's `strict`: with false, parameters missing from the file keep their values and entries the module
  /// lacks are skipped, each list warned about as Lightning warns; a shape mismatch is an error either way.
  LAMIN_ARG(bool, strict) = true;
};

class LightningModule : public torch::nn::Module {
 public:
  LightningModule() = default;
  explicit LightningModule(const std::string& name) : torch::nn::Module(name) {}

  // ---- steps -------------------------------------------------------------------------------------------------
  /// Returns the loss to minimise; an undefined tensor skips the optimizer step for this batch.
  virtual at::Tensor training_step(const Batch& batch, std::int64_t batch_idx) = 0;
  virtual void validation_step(const Batch& batch, std::int64_t batch_idx) { (void)batch, (void)batch_idx; }
  virtual void test_step(const Batch& batch, std::int64_t batch_idx) { (void)batch, (void)batch_idx; }
  /// The output of `Trainer::predict` for one batch. Lightning's default calls `forward`, which a C++ module does
  /// not declare generically: override it to predict.
  virtual at::Tensor predict_step(const Batch& batch, std::int64_t batch_idx);
  virtual OptimizerConfig configure_optimizers() = 0;

  // ---- hooks (called after the callbacks' hook of the same name unless Lightning says otherwise) ------------
  virtual void setup(const std::string& stage) { (void)stage; }
  virtual void teardown(const std::string& stage) { (void)stage; }
  virtual void on_fit_start() {}
  virtual void on_fit_end() {}
  virtual void on_train_start() {}
  virtual void on_train_end() {}
  virtual void on_train_epoch_start() {}
  virtual void on_train_epoch_end() {}
  /// Returning -1 skips the rest of the epoch.
  virtual int on_train_batch_start(const Batch& batch, std::int64_t batch_idx) {
    (void)batch, (void)batch_idx;
    return 0;
  }
  virtual void on_train_batch_end(const at::Tensor& outputs, const Batch& batch, std::int64_t batch_idx) {
    (void)outputs, (void)batch, (void)batch_idx;
  }
  virtual void on_validation_start() {}
  virtual void on_validation_end() {}
  virtual void on_validation_epoch_start() {}
  virtual void on_validation_epoch_end() {}
  virtual void on_validation_batch_start(const Batch& batch, std::int64_t batch_idx) { (void)batch, (void)batch_idx; }
  virtual void on_validation_batch_end(const Batch& batch, std::int64_t batch_idx) { (void)batch, (void)batch_idx; }
  virtual void on_validation_model_eval() { eval(); }
  /// After a validation pass; the default gives the module back the mode it had before `on_validation_model_eval`
  /// (Lightning restores the captured mode; a module in eval mode at fit start stays so, as Lightning warns).
  virtual void on_validation_model_train() { train(mode_before_evaluation_); }
  virtual void on_test_start() {}
  virtual void on_test_end() {}
  virtual void on_test_epoch_start() {}
  virtual void on_test_epoch_end() {}
  virtual void on_test_batch_start(const Batch& batch, std::int64_t batch_idx) { (void)batch, (void)batch_idx; }
  virtual void on_test_batch_end(const Batch& batch, std::int64_t batch_idx) { (void)batch, (void)batch_idx; }
  virtual void on_test_model_eval() { eval(); }
  /// After a test pass; the default gives the module back the mode it had before `on_test_model_eval`.
  virtual void on_test_model_train() { train(mode_before_evaluation_); }
  virtual void on_predict_start() {}
  virtual void on_predict_end() {}
  virtual void on_predict_epoch_start() {}
  virtual void on_predict_epoch_end() {}
  virtual void on_predict_batch_start(const Batch& batch, std::int64_t batch_idx) { (void)batch, (void)batch_idx; }
  /// `outputs` is what `predict_step` returned for the batch, on the module's device.
  virtual void on_predict_batch_end(const at::Tensor& outputs, const Batch& batch, std::int64_t batch_idx) {
    (void)outputs, (void)batch, (void)batch_idx;
  }
  virtual void on_predict_model_eval() { eval(); }
  virtual void on_before_backward(const at::Tensor& loss) { (void)loss; }
  virtual void backward(const at::Tensor& loss) { loss.backward(); }
  virtual void on_after_backward() {}
  virtual void on_before_optimizer_step(torch::optim::Optimizer& optimizer) { (void)optimizer; }
  virtual void on_before_zero_grad(torch::optim::Optimizer& optimizer) { (void)optimizer; }
  /// Clips gradients of `optimizer`'s parameters ("norm" or "value"); called when gradient_clip_val is set.
  virtual void configure_gradient_clipping(torch::optim::Optimizer& optimizer, double clip_val,
                                           const std::string& algorithm);
  virtual void on_save_checkpoint(CheckpointDict& checkpoint) { (void)checkpoint; }
  virtual void on_load_checkpoint(const CheckpointDict& checkpoint) { (void)checkpoint; }

  // ---- logging -----------------------------------------------------------------------------------------------
  /// Lightning's `self.log`: records a scalar for the progress bar, loggers and callbacks (callback_metrics).
  void log(const std::string& name, double value, const LogOptions& options = {});
  void log(const std::string& name, const at::Tensor& value, const LogOptions& options = {});

  // ---- hyperparameters ---------------------------------------------------------------------------------------
  /// Lightning's `save_hyperparameters`: a JSON object saved into checkpoints as `hyper_parameters` (with
  /// `hparams_name` "kwargs") and logged to the loggers at fit start.
  void save_hyperparameters(const nlohmann::json& hparams);
  const nlohmann::json& hparams() const { return hparams_; }
  bool has_hparams() const { return !hparams_.is_null(); }

  // ---- trainer access ----------------------------------------------------------------------------------------
  /// REQUIRES: attached to a trainer (inside fit/validate/test). Throws lamin::Error otherwise.
  Trainer& trainer() const;
  bool has_trainer() const { return trainer_ != nullptr; }
  /// The device of the module's first parameter (CPU if it has none).
  torch::Device device() const;

  // ---- loading -----------------------------------------------------------------------------------------------
  /// Loads the weights of a Lightning checkpoint (or of a bare `torch.save(model.state_dict())` file) into this
  /// module, moves it to `options.map_location()`, and restores the saved hyperparameters. Strict by default: every
  /// parameter and buffer must be present with the same shape; mismatches are listed by name and shape in a
  /// lamin::IntegrityError. Works for files written from any device, in C++ or in Python.
  void load_weights_from_checkpoint(const std::string& path, const LoadOptions& options = {});
  void load_weights_from_checkpoint(const std::string& path, torch::Device device) {
    load_weights_from_checkpoint(path, LoadOptions().map_location(device));
  }

  /// Lightning's `load_from_checkpoint`: builds an `M` from the saved hyperparameters (with `M(hparams)` if that
  /// constructor exists and the file has hyperparameters, else `M()`), loads the weights and moves it to
  /// `options.map_location()`, in eval mode.
  template <typename M>
  static std::shared_ptr<M> load_from_checkpoint(const std::string& path, const LoadOptions& options = {}) {
    static_assert(std::is_base_of_v<LightningModule, M>, "M must derive from lamin::pl::LightningModule");
    std::shared_ptr<M> module;
    if constexpr (std::is_constructible_v<M, const nlohmann::json&>) {
      nlohmann::json hparams = read_checkpoint_hparams(path);
      if constexpr (std::is_default_constructible_v<M>) {
        module = hparams.is_null() ? std::make_shared<M>() : std::make_shared<M>(hparams);
      } else {
        module = std::make_shared<M>(hparams.is_null() ? nlohmann::json::object() : hparams);
      }
    } else {
      module = std::make_shared<M>();
    }
    module->load_weights_from_checkpoint(path, options);
    module->eval();
    return module;
  }
  template <typename M>
  static std::shared_ptr<M> load_from_checkpoint(const std::string& path, torch::Device device) {
    return load_from_checkpoint<M>(path, LoadOptions().map_location(device));
  }

  /// The `hyper_parameters` stored in a checkpoint file (null if none).
  static nlohmann::json read_checkpoint_hparams(const std::string& path);

 private:
  friend struct detail::ModuleAccess;  // the trainer's loops attach themselves and note the mode
  Trainer* trainer_ = nullptr;
  nlohmann::json hparams_;
  bool mode_before_evaluation_ = true;  // is_training() before the current validation or test pass
};

}  // namespace lamin::pl
