#pragma once
// Lineage views: the graph of transform -> run -> artifacts, with the runs' input artifacts, upstream of an artifact.

#include <string>

#include "lamin/db/artifact.hpp"
#include "lamin/db/registry.hpp"

namespace lamin {

enum class LineageFormat { dot, mermaid, svg };

/// The upstream lineage of `artifact` (its run, the run's transform and inputs, their runs, ...), up to `depth`
/// runs back. Graphviz DOT, Mermaid (`flowchart LR`), or SVG rendered by Graphviz's `dot` (lamin::ConfigurationError
/// when `dot` is not installed).
std::string lineage(Registry& registry, const Artifact& artifact, LineageFormat format = LineageFormat::dot,
                    int depth = 8);

}  // namespace lamin
