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

// LAMIN_SHARED_ARG(T, name): the accessors of an argument stored in `args_` (a struct of values with in-class
// defaults) of an options base shared by several options structs (CRTP, as LibTorch's `OptimizerCloneableOptions`);
// the setter returns the derived struct, so shared and own arguments chain in any order.
#define LAMIN_SHARED_ARG(T, name)                                               \
 public:                                                                       \
  inline Derived& name(T new_##name) {                                         \
    this->args_.name = std::move(new_##name);                                  \
    return static_cast<Derived&>(*this);                                       \
  }                                                                            \
  inline const T& name() const noexcept { return this->args_.name; }           \
  inline T& name() noexcept { return this->args_.name; }

