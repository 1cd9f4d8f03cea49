#pragma once
// Validation and test passes (Lightning's `_EvaluationLoop`), and prediction (`_PredictionLoop`).

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "lamin/pl/data.hpp"
#include "trainer_internal.hpp"

namespace lamin::pl::detail {

struct TrainerContext;

class EvaluationLoop {
 public:
  enum class Stage { validation, test };
  EvaluationLoop(TrainerContext& context, Stage stage) : context_(context), stage_(stage) {}

  /// Sets how many batches of `loader` a pass runs (limit_val_batches / limit_test_batches).
  void setup_data(const DataLoader& loader);
  /// One pass over at most `max_batches()` batches of `loader` (`max_batches` overrides it, for the sanity
  /// check): eval mode, no gradients, the stage's hooks in Lightning's order. Outside the sanity check the
  /// epoch-level values reach the callbacks and the loggers.
  void run(const DataLoader& loader, std::optional<std::int64_t> max_batches = std::nullopt);

  std::int64_t max_batches() const { return max_batches_; }
  void set_max_batches(std::int64_t n) { max_batches_ = n; }
  /// The most recent pass outside the sanity check processed at least one batch.
  bool has_run() const { return has_run_; }
  const Progress& batch_progress() const { return batch_progress_; }

 private:
  bool testing() const { return stage_ == Stage::test; }
  void run_batches(const DataLoader& loader, std::int64_t max_batches);

  TrainerContext& context_;
  Stage stage_;
  std::int64_t max_batches_ = 0;
  bool has_run_ = false;
  Progress batch_progress_;
};

class PredictionLoop {
 public:
  explicit PredictionLoop(TrainerContext& context) : context_(context) {}

  void setup_data(const DataLoader& loader);
  /// `predict_step` on every batch in eval mode without gradients; the outputs on the CPU, in batch order (none
  /// kept without `return_predictions`).
  std::vector<at::Tensor> run(const DataLoader& loader, bool return_predictions);

 private:
  TrainerContext& context_;
  std::int64_t max_batches_ = 0;
};

}  // namespace lamin::pl::detail
