#pragma once
// Lightning checkpoint files: PyTorch's zip serialization format, readable by Python's
// `torch.load(path, weights_only=True)` and Lightning's `load_from_checkpoint`.

#include <optional>
#include <string>

#include <c10/core/Device.h>

#include "lamin/pl/checkpoint_dict.hpp"

namespace lamin::pl {

/// The Lightning version written as `pytorch-lightning_version` (the format the files follow).
inline constexpr const char* kLightningCheckpointVersion = "2.6.6";

/// Writes `checkpoint` to `path` as a torch.save-compatible zip (`archive/data.pkl` + one record per storage),
/// atomically and durably (temporary file, fsync, rename, folder fsync; parent folders created). Tensors on any
/// device are written as CPU tensors, so the file loads on machines without a GPU. The pickle names only globals
/// that `torch.load(weights_only=True)` allows. Throws lamin::StorageError (unwritable folder, full disk) and leaves
/// any previous file at `path` intact on failure.
void save_checkpoint_file(const CheckpointDict& checkpoint, const std::string& path);

/// Reads a checkpoint written by save_checkpoint_file, by Python's `torch.save` (zip or legacy format, pickle
/// protocols 2-5) or by Lightning's `Trainer.save_checkpoint`, with the allowlist of
/// `torch.load(weights_only=True)`: nothing in the file is executed, and a global outside the list is an error that
/// names it. Tensors come back on `map_location` (default: the CPU), in their saved dtype; views of one storage
/// share it. Throws lamin::NotFoundError (missing file) or lamin::IntegrityError (not a checkpoint, truncated,
/// corrupt, saved on a big-endian machine, or holding what LibTorch cannot represent, naming the path).
CheckpointDict load_checkpoint_file(const std::string& path,
                                    const std::optional<c10::Device>& map_location = std::nullopt);

}  // namespace lamin::pl
