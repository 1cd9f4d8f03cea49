#pragma once
// ProgressBar: a tqdm-like progress bar on the terminal (Lightning's `TQDMProgressBar`).

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

#include "lamin/arg.hpp"
#include "lamin/pl/callback.hpp"
#include "lamin/pl/metrics.hpp"

namespace lamin::pl {

/// ProgressBar settings.
struct ProgressBarOptions {
  using OStreamPtr = std::ostream*;

  /// Redraw every `refresh_rate` batches (and on the last one); 0 disables the bar.
  LAMIN_ARG(std::int64_t, refresh_rate) = 1;
  /// Where to draw. nullptr: stderr, and only when stderr is a terminal. A given stream is always drawn to.
  LAMIN_ARG(OStreamPtr, stream) = nullptr;
  /// Line width in columns; 0: the terminal's width (80 when unknown), or 100 for a given stream.
  LAMIN_ARG(int, width) = 0;
  /// Minimum seconds between two redraws of the same bar (tqdm's `mininterval`); the last batch always redraws.
  LAMIN_ARG(double, min_interval_s) = 0.1;
};

/// Lightning's `TQDMProgressBar`: `Epoch 3:  50%|█████     | 2/4 [00:01<00:01,  1.95it/s, v_num=0, loss=0.123]`,
/// with the logger version and the metrics logged with `prog_bar=true` (Trainer::progress_bar_metrics()). The
/// validation bar replaces it while validation runs, then the training bar comes back. Quiet when stderr is not a
/// terminal and no stream was given, and on processes other than global rank 0.
///
/// The trainer adds one when TrainerOptions::enable_progress_bar is true and no ProgressBar is in the callbacks.
class ProgressBar : public Callback {
 public:
  ProgressBar();
  explicit ProgressBar(ProgressBarOptions options);

  std::string state_key() const override { return "TQDMProgressBar"; }

  /// Whether anything is drawn (a stream was given or stderr is a terminal, refresh_rate > 0, not disabled).
  bool is_enabled() const;
  void disable() { enabled_ = false; }
  void enable() { enabled_ = true; }

  /// What follows the bar: `v_num` (the loggers' version) then the progress bar metrics, as tqdm writes them.
  static std::vector<std::pair<std::string, std::string>> get_metrics(const Trainer& trainer);
  /// tqdm's `format_num`: `{:.3g}` (with `e+05` shortened to `e+5`) when that is shorter than Python's str().
  static std::string format_num(const Scalar& value);

  void setup(Trainer& trainer, LightningModule& module, const std::string& stage) override;
  void on_sanity_check_start(Trainer& trainer, LightningModule& module) override;
  void on_sanity_check_end(Trainer& trainer, LightningModule& module) override;
  void on_train_start(Trainer& trainer, LightningModule& module) override;
  void on_train_epoch_start(Trainer& trainer, LightningModule& module) override;
  void on_train_batch_end(Trainer& trainer, LightningModule& module, const StepOutput& outputs, const Batch& batch,
                          std::int64_t batch_idx) override;
  void on_train_epoch_end(Trainer& trainer, LightningModule& module) override;
  void on_train_end(Trainer& trainer, LightningModule& module) override;
  void on_validation_start(Trainer& trainer, LightningModule& module) override;
  void on_validation_batch_end(Trainer& trainer, LightningModule& module, const StepOutput& outputs,
                               const Batch& batch, std::int64_t batch_idx) override;
  void on_validation_end(Trainer& trainer, LightningModule& module) override;
  void on_test_start(Trainer& trainer, LightningModule& module) override;
  void on_test_batch_end(Trainer& trainer, LightningModule& module, const StepOutput& outputs, const Batch& batch,
                         std::int64_t batch_idx) override;
  void on_test_end(Trainer& trainer, LightningModule& module) override;
  void on_predict_start(Trainer& trainer, LightningModule& module) override;
  void on_predict_batch_end(Trainer& trainer, LightningModule& module, const StepOutput& outputs,
                            const Batch& batch, std::int64_t batch_idx) override;
  void on_predict_end(Trainer& trainer, LightningModule& module) override;

 private:
  using Clock = std::chrono::steady_clock;
  struct Bar {
    bool active = false;
    std::string description;
    std::int64_t n = 0;
    std::int64_t total = 0;  // <= 0: unknown
    Clock::time_point start;
    Clock::time_point last_draw;
    bool drawn = false;
    std::vector<std::pair<std::string, std::string>> postfix;
  };

  std::ostream* out() const;
  int columns() const;
  void reset(Bar& bar, std::string description, std::int64_t total);
  /// Records progress `n`; true when the bar should be redrawn now (refresh_rate, min_interval_s, last batch).
  bool update_due(Bar& bar, std::int64_t n) const;
  void draw(Bar& bar);
  /// Ends the current line: keeps it (`leave`) with a newline, or blanks it.
  void close_line(bool leave);
  std::string render(const Bar& bar) const;

  ProgressBarOptions options_;
  bool enabled_ = true;
  bool stderr_is_tty_ = false;
  Bar train_;
  Bar eval_;
  std::size_t last_len_ = 0;  // columns of what is on the current line
};

}  // namespace lamin::pl
