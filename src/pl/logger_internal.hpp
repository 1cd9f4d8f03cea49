#pragma once
// Helpers shared by the CSV and TensorBoard loggers (implemented in logger.cpp). Private to lamin::pl.

#include <string>

#include "lamin/pl/logger.hpp"
#include "lamin/pl/metrics.hpp"

namespace lamin::pl::detail {

/// Lightning's rank from the environment (`RANK`, `LOCAL_RANK`, `SLURM_PROCID`, `JSM_NAMESPACE_RANK`, first set
/// wins; 0 if none). Loggers only write on rank 0, like Lightning's `rank_zero_only`.
int environment_rank();

/// Lightning's `_add_prefix`: `prefix-name` for every key when `prefix` is non-empty.
MetricMap add_prefix(const MetricMap& metrics, const std::string& prefix, const std::string& separator = "-");

/// Python's `str(x.item())` of a metric: ints as ints, floats as Python's float repr.
std::string metric_text(const Scalar& value);

}  // namespace lamin::pl::detail
