#pragma once
// The batch type the trainer passes to steps and hooks.

#include <torch/data/example.h>

namespace lamin::pl {

/// A batch: inputs and targets, as `torch::data` datasets produce them after `Stack<>`.
using Batch = torch::data::Example<>;

/// The number of samples in a batch (its first tensor's first dimension), as Lightning infers it.
inline std::int64_t batch_size_of(const Batch& batch) {
  return batch.data.defined() && batch.data.dim() > 0 ? batch.data.size(0) : 1;
}

}  // namespace lamin::pl
