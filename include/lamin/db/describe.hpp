#pragma once
// artifact.describe(): LaminDB's tree view of an artifact (spec section 4).

#include <string>

#include "lamin/db/artifact.hpp"
#include "lamin/db/registry.hpp"

namespace lamin {

/// The describe() text of `artifact`, as LaminDB prints it with `return_str=True` (no colour, 80 columns).
std::string describe(Registry& registry, const Artifact& artifact);

/// Only the header and the features (LaminDB's `artifact.features.describe()`).
std::string describe_features(Registry& registry, const Artifact& artifact);

}  // namespace lamin
