#pragma once
// Callbacks: small objects with optional hooks, called by the Trainer in Lightning's order.

#include <cstdint>
#include <exception>
#include <string>

#include <nlohmann/json.hpp>

#include "lamin/pl/batch.hpp"
#include "lamin/pl/checkpoint_dict.hpp"

namespace torch::optim {
class Optimizer;
}

namespace lamin::pl {

class Trainer;
class LightningModule;

/// What a step returned: the loss for training steps (may be undefined for validation/test steps).
using StepOutput = at::Tensor;

/// Lightning's `Callback`. Every hook has an empty default; override the ones you need.
/// Within each hook, callbacks run in `Trainer::callbacks()` order (ModelCheckpoints are moved to the end).
class Callback {
 public:
  virtual ~Callback() = default;

  /// Key under which state_dict() is stored in checkpoints. Default: the class name.
  virtual std::string state_key() const { return "Callback"; }
  /// State saved into checkpoints under state_key(); null or an empty object means nothing to save.
  virtual nlohmann::json state_dict() const { return nullptr; }
  /// Restores what state_dict() returned (called when fit resumes from a checkpoint with this state_key).
  virtual void load_state_dict(const nlohmann::json& state) { (void)state; }

  virtual void setup(Trainer&, LightningModule&, const std::string& stage) { (void)stage; }
  virtual void teardown(Trainer&, LightningModule&, const std::string& stage) { (void)stage; }
  virtual void on_fit_start(Trainer&, LightningModule&) {}
  virtual void on_fit_end(Trainer&, LightningModule&) {}
  virtual void on_sanity_check_start(Trainer&, LightningModule&) {}
  virtual void on_sanity_check_end(Trainer&, LightningModule&) {}

  virtual void on_train_start(Trainer&, LightningModule&) {}
  virtual void on_train_end(Trainer&, LightningModule&) {}
  virtual void on_train_epoch_start(Trainer&, LightningModule&) {}
  virtual void on_train_epoch_end(Trainer&, LightningModule&) {}
  virtual void on_train_batch_start(Trainer&, LightningModule&, const Batch&, std::int64_t batch_idx) {
    (void)batch_idx;
  }
  virtual void on_train_batch_end(Trainer&, LightningModule&, const StepOutput& outputs, const Batch&,
                                  std::int64_t batch_idx) {
    (void)outputs;
    (void)batch_idx;
  }

  virtual void on_validation_start(Trainer&, LightningModule&) {}
  virtual void on_validation_end(Trainer&, LightningModule&) {}
  virtual void on_validation_epoch_start(Trainer&, LightningModule&) {}
  virtual void on_validation_epoch_end(Trainer&, LightningModule&) {}
  virtual void on_validation_batch_start(Trainer&, LightningModule&, const Batch&, std::int64_t batch_idx) {
    (void)batch_idx;
  }
  virtual void on_validation_batch_end(Trainer&, LightningModule&, const StepOutput& outputs, const Batch&,
                                       std::int64_t batch_idx) {
    (void)outputs;
    (void)batch_idx;
  }

  virtual void on_test_start(Trainer&, LightningModule&) {}
  virtual void on_test_end(Trainer&, LightningModule&) {}
  virtual void on_test_epoch_start(Trainer&, LightningModule&) {}
  virtual void on_test_epoch_end(Trainer&, LightningModule&) {}
  virtual void on_test_batch_start(Trainer&, LightningModule&, const Batch&, std::int64_t batch_idx) {
    (void)batch_idx;
  }
  virtual void on_test_batch_end(Trainer&, LightningModule&, const StepOutput& outputs, const Batch&,
                                 std::int64_t batch_idx) {
    (void)outputs;
    (void)batch_idx;
  }

  virtual void on_predict_start(Trainer&, LightningModule&) {}
  virtual void on_predict_end(Trainer&, LightningModule&) {}
  virtual void on_predict_epoch_start(Trainer&, LightningModule&) {}
  virtual void on_predict_epoch_end(Trainer&, LightningModule&) {}
  virtual void on_predict_batch_start(Trainer&, LightningModule&, const Batch&, std::int64_t batch_idx) {
    (void)batch_idx;
  }
  /// `outputs`: what predict_step returned for this batch.
  virtual void on_predict_batch_end(Trainer&, LightningModule&, const StepOutput& outputs, const Batch&,
                                    std::int64_t batch_idx) {
    (void)outputs;
    (void)batch_idx;
  }

  virtual void on_before_backward(Trainer&, LightningModule&, const at::Tensor& loss) { (void)loss; }
  virtual void on_after_backward(Trainer&, LightningModule&) {}
  virtual void on_before_optimizer_step(Trainer&, LightningModule&, torch::optim::Optimizer&) {}
  virtual void on_before_zero_grad(Trainer&, LightningModule&, torch::optim::Optimizer&) {}

  /// Called when anything in fit/validate/test/predict throws, before the exception reaches the caller.
  virtual void on_exception(Trainer&, LightningModule&, const std::exception& error) { (void)error; }

  /// Called while a (non weights-only) checkpoint is written; may add entries to `checkpoint`.
  virtual void on_save_checkpoint(Trainer&, LightningModule&, CheckpointDict& checkpoint) { (void)checkpoint; }
  /// Called when fit resumes from a checkpoint, before load_state_dict().
  virtual void on_load_checkpoint(Trainer&, LightningModule&, const CheckpointDict& checkpoint) {
    (void)checkpoint;
  }
};

/// Lightning's `Checkpoint` marker base: the trainer runs every Checkpoint after the other callbacks.
class Checkpoint : public Callback {};

}  // namespace lamin::pl
