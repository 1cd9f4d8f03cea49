#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "lamin/error.hpp"
#include "lamin/pl/trainer.hpp"
#include "loops/context.hpp"

namespace lamin::pl {

double ValCheckInterval::checked_seconds(double s) {
  if (!(s >= 0.0) || !std::isfinite(s)) {
    throw ConfigurationError("`val_check_interval` must be a non-negative duration, got " + std::to_string(s) + " s");
  }
  return s;
}

// Lightning reads this string differently from Timer's duration (Timer::parse_duration: a regex with two-digit
// fields): it splits on ':' and takes Python's int() of each of the four parts, with its own messages.
ValCheckInterval::ValCheckInterval(const std::string& text) : number_(1.0) {
  std::vector<std::string> parts(1);
  for (const char c : text) {
    if (c == ':') {
      parts.emplace_back();
    } else {
      parts.back() += c;
    }
  }
  if (parts.size() != 4) {
    throw ConfigurationError("Invalid time format for `val_check_interval`: '" + text + "'. Expected 'DD:HH:MM:SS'.");
  }
  static constexpr double kSeconds[] = {86400.0, 3600.0, 60.0, 1.0};
  double total = 0.0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    // Python's int(): optional sign and surrounding whitespace, then digits only.
    std::string p = parts[i];
    const auto first = p.find_first_not_of(" \t");
    const auto last = p.find_last_not_of(" \t");
    p = first == std::string::npos ? "" : p.substr(first, last - first + 1);
    const std::size_t digits_from = !p.empty() && (p[0] == '-' || p[0] == '+') ? 1 : 0;
    if (p.size() == digits_from || p.find_first_not_of("0123456789", digits_from) != std::string::npos) {
      throw ConfigurationError("Non-integer component in `val_check_interval` string: '" + text +
                               "'. Use 'DD:HH:MM:SS'.");
    }
    total += std::stod(p) * kSeconds[i];
  }
  seconds_ = checked_seconds(total);
}

ValCheckInterval::ValCheckInterval(const char* text) : ValCheckInterval(std::string(text ? text : "")) {}

namespace detail {

void validate_options(const TrainerOptions& o) {
  if (o.max_steps() < -1) throw ConfigurationError("`max_steps` must be -1 or a non-negative integer");
  if (o.max_epochs() && *o.max_epochs() < -1) throw ConfigurationError("`max_epochs` must be -1 or >= 0");
  if (o.accumulate_grad_batches() < 1) {
    throw ConfigurationError("`Trainer(accumulate_grad_batches=" + std::to_string(o.accumulate_grad_batches()) +
                             ")` was passed but it must be an integer greater than 0.");
  }
  if (o.log_every_n_steps() < 1) throw ConfigurationError("`log_every_n_steps` must be >= 1");
  if (o.check_val_every_n_epoch() && *o.check_val_every_n_epoch() < 1) {
    throw ConfigurationError("`check_val_every_n_epoch` should be an integer >= 1 or None, got " +
                             std::to_string(*o.check_val_every_n_epoch()) + ".");
  }
  if (o.fast_dev_run() < 0) {
    throw ConfigurationError("fast_dev_run=" + std::to_string(o.fast_dev_run()) +
                             " is not a valid configuration. It should be >= 0.");
  }
  if (o.gradient_clip_algorithm() != "norm" && o.gradient_clip_algorithm() != "value") {
    throw ConfigurationError("`gradient_clip_algorithm` " + o.gradient_clip_algorithm() +
                             " is invalid. Allowed algorithms: ['value', 'norm'].");
  }
  static const char* kPrecisions[] = {"32-true", "32", "64-true", "64", "16-true", "bf16-true", "16-mixed", "16",
                                      "bf16-mixed", "bf16"};
  if (std::find(std::begin(kPrecisions), std::end(kPrecisions), o.precision()) == std::end(kPrecisions)) {
    throw ConfigurationError("Precision '" + o.precision() +
                             "' is invalid. Allowed precision values: ('32-true', '64-true', '16-true', 'bf16-true', "
                             "'16-mixed', 'bf16-mixed')");
  }
}

torch::Device accelerator_device(const TrainerOptions& o) {
  const std::string& acc = o.accelerator();
  const torch::Device cuda(torch::kCUDA, static_cast<c10::DeviceIndex>(o.device_index()));
  if (acc == "cpu") return torch::kCPU;
  if (acc == "cuda" || acc == "gpu") {
    if (!torch::cuda::is_available()) {
      throw ConfigurationError("`CUDAAccelerator` can not run on your system since the accelerator is not available. "
                               "The following accelerator(s) is available and can be passed into `accelerator` "
                               "argument of `Trainer`: ['cpu'].");
    }
    return cuda;
  }
  if (acc == "auto") return torch::cuda::is_available() ? cuda : torch::Device(torch::kCPU);
  throw ConfigurationError("You selected an invalid accelerator name: `accelerator='" + acc +
                           "'`. Available names are: auto, cpu, cuda, gpu.");
}

std::int64_t limited_batches(const DataLoader& loader, const IntOrFloat& limit, const char* what) {
  const auto len = loader.size();
  if (limit.is_int()) {
    if (limit.as_int() < 0) throw ConfigurationError(std::string("`limit_") + what + "_batches` must be >= 0");
    return len ? std::min<std::int64_t>(*len, limit.as_int()) : limit.as_int();
  }
  const double f = limit.as_double();
  if (f < 0.0 || f > 1.0) {
    throw ConfigurationError(std::string("`limit_") + what + "_batches` must be an int or a float in [0.0, 1.0], got " +
                             std::to_string(f) + ".");
  }
  if (!len) {
    if (f == 1.0) return std::numeric_limits<std::int64_t>::max();
    throw ConfigurationError(std::string("a fractional `limit_") + what +
                             "_batches` needs a data loader whose length is known");
  }
  const auto n = static_cast<std::int64_t>(static_cast<double>(*len) * f);
  if (n == 0 && f > 0.0 && *len > 0) {
    throw ConfigurationError(std::string("You requested to check ") + std::to_string(f) + " of the `" + what +
                             "_dataloader` but " + std::to_string(f) + " * " + std::to_string(*len) +
                             " < 1. Please increase the `limit_" + what + "_batches` argument. Try at least `limit_" +
                             what + "_batches=" + std::to_string(1.0 / static_cast<double>(*len)) + "`");
  }
  return n;
}

}  // namespace detail
}  // namespace lamin::pl
