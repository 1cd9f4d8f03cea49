#pragma once
// Logged metric values as the trainer, callbacks and loggers see them. No LibTorch.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace lamin::pl {

/// One metric value. Logged metrics are float32 values (Lightning converts every logged number to a float32
/// tensor); `epoch` and `step` candidates are integers. `value` holds the exact double of the float32.
struct Scalar {
  double value = 0.0;
  bool integral = false;

  static Scalar f32(double v) { return Scalar{static_cast<double>(static_cast<float>(v)), false}; }
  static Scalar integer(std::int64_t v) { return Scalar{static_cast<double>(v), true}; }
  float as_float() const { return static_cast<float>(value); }
  std::int64_t as_int() const { return static_cast<std::int64_t>(value); }
};

/// An insertion-ordered map from metric name to value, like the Python dicts Lightning keeps: assigning an existing
/// key updates it in place and keeps its position.
class MetricMap {
 public:
  using Entry = std::pair<std::string, Scalar>;
  using const_iterator = std::vector<Entry>::const_iterator;

  void set(const std::string& name, Scalar value) {
    for (auto& e : entries_)
      if (e.first == name) {
        e.second = value;
        return;
      }
    entries_.emplace_back(name, value);
  }
  bool contains(const std::string& name) const { return find(name) != nullptr; }
  const Scalar* find(const std::string& name) const {
    for (auto& e : entries_)
      if (e.first == name) return &e.second;
    return nullptr;
  }
  /// REQUIRES: contains(name).
  const Scalar& at(const std::string& name) const;
  bool erase(const std::string& name) {
    for (auto it = entries_.begin(); it != entries_.end(); ++it)
      if (it->first == name) {
        entries_.erase(it);
        return true;
      }
    return false;
  }
  void clear() { entries_.clear(); }
  bool empty() const { return entries_.empty(); }
  std::size_t size() const { return entries_.size(); }
  const_iterator begin() const { return entries_.begin(); }
  const_iterator end() const { return entries_.end(); }
  std::vector<std::string> keys() const {
    std::vector<std::string> k;
    for (auto& e : entries_) k.push_back(e.first);
    return k;
  }

 private:
  std::vector<Entry> entries_;
};

}  // namespace lamin::pl
