// ProgressBar: a small tqdm look-alike driven by the trainer's hooks (Lightning's TQDMProgressBar).

#include "lamin/pl/progress_bar.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <set>

#include "core/python.hpp"
#include "lamin/pl/trainer.hpp"

namespace lamin::pl {

namespace {

// Display width of UTF-8 text (one column per code point; the bar's block characters are one column wide).
std::size_t columns_of(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// tqdm's format_interval: `mm:ss`, or `h:mm:ss` from one hour on.
std::string format_interval(double seconds) {
  const long long t = static_cast<long long>(seconds);
  const long long mins = t / 60, s = t % 60, h = mins / 60, m = mins % 60;
  char buf[64];
  if (h) {
    std::snprintf(buf, sizeof(buf), "%lld:%02lld:%02lld", h, m, s);
  } else {
    std::snprintf(buf, sizeof(buf), "%02lld:%02lld", m, s);
  }
  return buf;
}

}  // namespace

ProgressBar::ProgressBar() : ProgressBar(ProgressBarOptions()) {}

ProgressBar::ProgressBar(ProgressBarOptions options)
    : options_(options), stderr_is_tty_(::isatty(STDERR_FILENO) == 1) {}

bool ProgressBar::is_enabled() const {
  if (!enabled_ || options_.refresh_rate() <= 0) return false;
  return options_.stream() != nullptr || stderr_is_tty_;
}

std::ostream* ProgressBar::out() const { return options_.stream() ? options_.stream() : &std::cerr; }

int ProgressBar::columns() const {
  if (options_.width() > 0) return options_.width();
  if (options_.stream()) return 100;
  struct winsize ws {};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

std::string ProgressBar::format_num(const Scalar& value) {
  const std::string str = value.integral ? std::to_string(value.as_int()) : lamin::detail::python_repr(value.value);
  if (!std::isfinite(value.value)) return str;
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.3g", value.value);
  std::string f = buf;
  for (const char* from : {"e+0", "e-0"}) {
    const auto pos = f.find(from);
    if (pos != std::string::npos) f.erase(pos + 2, 1);
  }
  return f.size() < str.size() ? f : str;
}

std::vector<std::pair<std::string, std::string>> ProgressBar::get_metrics(const Trainer& trainer) {
  std::vector<std::pair<std::string, std::string>> items;
  if (!trainer.loggers().empty()) {
    // Lightning's `_version(loggers)`: the version, or the distinct versions joined with "_".
    std::vector<std::string> versions;
    std::set<std::string> seen;
    for (const auto& logger : trainer.loggers()) {
      const LoggerVersion v = logger->version();
      const std::string text =
          std::holds_alternative<std::int64_t>(v) ? std::to_string(std::get<std::int64_t>(v)) : std::get<std::string>(v);
      if (seen.insert(text).second) versions.push_back(text);
    }
    std::string joined;
    for (const auto& v : versions) joined += (joined.empty() ? "" : "_") + v;
    items.emplace_back("v_num", joined);
  }
  for (const auto& [name, value] : trainer.progress_bar_metrics()) {
    bool replaced = false;
    for (auto& item : items)
      if (item.first == name) {
        item.second = format_num(value);
        replaced = true;
      }
    if (!replaced) items.emplace_back(name, format_num(value));
  }
  return items;
}

std::string ProgressBar::render(const Bar& bar) const {
  const double elapsed = std::chrono::duration<double>(Clock::now() - bar.start).count();
  const double rate = elapsed > 0 && bar.n > 0 ? static_cast<double>(bar.n) / elapsed : 0.0;
  char buf[64];
  std::string rate_fmt;
  if (rate <= 0) {
    rate_fmt = "?it/s";
  } else if (rate < 1) {
    std::snprintf(buf, sizeof(buf), "%5.2fs/it", 1.0 / rate);
    rate_fmt = buf;
  } else {
    std::snprintf(buf, sizeof(buf), "%5.2fit/s", rate);
    rate_fmt = buf;
  }
  std::string postfix;
  for (const auto& [k, v] : bar.postfix) postfix += ", " + k + "=" + v;

  if (bar.total <= 0) {  // unknown length: no bar
    return bar.description + ": " + std::to_string(bar.n) + "it [" + format_interval(elapsed) + ", " + rate_fmt +
           postfix + "]";
  }
  const double frac = std::min(1.0, static_cast<double>(bar.n) / static_cast<double>(bar.total));
  std::snprintf(buf, sizeof(buf), "%3.0f", frac * 100.0);
  const std::string l_bar = bar.description + ": " + buf + "%|";
  const std::string remaining = rate > 0 ? format_interval(static_cast<double>(bar.total - bar.n) / rate) : "?";
  const std::string r_bar = "| " + std::to_string(bar.n) + "/" + std::to_string(bar.total) + " [" +
                            format_interval(elapsed) + "<" + remaining + ", " + rate_fmt + postfix + "]";
  const long long width = std::max<long long>(
      1, static_cast<long long>(columns()) - static_cast<long long>(columns_of(l_bar) + columns_of(r_bar)));
  // tqdm's unicode bar: full blocks, one partial block, then spaces.
  static const char* const kPartial[] = {" ", "▏", "▎", "▍", "▌", "▋", "▊", "▉"};
  const long long eighths = static_cast<long long>(frac * static_cast<double>(width) * 8);
  const long long full = eighths / 8;
  std::string body;
  for (long long i = 0; i < full; ++i) body += "█";
  if (full < width) {
    body += kPartial[eighths % 8];
    body.append(static_cast<std::size_t>(width - full - 1), ' ');
  }
  return l_bar + body + r_bar;
}

void ProgressBar::draw(Bar& bar) {
  if (!is_enabled()) return;
  const std::string line = render(bar);
  const std::size_t len = columns_of(line);
  std::string text = "\r" + line;
  if (len < last_len_) text.append(last_len_ - len, ' ');
  *out() << text << std::flush;
  last_len_ = len;
  bar.last_draw = Clock::now();
  bar.drawn = true;
}

void ProgressBar::close_line(bool leave) {
  if (!is_enabled() || last_len_ == 0) return;
  if (leave) {
    *out() << "\n" << std::flush;
  } else {
    *out() << "\r" << std::string(last_len_, ' ') << "\r" << std::flush;
  }
  last_len_ = 0;
}

void ProgressBar::reset(Bar& bar, std::string description, std::int64_t total) {
  bar.active = true;
  bar.description = std::move(description);
  bar.n = 0;
  bar.total = total;
  bar.start = Clock::now();
  bar.drawn = false;
}

bool ProgressBar::update_due(Bar& bar, std::int64_t n) const {
  bar.n = n;
  const auto rate = options_.refresh_rate();
  if (rate <= 0 || (n % rate != 0 && n != bar.total)) return false;
  const bool last = bar.total > 0 && n >= bar.total;
  const double since = std::chrono::duration<double>(Clock::now() - bar.last_draw).count();
  return last || !bar.drawn || since >= options_.min_interval_s();
}

void ProgressBar::setup(Trainer& trainer, LightningModule&, const std::string&) {
  if (!trainer.is_global_zero()) disable();
}

void ProgressBar::on_sanity_check_start(Trainer& trainer, LightningModule&) {
  const std::int64_t steps = trainer.options().num_sanity_val_steps();
  const std::int64_t total = steps < 0 ? trainer.num_val_batches() : std::min(steps, trainer.num_val_batches());
  reset(eval_, "Sanity Checking DataLoader 0", total);
}

void ProgressBar::on_sanity_check_end(Trainer&, LightningModule&) {
  eval_.active = false;
  close_line(/*leave=*/false);
}

void ProgressBar::on_train_start(Trainer&, LightningModule&) { train_.active = false; }

void ProgressBar::on_train_epoch_start(Trainer& trainer, LightningModule&) {
  reset(train_, "Epoch " + std::to_string(trainer.current_epoch()), trainer.num_training_batches());
  if (!is_enabled()) return;
  train_.postfix = get_metrics(trainer);
  draw(train_);
}

void ProgressBar::on_train_batch_end(Trainer& trainer, LightningModule&, const StepOutput&, const Batch&,
                                     std::int64_t batch_idx) {
  if (!is_enabled()) return;
  if (update_due(train_, batch_idx + 1)) {
    train_.postfix = get_metrics(trainer);
    draw(train_);
  }
}

void ProgressBar::on_train_epoch_end(Trainer& trainer, LightningModule&) {
  if (!is_enabled()) return;
  train_.postfix = get_metrics(trainer);
  draw(train_);
}

void ProgressBar::on_train_end(Trainer&, LightningModule&) {
  if (!train_.active) return;
  train_.active = false;
  close_line(/*leave=*/true);
}

void ProgressBar::on_validation_start(Trainer& trainer, LightningModule&) {
  if (trainer.sanity_checking()) return;  // the sanity bar is already set up
  reset(eval_, "Validation DataLoader 0", trainer.num_val_batches());
}

void ProgressBar::on_validation_batch_end(Trainer&, LightningModule&, const StepOutput&, const Batch&,
                                          std::int64_t batch_idx) {
  if (is_enabled() && update_due(eval_, batch_idx + 1)) draw(eval_);
}

void ProgressBar::on_validation_end(Trainer& trainer, LightningModule&) {
  if (trainer.sanity_checking()) return;
  eval_.active = false;
  if (trainer.state() == TrainerFn::fitting && train_.active) {
    if (!is_enabled()) return;
    // Back to the training bar, with the freshly logged validation metrics.
    train_.postfix = get_metrics(trainer);
    draw(train_);
  } else {
    close_line(/*leave=*/true);
  }
}

void ProgressBar::on_test_start(Trainer&, LightningModule&) { reset(eval_, "Testing DataLoader 0", 0); }

void ProgressBar::on_test_batch_end(Trainer&, LightningModule&, const StepOutput&, const Batch&,
                                    std::int64_t batch_idx) {
  if (is_enabled() && update_due(eval_, batch_idx + 1)) draw(eval_);
}

void ProgressBar::on_test_end(Trainer&, LightningModule&) {
  eval_.active = false;
  close_line(/*leave=*/true);
}

void ProgressBar::on_predict_start(Trainer&, LightningModule&) { reset(eval_, "Predicting DataLoader 0", 0); }

void ProgressBar::on_predict_batch_end(Trainer&, LightningModule&, const StepOutput&, const Batch&,
                                       std::int64_t batch_idx) {
  if (is_enabled() && update_due(eval_, batch_idx + 1)) draw(eval_);
}

void ProgressBar::on_predict_end(Trainer&, LightningModule&) {
  eval_.active = false;
  close_line(/*leave=*/true);
}

}  // namespace lamin::pl
