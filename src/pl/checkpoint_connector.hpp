#pragma once
// Lightning's `_CheckpointConnector`: the checkpoint dict of a trainer's state, and a trainer restored from one.

#include <string>

#include <nlohmann/json.hpp>

#include "lamin/pl/checkpoint_dict.hpp"

namespace lamin::pl {
class Trainer;
}

namespace lamin::pl::detail {

class FitLoop;
class GradScaler;

/// Lightning's checkpoint dict for the trainer's current state (epoch, global_step, state_dict, `loops` (the fit
/// loop's state_dict()), callbacks, optimizer_states, lr_schedulers, hyper_parameters, ...). With `scaler`
/// ("16-mixed"), its state goes under "MixedPrecision", as Lightning's precision plugin writes it.
/// `kept`: callback states to carry over (see restore_model_and_callbacks), written unless a callback of the trainer
/// wrote a state under the same key.
CheckpointDict dump_checkpoint(Trainer& trainer, bool weights_only, const nlohmann::json& loops,
                               const GradScaler* scaler = nullptr, const c10::impl::GenericDict* kept = nullptr);
/// "last" / "best" / a path → an absolute path of an existing file; throws lamin::NotFoundError otherwise.
std::string resolve_ckpt_path(Trainer& trainer, const std::string& ckpt_path);
/// Model weights, then each callback's on_load_checkpoint and load_state_dict (matched by state_key). Returns the
/// callback states no callback of the trainer took, after warning about them as Lightning does.
c10::impl::GenericDict restore_model_and_callbacks(Trainer& trainer, const CheckpointDict& checkpoint);
/// The loss scaler's state (when both it and the checkpoint have one), optimizers, schedulers and the fit loop's
/// progress.
void restore_training_state(Trainer& trainer, const CheckpointDict& checkpoint, FitLoop& fit_loop,
                            GradScaler* scaler = nullptr);

}  // namespace lamin::pl::detail
