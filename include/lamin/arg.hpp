#pragma once
// LAMIN_ARG(T, name): an option with an in-class default, a fluent setter and a getter, as LibTorch's TORCH_ARG,
// so options read like Python keyword arguments: `ModelCheckpointOptions().monitor("val_loss").save_top_k(3)`.

#include <utility>

#define LAMIN_ARG(T, name)                                      \
 public:                                                        \
  inline auto name(const T& new_##name)->decltype(*this) {      \
    this->name##_ = new_##name;                                 \
    return *this;                                               \
  }                                                             \
  inline auto name(T&& new_##name)->decltype(*this) {           \
    this->name##_ = std::move(new_##name);                      \
    return *this;                                               \
  }                                                             \
  inline const T& name() const noexcept { return this->name##_; } \
  inline T& name() noexcept { return this->name##_; }           \
                                                                \
 private:                                                       \
  T name##_ /* NOLINT */
