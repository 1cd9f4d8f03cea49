#pragma once
// A module and a callback that write down the hooks of Trainer::test and Trainer::predict in the order they run,
// for the tests of those loops ("m:<hook>" from the module, "cb:<hook>" from the callback, batch hooks and steps
// with ":<batch index>"). Header-only; only torch-enabled builds include it.

#include <torch/torch.h>

#include <cstdint>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/files.hpp"
#include "common/torch/training.hpp"
#include "lamin/pl/callback.hpp"
#include "lamin/pl/trainer.hpp"

namespace lamin::test {

/// LinearModule that writes down its test and predict hooks (when `trace` is set), remembers whether a step ran in
/// training mode or with gradients, and fails or logs on purpose when asked.
struct TracingModule : LinearModule {
  std::vector<std::string>* trace = nullptr;
  bool saw_training_mode = false;
  bool saw_grad_mode = false;
  std::int64_t fail_at = -1;    // test_step throws for this batch index
  bool log_in_predict = false;  // predict_step logs, which Lightning refuses

  void note(const std::string& what) {
    if (trace) trace->push_back("m:" + what);
  }

  void test_step(const lamin::pl::Batch& batch, std::int64_t i) override {
    note("test_step:" + std::to_string(i));
    if (i == fail_at) throw std::runtime_error("test_step failed on purpose");
    note_modes();
    log("test_loss", torch::mse_loss(layer->forward(batch.data), batch.target));
  }
  at::Tensor predict_step(const lamin::pl::Batch& batch, std::int64_t i) override {
    note("predict_step:" + std::to_string(i));
    note_modes();
    if (log_in_predict) log("pred", 1.0);
    return layer->forward(batch.data);
  }

  void setup(const std::string& stage) override { note("setup:" + stage); }
  void teardown(const std::string& stage) override { note("teardown:" + stage); }

  void on_test_model_eval() override {
    note("on_test_model_eval");
    LinearModule::on_test_model_eval();
  }
  void on_test_model_train() override {
    note("on_test_model_train");
    LinearModule::on_test_model_train();
  }
  void on_test_start() override { note("on_test_start"); }
  void on_test_epoch_start() override { note("on_test_epoch_start"); }
  void on_test_batch_start(const lamin::pl::Batch&, std::int64_t i) override {
    note("on_test_batch_start:" + std::to_string(i));
  }
  void on_test_batch_end(const lamin::pl::Batch&, std::int64_t i) override {
    note("on_test_batch_end:" + std::to_string(i));
  }
  void on_test_epoch_end() override { note("on_test_epoch_end"); }
  void on_test_end() override { note("on_test_end"); }

  void on_predict_model_eval() override {
    note("on_predict_model_eval");
    LinearModule::on_predict_model_eval();
  }
  void on_predict_start() override { note("on_predict_start"); }
  void on_predict_epoch_start() override { note("on_predict_epoch_start"); }
  void on_predict_batch_start(const lamin::pl::Batch&, std::int64_t i) override {
    note("on_predict_batch_start:" + std::to_string(i));
  }
  void on_predict_batch_end(const at::Tensor& out, const lamin::pl::Batch&, std::int64_t i) override {
    note("on_predict_batch_end:" + std::to_string(i) + (out.defined() ? ":output" : ":none"));
  }
  void on_predict_epoch_end() override { note("on_predict_epoch_end"); }
  void on_predict_end() override { note("on_predict_end"); }

 private:
  void note_modes() {
    saw_training_mode = saw_training_mode || is_training();
    saw_grad_mode = saw_grad_mode || at::GradMode::is_enabled();
  }
};

/// A callback that writes down the test and predict hooks into `trace`, checks the trainer's state when a loop
/// starts, and keeps the messages of the exceptions it is told about and every predict batch's output.
struct TracingCallback : lamin::pl::Callback {
  using Trainer = lamin::pl::Trainer;
  using Module = lamin::pl::LightningModule;
  using Batch = lamin::pl::Batch;

  std::vector<std::string>* trace;
  std::vector<std::string> exceptions;
  std::vector<at::Tensor> outputs;
  explicit TracingCallback(std::vector<std::string>* t) : trace(t) {}

  void note(const std::string& what) { trace->push_back("cb:" + what); }

  void setup(Trainer&, Module&, const std::string& stage) override { note("setup:" + stage); }
  void teardown(Trainer&, Module&, const std::string& stage) override { note("teardown:" + stage); }
  void on_exception(Trainer&, Module&, const std::exception& e) override { exceptions.push_back(e.what()); }

  void on_test_start(Trainer& t, Module&) override {
    EXPECT_EQ(t.state(), lamin::pl::TrainerFn::testing);
    note("on_test_start");
  }
  void on_test_epoch_start(Trainer&, Module&) override { note("on_test_epoch_start"); }
  void on_test_batch_start(Trainer&, Module&, const Batch&, std::int64_t i) override {
    note("on_test_batch_start:" + std::to_string(i));
  }
  void on_test_batch_end(Trainer&, Module&, const lamin::pl::StepOutput&, const Batch&, std::int64_t i) override {
    note("on_test_batch_end:" + std::to_string(i));
  }
  void on_test_epoch_end(Trainer&, Module&) override { note("on_test_epoch_end"); }
  void on_test_end(Trainer&, Module&) override { note("on_test_end"); }

  void on_predict_start(Trainer& t, Module&) override {
    EXPECT_EQ(t.state(), lamin::pl::TrainerFn::predicting);
    note("on_predict_start");
  }
  void on_predict_epoch_start(Trainer&, Module&) override { note("on_predict_epoch_start"); }
  void on_predict_batch_start(Trainer&, Module&, const Batch&, std::int64_t i) override {
    note("on_predict_batch_start:" + std::to_string(i));
  }
  void on_predict_batch_end(Trainer&, Module&, const lamin::pl::StepOutput& out, const Batch&,
                            std::int64_t i) override {
    note("on_predict_batch_end:" + std::to_string(i));
    outputs.push_back(out);
  }
  void on_predict_epoch_end(Trainer&, Module&) override { note("on_predict_epoch_end"); }
  void on_predict_end(Trainer&, Module&) override { note("on_predict_end"); }
};

/// A fresh folder, a quiet Trainer whose callback is a TracingCallback (`recorder`), and a TracingModule (`m`),
/// both writing into `trace`.
class TracedLoopTest : public ::testing::Test {
 protected:
  TracedLoopTest() { m.trace = &trace; }

  TempDir dir;
  std::vector<std::string> trace;
  std::shared_ptr<TracingCallback> recorder = std::make_shared<TracingCallback>(&trace);
  lamin::pl::Trainer trainer{quiet_options(dir.str()).callbacks({recorder})};
  TracingModule m;
};

}  // namespace lamin::test
