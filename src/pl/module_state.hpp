#pragma once
// A LightningModule's `state_dict` in PyTorch's naming and order, and strict loading of one.

#include <string>

#include "lamin/pl/checkpoint_dict.hpp"

namespace lamin::pl {
class LightningModule;
}

namespace lamin::pl::detail {

/// Parameters and buffers named by module path (`layer.weight`), module by module in registration order, each
/// module's parameters before its buffers (PyTorch's `state_dict` order).
c10::impl::GenericDict module_state_dict(LightningModule& module);

/// Copies `checkpoint["state_dict"]` into the module; a checkpoint without that key whose values are all tensors is
/// itself taken as the state dict (a `torch.save(model.state_dict())` file). Strict: a missing, unexpected or
/// mis-shaped entry raises lamin::IntegrityError listing every problem by name and shape. Not strict: missing and
/// unexpected entries are warned about (Lightning's messages) and skipped; mis-shaped ones still raise. `source`
/// names the file in messages.
void load_module_state(LightningModule& module, const CheckpointDict& checkpoint, const std::string& source,
                       bool strict = true);

}  // namespace lamin::pl::detail
