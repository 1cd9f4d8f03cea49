#pragma once
// The trainer's precision (Lightning's precision plugins): "-true" precisions cast the module and floating-point
// batches, "-mixed" ones run the steps under autocast, and "16-mixed" scales the loss.

#include <memory>
#include <optional>
#include <string>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "lamin/pl/batch.hpp"
#include "grad_scaler.hpp"

namespace lamin::pl {
class LightningModule;
}

namespace lamin::pl::detail {

class Precision {
 public:
  /// Reads `precision` for `device`; "16-mixed" on a CPU warns and becomes "bf16-mixed", as in Lightning, and
  /// `precision` is rewritten to say so. The loss scaler is kept from one configuration to the next while
  /// "16-mixed" stays (as Lightning keeps its plugin across fits).
  void configure(std::string& precision, c10::Device device);

  /// Casts the module's floating-point parameters and buffers for a "-true" precision.
  void convert_module(LightningModule& module) const;
  /// Casts the batch's floating-point tensors for a "-true" precision.
  Batch convert_input(Batch batch) const;
  /// The loss scaler of "16-mixed" (null otherwise).
  GradScaler* grad_scaler() const { return grad_scaler_.get(); }

  /// Autocast for a "-mixed" precision while alive (nothing otherwise).
  class Autocast {
   public:
    Autocast(const Precision& precision, c10::Device device);
    ~Autocast();
    Autocast(const Autocast&) = delete;
    Autocast& operator=(const Autocast&) = delete;

   private:
    bool enabled_;
    c10::Device device_;
    bool previous_ = false;
    c10::ScalarType previous_dtype_ = c10::kFloat;
  };

 private:
  std::optional<c10::ScalarType> true_dtype_;
  bool autocast_ = false;
  c10::ScalarType autocast_dtype_ = c10::kHalf;
  std::unique_ptr<GradScaler> grad_scaler_;
};

}  // namespace lamin::pl::detail
