#pragma once
// The `lamindb.lightning` feature type and its 14 features (LaminDB's `save_lightning_features()`). No LibTorch.
//
//   lamin::lightning::save_lightning_features(instance);   // once per instance; idempotent

#include <array>
#include <string>
#include <vector>

#include "lamin/db/feature.hpp"
#include "lamin/db/instance.hpp"

namespace lamin::lightning {

/// Name of the feature type that groups the auto-features.
inline constexpr const char* kLightningFeatureType = "lamindb.lightning";

/// One auto-feature: its name, dtype, and whether it is written on checkpoints, on the run, or both.
struct LightningFeatureSpec {
  const char* name;
  const char* dtype;
  bool artifact;  ///< written on every checkpoint artifact
  bool run;       ///< written once on the run
};

/// The 14 features in LaminDB's order: is_best_model, is_last_model, score, model_rank, save_weights_only, monitor,
/// mode, logger_name, logger_version, max_epochs, max_steps, precision, accumulate_grad_batches, gradient_clip_val.
const std::array<LightningFeatureSpec, 14>& lightning_feature_specs();

/// Creates (or finds) the `lamindb.lightning` feature type (`is_type`, description "Auto-generated features tracking
/// lightning parameters & metrics", `_dtype_str` "__lamindb_lightning__") and its 14 typed features, in one
/// transaction. Idempotent; throws lamin::ValidationError when a feature of the same name and type exists with
/// another dtype. Returns the 14 features in lightning_feature_specs() order.
std::vector<lamin::Feature> save_lightning_features(const lamin::Instance& instance);
/// The same in the default instance (lamin::connect()).
std::vector<lamin::Feature> save_lightning_features();

}  // namespace lamin::lightning
