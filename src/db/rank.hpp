#pragma once
// The order Registry::rank_artifacts gives, shared by its generic form and the SQLite backend's.
#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace lamin::detail {

/// The smallest number among an artifact's values of the score feature; none when no value is a number.
std::optional<double> smallest_number(const std::vector<nlohmann::json>& values);

/// Artifact ids by score (ascending, or descending), ties by id.
std::vector<std::int64_t> rank_order(std::vector<std::pair<std::int64_t, double>> rows, bool descending);

/// The same from each artifact's score values: artifacts without a number are left out.
std::vector<std::int64_t> rank_order(const std::map<std::int64_t, std::vector<nlohmann::json>>& scores,
                                     bool descending);

}  // namespace lamin::detail
