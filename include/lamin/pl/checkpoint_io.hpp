#pragma once
// Lightning checkpoint files: PyTorch's zip serialization format, readable by Python's
// `torch.load(path, weights_only=True)` and Lightning's `load_from_checkpoint`.

#include <string>

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

/// Reads a checkpoint written by save_checkpoint_file or by Python's `torch.save` (plain containers and
/// tensors), with every tensor on the CPU. Throws lamin::NotFoundError (missing file) or lamin::IntegrityError
/// (not a checkpoint, truncated or corrupt, naming the path).
CheckpointDict load_checkpoint_file(const std::string& path);

}  // namespace lamin::pl
