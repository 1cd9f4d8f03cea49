#pragma once
// Building Lightning's checkpoint dict from a Trainer, and restoring a Trainer from one.

#include <cstdint>
#include <string>

#include "lamin/pl/checkpoint_dict.hpp"
#include "trainer_internal.hpp"

namespace lamin::pl {
class Trainer;
}

namespace lamin::pl::detail {

class GradScaler;

struct TrainerCheckpointing {
  /// Lightning's checkpoint dict for the trainer's current state (spec: epoch, global_step, state_dict, loops,
  /// callbacks, optimizer_states, lr_schedulers, hyper_parameters, ...).
  /// With `scaler` ("16-mixed"), its state goes under "MixedPrecision", as Lightning's precision plugin writes it.
  static CheckpointDict dump(Trainer& trainer, bool weights_only, const Progress& epoch_progress,
                             const Progress& batch_progress, const GradScaler* scaler = nullptr);
  /// "last" / "best" / a path → an absolute path of an existing file; throws lamin::NotFoundError otherwise.
  static std::string resolve_ckpt_path(Trainer& trainer, const std::string& ckpt_path);
  /// Model weights, then each callback's on_load_checkpoint and load_state_dict (matched by state_key).
  static void restore_model_and_callbacks(Trainer& trainer, const CheckpointDict& checkpoint);
  /// The loss scaler's state (when both it and the checkpoint have one), optimizers, schedulers and loop counters.
  static void restore_training_state(Trainer& trainer, const CheckpointDict& checkpoint, Progress& epoch_progress,
                                     Progress& batch_progress, std::int64_t& start_batch_idx,
                                     GradScaler* scaler = nullptr);
};

}  // namespace lamin::pl::detail
