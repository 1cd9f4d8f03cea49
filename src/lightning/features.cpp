// save_lightning_features(): the `lamindb.lightning` feature type and its 14 features.

#include "lamin/lightning/features.hpp"

#include "lamin/error.hpp"

namespace lamin::lightning {

const std::array<LightningFeatureSpec, 14>& lightning_feature_specs() {
  static const std::array<LightningFeatureSpec, 14> specs = {{
      {"is_best_model", "bool", true, false},
      {"is_last_model", "bool", true, false},
      {"score", "float", true, false},
      {"model_rank", "int", true, false},
      {"save_weights_only", "bool", true, false},
      {"monitor", "str", true, true},
      {"mode", "str", true, true},
      {"logger_name", "str", false, true},
      {"logger_version", "str", false, true},
      {"max_epochs", "int", false, true},
      {"max_steps", "int", false, true},
      {"precision", "str", false, true},
      {"accumulate_grad_batches", "int", false, true},
      {"gradient_clip_val", "float", false, true},
  }};
  return specs;
}

std::vector<lamin::Feature> save_lightning_features(const lamin::Instance& instance) {
  return lamin::transaction(instance, [&] {
    std::optional<lamin::Feature> type;
    for (const auto& f : instance->features()) {
      if (f.name != kLightningFeatureType) continue;
      if (type) {
        throw IntegrityError(std::string("MultipleResultsFound: several features are named '") +
                             kLightningFeatureType + "'");
      }
      type = f;
    }
    if (!type) {
      type = instance->create_feature(lamin::FeatureOptions()
                                          .name(kLightningFeatureType)
                                          .is_type(true)
                                          .description("Auto-generated features tracking lightning parameters & "
                                                       "metrics")
                                          .type_dtype_str("__lamindb_lightning__"));
    }
    std::vector<lamin::Feature> out;
    out.reserve(lightning_feature_specs().size());
    for (const auto& spec : lightning_feature_specs()) {
      out.push_back(instance->create_feature(lamin::FeatureOptions(spec.name, spec.dtype).type(*type)));
    }
    return out;
  });
}

std::vector<lamin::Feature> save_lightning_features() { return save_lightning_features(lamin::connect()); }

}  // namespace lamin::lightning
