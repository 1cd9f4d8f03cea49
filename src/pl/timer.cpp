#include "core/python.hpp"
#include "lamin/pl/timer.hpp"

#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <string_view>

#include "lamin/error.hpp"
#include "lamin/log.hpp"
#include "lamin/pl/trainer.hpp"

namespace lamin::pl {
namespace {

// Lightning's RunningStage values, in its order.
constexpr std::array<std::string_view, 5> kStages = {"train", "sanity_check", "validate", "test", "predict"};

const std::string& checked_stage(const std::string& stage) {
  for (const auto s : kStages)
    if (s == stage) return stage;
  throw ConfigurationError("'" + stage + "' is not a valid RunningStage");
}

}  // namespace

std::string format_timedelta(std::int64_t seconds) {
  return lamin::detail::python_timedelta_str(std::chrono::seconds(seconds));
}

Timer::Seconds Timer::parse_duration(const std::string& text) {
  // Lightning strips the string, then matches (\d+):(\d\d):(\d\d):(\d\d) exactly.
  std::size_t b = 0, e = text.size();
  while (b < e && std::isspace(static_cast<unsigned char>(text[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(text[e - 1]))) --e;
  const std::string_view s(text.data() + b, e - b);
  auto bad = [&]() -> ConfigurationError {
    return ConfigurationError("`Timer(duration='" + text +
                              "')` is not a valid duration. Expected a string in the format DD:HH:MM:SS.");
  };
  std::array<long long, 4> parts{};
  std::size_t pos = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    const std::size_t from = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
    const std::size_t digits = pos - from;
    if (digits == 0 || (i > 0 && digits != 2) || digits > 12) throw bad();
    parts[i] = std::stoll(std::string(s.substr(from, digits)));
    if (i < 3) {
      if (pos >= s.size() || s[pos] != ':') throw bad();
      ++pos;
    }
  }
  if (pos != s.size()) throw bad();
  return Seconds(static_cast<double>(((parts[0] * 24 + parts[1]) * 60 + parts[2]) * 60 + parts[3]));
}

Timer::Timer(std::optional<Seconds> duration, const std::string& interval, bool verbose)
    : interval_(interval), verbose_(verbose) {
  if (interval != "step" && interval != "epoch") {
    throw ConfigurationError("Unsupported parameter value `Timer(interval=" + interval +
                             ")`. Possible choices are: step, epoch");
  }
  if (duration) {
    if (!std::isfinite(duration->count()) || duration->count() < 0) {
      throw ConfigurationError("`Timer(duration)` must be a finite, non-negative time");
    }
    duration_ = duration->count();
  }
  for (const auto s : kStages) {
    start_[std::string(s)] = std::nullopt;
    end_[std::string(s)] = std::nullopt;
  }
}

Timer::Timer(const std::string& duration, const std::string& interval, bool verbose)
    : Timer(parse_duration(duration), interval, verbose) {}

double Timer::now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::optional<double> Timer::start_time(const std::string& stage) const { return start_.at(checked_stage(stage)); }
std::optional<double> Timer::end_time(const std::string& stage) const { return end_.at(checked_stage(stage)); }

double Timer::time_elapsed(const std::string& stage) const {
  const auto start = start_time(stage);
  const auto end = end_time(stage);
  const double offset = stage == "train" ? offset_.get<double>() : 0.0;
  if (!start) return offset;
  if (!end) return now() - *start + offset;
  return *end - *start + offset;
}

std::optional<double> Timer::time_remaining(const std::string& stage) const {
  if (!duration_) return std::nullopt;
  return *duration_ - time_elapsed(stage);
}

nlohmann::json Timer::state_dict() const {
  nlohmann::json elapsed = nlohmann::json::object();
  for (const auto s : kStages) {
    const std::string stage(s);
    // As in Python: a stage that never started reports its offset as stored (an int 0 unless loaded).
    if (!start_.at(stage)) {
      elapsed[stage] = stage == "train" ? offset_ : nlohmann::json(0);
    } else {
      elapsed[stage] = time_elapsed(stage);
    }
  }
  return {{"time_elapsed", elapsed}};
}

void Timer::load_state_dict(const nlohmann::json& state) {
  offset_ = 0;
  if (!state.is_object() || !state.contains("time_elapsed")) return;
  const auto& elapsed = state.at("time_elapsed");
  if (!elapsed.is_object() || !elapsed.contains("train")) return;
  if (!elapsed.at("train").is_number()) {
    throw ConfigurationError("the Timer state in the checkpoint has a non-numeric train time: " +
                             elapsed.at("train").dump());
  }
  offset_ = elapsed.at("train");
}

void Timer::on_train_start(Trainer&, LightningModule&) { start_["train"] = now(); }
void Timer::on_train_end(Trainer&, LightningModule&) { end_["train"] = now(); }
void Timer::on_validation_start(Trainer&, LightningModule&) { start_["validate"] = now(); }
void Timer::on_validation_end(Trainer&, LightningModule&) { end_["validate"] = now(); }
void Timer::on_test_start(Trainer&, LightningModule&) { start_["test"] = now(); }
void Timer::on_test_end(Trainer&, LightningModule&) { end_["test"] = now(); }

void Timer::on_fit_start(Trainer& trainer, LightningModule&) {
  // Also after a resume whose recorded time is already used up, whatever the interval.
  if (duration_) check_time_remaining(trainer);
}

void Timer::on_train_batch_end(Trainer& trainer, LightningModule&, const StepOutput&, const Batch&, std::int64_t) {
  if (interval_ == "step" && duration_) check_time_remaining(trainer);
}

void Timer::on_train_epoch_end(Trainer& trainer, LightningModule&) {
  if (interval_ == "epoch" && duration_) check_time_remaining(trainer);
}

void Timer::check_time_remaining(Trainer& trainer) {
  const bool stop = time_elapsed() >= *duration_;
  trainer.set_should_stop(trainer.should_stop() || stop);
  if (stop && verbose_ && trainer.is_global_zero()) {
    log::info("Time limit reached. Elapsed time is " +
              format_timedelta(static_cast<std::int64_t>(time_elapsed("train"))) + ". Signaling Trainer to stop.");
  }
}

}  // namespace lamin::pl
