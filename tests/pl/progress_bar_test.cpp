// ProgressBar: tqdm's number format, drawing to a given stream during a real fit, and staying quiet otherwise.

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <sstream>
#include <string>

#include "common/torch/training.hpp"
#include "lamin/pl/csv_logger.hpp"
#include "lamin/pl/module.hpp"
#include "lamin/pl/progress_bar.hpp"
#include "lamin/pl/trainer.hpp"

namespace {

namespace fs = std::filesystem;
namespace pl = lamin::pl;

using lamin::test::random_dataloader;
using lamin::test::TempDir;

struct BarModule : pl::LightningModule {
  torch::nn::Linear layer{nullptr};
  BarModule() { layer = register_module("layer", torch::nn::Linear(2, 1)); }
  at::Tensor training_step(const pl::Batch& batch, std::int64_t) override {
    auto loss = torch::mse_loss(layer->forward(batch.data), batch.target);
    log("loss", loss, pl::LogOptions().prog_bar(true));
    return loss;
  }
  void validation_step(const pl::Batch& batch, std::int64_t) override {
    log("val_loss", torch::mse_loss(layer->forward(batch.data), batch.target), pl::LogOptions().prog_bar(true));
  }
  pl::OptimizerConfig configure_optimizers() override {
    std::shared_ptr<torch::optim::Optimizer> opt =
        std::make_shared<torch::optim::SGD>(parameters(), torch::optim::SGDOptions(0.01));
    return opt;
  }
};

pl::DataLoader loader() { return random_dataloader(16, 2, 4); }  // 4 batches

std::size_t columns(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

TEST(ProgressBar, FormatNumLikeTqdm) {
  using pl::Scalar;
  EXPECT_EQ(pl::ProgressBar::format_num(Scalar::f32(0.123456)), "0.123");
  EXPECT_EQ(pl::ProgressBar::format_num(Scalar{0.5, false}), "0.5");
  EXPECT_EQ(pl::ProgressBar::format_num(Scalar{2.0, false}), "2");
  EXPECT_EQ(pl::ProgressBar::format_num(Scalar{1e-05, false}), "1e-5");
  EXPECT_EQ(pl::ProgressBar::format_num(Scalar{1234567.0, false}), "1.23e+6");
  EXPECT_EQ(pl::ProgressBar::format_num(Scalar::integer(12345)), "12345");
  EXPECT_EQ(pl::ProgressBar::format_num(Scalar{std::nan(""), false}), "nan");
}

TEST(ProgressBar, DrawsEpochBatchesRateAndMetricsToAGivenStream) {
  TempDir tmp;
  std::ostringstream out;
  auto bar = std::make_shared<pl::ProgressBar>(pl::ProgressBarOptions().stream(&out).min_interval_s(0).width(120));
  EXPECT_TRUE(bar->is_enabled());
  BarModule module;
  pl::Trainer trainer(pl::TrainerOptions()
                          .default_root_dir(tmp.str())
                          .accelerator("cpu")
                          .enable_checkpointing(false)
                          .logger(std::make_shared<pl::CSVLogger>(tmp.str()))
                          .max_epochs(2)
                          .callbacks({bar}));
  std::size_t bars = 0;
  for (const auto& cb : trainer.callbacks()) bars += dynamic_cast<pl::ProgressBar*>(cb.get()) != nullptr;
  EXPECT_EQ(bars, 1u);  // the trainer does not add a second one
  trainer.fit(module, loader(), loader());

  const std::string text = out.str();
  EXPECT_NE(text.find("Sanity Checking DataLoader 0: "), std::string::npos) << text;
  EXPECT_NE(text.find("Epoch 0:  25%|"), std::string::npos) << text;
  EXPECT_NE(text.find("Epoch 1: 100%|"), std::string::npos) << text;
  EXPECT_NE(text.find("| 4/4 ["), std::string::npos) << text;
  EXPECT_NE(text.find("it/s, v_num=0, loss="), std::string::npos) << text;
  EXPECT_NE(text.find("Validation DataLoader 0: "), std::string::npos) << text;
  EXPECT_NE(text.find(", val_loss="), std::string::npos) << text;  // validation metrics join the training bar
  EXPECT_EQ(text.back(), '\n');                                    // the last training bar is kept
  // Every redraw fits the width.
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find_first_of("\r\n", start);
    if (end == std::string::npos) end = text.size();
    EXPECT_LE(columns(text.substr(start, end - start)), 120u);
    start = end + 1;
  }
}

TEST(ProgressBar, QuietWhenStderrIsNotATerminal) {
  pl::ProgressBar bar;
  EXPECT_EQ(bar.is_enabled(), ::isatty(STDERR_FILENO) == 1);
  std::ostringstream out;
  EXPECT_FALSE(pl::ProgressBar(pl::ProgressBarOptions().stream(&out).refresh_rate(0)).is_enabled());
}

TEST(ProgressBar, RefreshRateZeroWritesNothing) {
  TempDir tmp;
  std::ostringstream out;
  auto bar = std::make_shared<pl::ProgressBar>(pl::ProgressBarOptions().stream(&out).refresh_rate(0));
  BarModule module;
  pl::Trainer trainer(pl::TrainerOptions()
                          .default_root_dir(tmp.str())
                          .accelerator("cpu")
                          .enable_checkpointing(false)
                          .logger(false)
                          .max_epochs(1)
                          .callbacks({bar}));
  trainer.fit(module, loader(), loader());
  EXPECT_TRUE(out.str().empty());
}

TEST(ProgressBar, TrainerAddsOneWhenEnabled) {
  TempDir tmp;
  auto count = [](const pl::Trainer& t) {
    std::size_t n = 0;
    for (const auto& cb : t.callbacks()) n += dynamic_cast<pl::ProgressBar*>(cb.get()) != nullptr;
    return n;
  };
  pl::Trainer with(pl::TrainerOptions().default_root_dir(tmp.str()).logger(false));
  EXPECT_EQ(count(with), 1u);
  pl::Trainer without(pl::TrainerOptions().default_root_dir(tmp.str()).logger(false).enable_progress_bar(false));
  EXPECT_EQ(count(without), 0u);
}

}  // namespace
