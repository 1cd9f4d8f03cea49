#include "loops/precision.hpp"

#include <torch/torch.h>
#include <torch/version.h>
#include <ATen/autocast_mode.h>

#include "lamin/log.hpp"
#include "lamin/pl/module.hpp"

namespace lamin::pl::detail {

void Precision::configure(std::string& precision, c10::Device device) {
  true_dtype_.reset();
  autocast_ = false;
  if (precision == "64-true" || precision == "64") true_dtype_ = at::kDouble;
  if (precision == "16-true") true_dtype_ = at::kHalf;
  if (precision == "bf16-true") true_dtype_ = at::kBFloat16;
  if ((precision == "16-mixed" || precision == "16") && !device.is_cuda()) {
    lamin::log::warn("You passed `Trainer(accelerator='cpu', precision='16-mixed')` but AMP with fp16 is not "
                     "supported on CPU. Using `precision='bf16-mixed'` instead.");
    precision = "bf16-mixed";
  }
  if (precision == "16-mixed" || precision == "16") {
    autocast_ = true;
    autocast_dtype_ = at::kHalf;
    if (!grad_scaler_) grad_scaler_ = std::make_unique<GradScaler>();
  } else {
    grad_scaler_.reset();
  }
  if (precision == "bf16-mixed" || precision == "bf16") {
    autocast_ = true;
    autocast_dtype_ = at::kBFloat16;
  }
}

void Precision::convert_module(LightningModule& module) const {
  if (true_dtype_) module.to(*true_dtype_);
}

Batch Precision::convert_input(Batch batch) const {
  if (!true_dtype_) return batch;
  auto cast = [&](at::Tensor& t) {
    if (t.defined() && at::isFloatingType(t.scalar_type())) t = t.to(*true_dtype_);
  };
  cast(batch.data);
  cast(batch.target);
  return batch;
}

// LibTorch 2.4 made autocast's switches per device type; earlier versions have one pair for CUDA and one for CPU.
Precision::Autocast::Autocast(const Precision& precision, c10::Device device)
    : enabled_(precision.autocast_), device_(device) {
  if (!enabled_) return;
  const c10::ScalarType dtype = precision.autocast_dtype_;
#if TORCH_VERSION_MAJOR >= 2 && TORCH_VERSION_MINOR >= 4 || TORCH_VERSION_MAJOR >= 3
  previous_ = at::autocast::is_autocast_enabled(device_.type());
  previous_dtype_ = at::autocast::get_autocast_dtype(device_.type());
  at::autocast::set_autocast_dtype(device_.type(), dtype);
  at::autocast::set_autocast_enabled(device_.type(), true);
#else
  if (device_.is_cuda()) {
    previous_ = at::autocast::is_enabled();
    previous_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_autocast_gpu_dtype(dtype);
    at::autocast::set_enabled(true);
  } else {
    previous_ = at::autocast::is_cpu_enabled();
    previous_dtype_ = at::autocast::get_autocast_cpu_dtype();
    at::autocast::set_autocast_cpu_dtype(dtype);
    at::autocast::set_cpu_enabled(true);
  }
#endif
}

Precision::Autocast::~Autocast() {
  if (!enabled_) return;
#if TORCH_VERSION_MAJOR >= 2 && TORCH_VERSION_MINOR >= 4 || TORCH_VERSION_MAJOR >= 3
  at::autocast::set_autocast_enabled(device_.type(), previous_);
  at::autocast::set_autocast_dtype(device_.type(), previous_dtype_);
#else
  if (device_.is_cuda()) {
    at::autocast::set_enabled(previous_);
    at::autocast::set_autocast_gpu_dtype(previous_dtype_);
  } else {
    at::autocast::set_cpu_enabled(previous_);
    at::autocast::set_autocast_cpu_dtype(previous_dtype_);
  }
#endif
  at::autocast::clear_cache();
}

}  // namespace lamin::pl::detail
