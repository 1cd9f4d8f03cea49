// Trainer::predict: outputs in batch order, eval mode without gradients, Lightning's hook order, limits, and the
// errors Lightning raises (logging in predict, no predict_step).

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/torch/tracing.hpp"
#include "common/torch/training.hpp"
#include "lamin/error.hpp"
#include "lamin/pl/trainer.hpp"

using namespace lamin::pl;
using namespace lamin::test;

using TracedPredict = TracedLoopTest;

TEST_F(TracedPredict, ReturnsEachBatchOutputInOrderInEvalModeWithoutGradients) {
  auto [x, y] = regression_data(10);
  m.train();
  const auto predictions = trainer.predict(m, DataLoader::from_tensors(x, y, 4));  // batches of 4, 4, 2
  ASSERT_EQ(predictions.size(), 3u);
  EXPECT_EQ(predictions[2].size(0), 2);
  {
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(torch::allclose(torch::cat(predictions), m.layer->forward(x)));
  }
  for (const auto& p : predictions) EXPECT_FALSE(p.requires_grad());
  EXPECT_FALSE(m.saw_training_mode);
  EXPECT_FALSE(m.saw_grad_mode);
  EXPECT_EQ(trainer.state(), TrainerFn::none);
  ASSERT_EQ(recorder->outputs.size(), 3u);
  EXPECT_TRUE(recorder->outputs[1].equal(predictions[1]));  // on_predict_batch_end sees the step's output

  const std::vector<std::string> expected = {
      "cb:setup:predict", "m:setup:predict", "m:on_predict_model_eval",
      "cb:on_predict_start", "m:on_predict_start",
      "cb:on_predict_epoch_start", "m:on_predict_epoch_start",
      "cb:on_predict_batch_start:0", "m:on_predict_batch_start:0", "m:predict_step:0",
      "cb:on_predict_batch_end:0", "m:on_predict_batch_end:0:output",
      "cb:on_predict_batch_start:1", "m:on_predict_batch_start:1", "m:predict_step:1",
      "cb:on_predict_batch_end:1", "m:on_predict_batch_end:1:output",
      "cb:on_predict_batch_start:2", "m:on_predict_batch_start:2", "m:predict_step:2",
      "cb:on_predict_batch_end:2", "m:on_predict_batch_end:2:output",
      "cb:on_predict_epoch_end", "m:on_predict_epoch_end",
      "cb:on_predict_end", "m:on_predict_end",
      "cb:teardown:predict", "m:teardown:predict"};
  EXPECT_EQ(trace, expected);
}

TEST_F(TracedPredict, WithoutReturnPredictionsOnlyTheHooksSeeTheOutputs) {
  auto [x, y] = regression_data(10);
  EXPECT_TRUE(trainer.predict(m, DataLoader::from_tensors(x, y, 4), /*return_predictions=*/false).empty());
  ASSERT_EQ(recorder->outputs.size(), 3u);  // a prediction writer still gets every batch
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::allclose(torch::cat(recorder->outputs), m.layer->forward(x)));
}

TEST(Predict, PrecisionAppliesWithoutAnEarlierFit) {
  TempDir dir;
  auto [x, y] = regression_data(6);
  TracingModule m;
  std::vector<std::string> trace;
  m.trace = &trace;
  Trainer trainer(quiet_options(dir.str()).precision("64-true"));
  const auto predictions = trainer.predict(m, DataLoader::from_tensors(x, y, 3));
  ASSERT_EQ(predictions.size(), 2u);
  EXPECT_EQ(predictions[0].scalar_type(), at::kDouble);
  EXPECT_EQ(m.layer->weight.scalar_type(), at::kDouble);
}

TEST(Predict, LimitPredictBatches) {
  TempDir dir;
  auto [x, y] = regression_data(10);
  TracingModule m;
  std::vector<std::string> trace;
  m.trace = &trace;
  Trainer by_count(quiet_options(dir.str()).limit_predict_batches(IntOrFloat(std::int64_t{2})));
  EXPECT_EQ(by_count.predict(m, DataLoader::from_tensors(x, y, 2)).size(), 2u);
  Trainer by_fraction(quiet_options(dir.str()).limit_predict_batches(IntOrFloat(0.6)));
  EXPECT_EQ(by_fraction.predict(m, DataLoader::from_tensors(x, y, 2)).size(), 3u);  // 60% of 5
  Trainer bad(quiet_options(dir.str()).limit_predict_batches(IntOrFloat(1.5)));
  EXPECT_THROW(bad.predict(m, DataLoader::from_tensors(x, y, 2)), lamin::ConfigurationError);
}

TEST(Predict, LoggingAndAMissingPredictStepAreLightningsErrors) {
  TempDir dir;
  auto [x, y] = regression_data(4);
  std::vector<std::string> trace;
  TracingModule logging;
  logging.trace = &trace;
  logging.log_in_predict = true;
  Trainer trainer(quiet_options(dir.str()));
  try {
    trainer.predict(logging, DataLoader::from_tensors(x, y, 2));
    FAIL() << "logging in predict_step did not throw";
  } catch (const lamin::ConfigurationError& e) {
    EXPECT_NE(std::string(e.what()).find("doesn't support logging"), std::string::npos) << e.what();
  }
  EXPECT_EQ(trainer.state(), TrainerFn::none);

  LinearModule plain;  // no predict_step
  try {
    trainer.predict(plain, DataLoader::from_tensors(x, y, 2));
    FAIL() << "a module without predict_step did not throw";
  } catch (const lamin::ConfigurationError& e) {
    EXPECT_NE(std::string(e.what()).find("predict_step"), std::string::npos) << e.what();
  }
  EXPECT_THROW(trainer.predict(plain, DataLoader()), lamin::ConfigurationError);
}

TEST(Predict, AfterFitUsesTheTrainedWeights) {
  TempDir dir;
  auto [x, y] = regression_data(32);
  TracingModule m;
  std::vector<std::string> trace;
  m.trace = &trace;
  Trainer trainer(quiet_options(dir.str()).max_epochs(20));
  trainer.fit(m, DataLoader::from_tensors(x, y, 8));
  const auto predictions = trainer.predict(m, DataLoader::from_tensors(x, y, 8));
  const double mse = torch::mse_loss(torch::cat(predictions), y).item<double>();
  EXPECT_LT(mse, 0.05);  // the fitted line, not the initial weights
}
