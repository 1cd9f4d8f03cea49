// Trainer::validate and Trainer::test on their own: epoch metrics weighted by batch size, Lightning's hook order with
// the module's batch hooks, the module's mode restored afterwards, precision without an earlier fit, limits, and
// on_exception when a step fails.

#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/torch/tracing.hpp"
#include "common/torch/training.hpp"
#include "lamin/error.hpp"
#include "lamin/pl/trainer.hpp"

using namespace lamin::pl;
using namespace lamin::test;

using TracedTestLoop = TracedLoopTest;

namespace {

// The mean squared error over all rows: the batch-size-weighted mean of the per-batch losses Lightning reports.
double full_mse(LinearModule& m, const at::Tensor& x, const at::Tensor& y) {
  torch::NoGradGuard no_grad;
  return torch::mse_loss(m.layer->forward(x), y).item<double>();
}

}  // namespace

TEST_F(TracedTestLoop, ReturnsTheEpochMetricInLightningsHookOrderAndRestoresTrainMode) {
  auto [x, y] = regression_data(10);
  m.train();
  const MetricMap metrics = trainer.test(m, DataLoader::from_tensors(x, y, 4));  // batches of 4, 4, 2
  ASSERT_TRUE(metrics.contains("test_loss"));
  EXPECT_NEAR(metrics.at("test_loss").value, full_mse(m, x, y), 1e-6);
  EXPECT_NEAR(trainer.callback_metrics().at("test_loss").value, full_mse(m, x, y), 1e-6);
  EXPECT_FALSE(m.saw_training_mode);
  EXPECT_FALSE(m.saw_grad_mode);
  EXPECT_TRUE(m.is_training());  // the mode it had before
  EXPECT_EQ(trainer.state(), TrainerFn::none);

  std::vector<std::string> expected = {"cb:setup:test",          "m:setup:test",       "m:on_test_model_eval",
                                       "cb:on_test_start",       "m:on_test_start",    "cb:on_test_epoch_start",
                                       "m:on_test_epoch_start"};
  for (int i = 0; i < 3; ++i) {
    const std::string n = std::to_string(i);
    for (const char* hook : {"cb:on_test_batch_start:", "m:on_test_batch_start:", "m:test_step:",
                             "cb:on_test_batch_end:", "m:on_test_batch_end:"}) {
      expected.push_back(hook + n);
    }
  }
  for (const char* hook : {"cb:on_test_epoch_end", "m:on_test_epoch_end", "cb:on_test_end", "m:on_test_end",
                           "m:on_test_model_train", "cb:teardown:test", "m:teardown:test"}) {
    expected.push_back(hook);
  }
  EXPECT_EQ(trace, expected);
}

TEST(TestLoop, AModuleInEvalModeStaysInEvalMode) {
  TempDir dir;
  auto [x, y] = regression_data(4);
  Trainer trainer(quiet_options(dir.str()));
  TracingModule m;
  m.eval();
  trainer.test(m, DataLoader::from_tensors(x, y, 2));
  EXPECT_FALSE(m.is_training());
}

TEST(TestLoop, LimitTestBatches) {
  TempDir dir;
  auto [x, y] = regression_data(10);
  std::vector<std::string> trace;
  TracingModule m;
  m.trace = &trace;
  Trainer trainer(quiet_options(dir.str()).limit_test_batches(IntOrFloat(std::int64_t{2})));
  trainer.test(m, DataLoader::from_tensors(x, y, 2));
  EXPECT_EQ(std::count_if(trace.begin(), trace.end(), [](const std::string& s) { return s.rfind("m:test_step", 0) == 0; }),
            2);
}

TEST_F(TracedTestLoop, AFailingStepReachesOnExceptionAndTheCaller) {
  auto [x, y] = regression_data(6);
  m.fail_at = 1;
  EXPECT_THROW(trainer.test(m, DataLoader::from_tensors(x, y, 2)), std::runtime_error);
  ASSERT_EQ(recorder->exceptions.size(), 1u);
  EXPECT_EQ(recorder->exceptions[0], "test_step failed on purpose");
  EXPECT_EQ(trainer.state(), TrainerFn::none);
  EXPECT_EQ(std::find(trace.begin(), trace.end(), "cb:teardown:test"), trace.end());
  // The trainer is usable again.
  m.fail_at = -1;
  EXPECT_TRUE(trainer.test(m, DataLoader::from_tensors(x, y, 2)).contains("test_loss"));
}

TEST(Validate, ReturnsTheEpochMetricUnderTheConfiguredPrecisionWithoutAnEarlierFit) {
  TempDir dir;
  auto [x, y] = regression_data(10);
  Trainer trainer(quiet_options(dir.str()).precision("64-true"));
  LinearModule m;
  const MetricMap metrics = trainer.validate(m, DataLoader::from_tensors(x, y, 4));
  EXPECT_EQ(m.layer->weight.scalar_type(), at::kDouble);
  ASSERT_TRUE(metrics.contains("val_loss"));
  EXPECT_NEAR(metrics.at("val_loss").value, full_mse(m, x.to(at::kDouble), y.to(at::kDouble)), 1e-5);
  EXPECT_EQ(trainer.state(), TrainerFn::none);
  EXPECT_THROW(trainer.validate(m, DataLoader()), lamin::ConfigurationError);
}

TEST(Validate, GivesTheModuleBackTheModeItHad) {
  TempDir dir;
  auto [x, y] = regression_data(4);
  Trainer trainer(quiet_options(dir.str()));
  LinearModule m;
  m.train();
  trainer.validate(m, DataLoader::from_tensors(x, y, 2));
  EXPECT_TRUE(m.is_training());
  m.eval();
  trainer.validate(m, DataLoader::from_tensors(x, y, 2));
  EXPECT_FALSE(m.is_training());
}
