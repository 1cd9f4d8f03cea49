#pragma once
// Private state of the Trainer: logged-result collections and loop progress counters.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "lamin/pl/metrics.hpp"
#include "lamin/pl/module.hpp"

namespace lamin::pl::detail {

/// One metric logged with `LightningModule::log` during a loop, reduced the way Lightning's `_ResultMetric` does
/// (float32 running sums in the same order of operations).
struct ResultMetric {
  std::string name;
  bool on_step = false;
  bool on_epoch = true;
  bool prog_bar = false;
  bool logger = true;
  std::string reduce_fx = "mean";
  float value = 0.0f;              // running sum (mean/sum) or extremum (max/min)
  std::int64_t cumulated_batch_size = 0;
  bool has_epoch_value = false;
  bool has_step_value = false;
  float step_value = 0.0f;         // the last value logged (Lightning's forward cache)

  bool forked() const { return on_step && on_epoch; }
  float epoch_value() const {
    if (reduce_fx == "mean") return value / static_cast<float>(cumulated_batch_size);
    return value;
  }
};

/// Lightning's `_ResultCollection` for one loop (train, validation or test).
class ResultCollection {
 public:
  ResultMetric& get_or_add(const std::string& name, bool& added) {
    for (auto& m : metrics_)
      if (m.name == name) {
        added = false;
        return m;
      }
    metrics_.push_back(ResultMetric{});
    metrics_.back().name = name;
    added = true;
    return metrics_.back();
  }
  std::vector<ResultMetric>& metrics() { return metrics_; }
  const std::vector<ResultMetric>& metrics() const { return metrics_; }
  void clear() { metrics_.clear(); }

 private:
  std::vector<ResultMetric> metrics_;
};

/// Lightning's `_ReadyCompletedTracker` family: how many items were ready, started, processed, completed.
struct Tracker {
  std::int64_t ready = 0, started = 0, processed = 0, completed = 0;
  nlohmann::json to_json() const {
    return {{"ready", ready}, {"started", started}, {"processed", processed}, {"completed", completed}};
  }
  static Tracker from_json(const nlohmann::json& j) {
    Tracker t;
    t.ready = j.value("ready", std::int64_t{0});
    t.started = j.value("started", std::int64_t{0});
    t.processed = j.value("processed", std::int64_t{0});
    t.completed = j.value("completed", std::int64_t{0});
    return t;
  }
};

/// A `_Progress`: totals over the whole fit and the current epoch's counts.
struct Progress {
  Tracker total, current;
  void increment_ready() { ++total.ready, ++current.ready; }
  void increment_started() { ++total.started, ++current.started; }
  void increment_processed() { ++total.processed, ++current.processed; }
  void increment_completed() { ++total.completed, ++current.completed; }
  void reset_current() { current = Tracker{}; }
  nlohmann::json to_json() const { return {{"total", total.to_json()}, {"current", current.to_json()}}; }
  void from_json(const nlohmann::json& j) {
    if (j.contains("total")) total = Tracker::from_json(j.at("total"));
    if (j.contains("current")) current = Tracker::from_json(j.at("current"));
  }
};

}  // namespace lamin::pl::detail
