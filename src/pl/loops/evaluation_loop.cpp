#include "loops/evaluation_loop.hpp"

#include <torch/torch.h>

#include "loops/context.hpp"

namespace lamin::pl::detail {

void EvaluationLoop::setup_data(const DataLoader& loader) {
  const TrainerOptions& o = context_.options;
  max_batches_ = testing() ? limited_batches(loader, o.limit_test_batches(), "test")
                           : limited_batches(loader, o.limit_val_batches(), "val");
}

void EvaluationLoop::run(const DataLoader& loader, std::optional<std::int64_t> max_batches) {
  TrainerContext& c = context_;
  Trainer& t = c.trainer;
  LightningModule& m = *c.module;
  c.in_evaluation = true;
  c.logging.eval_results.clear();
  if (!c.sanity_checking) has_run_ = false;
  ModuleAccess::remember_mode(m);
  if (testing()) {
    c.call_module("on_test_model_eval", [](LightningModule& mod) { mod.on_test_model_eval(); });
  } else {
    c.call_module("on_validation_model_eval", [](LightningModule& mod) { mod.on_validation_model_eval(); });
  }
  {
    torch::NoGradGuard no_grad;
    if (testing()) {
      c.call_callbacks("on_test_start", [&](Callback& cb) { cb.on_test_start(t, m); });
      c.call_module("on_test_start", [](LightningModule& mod) { mod.on_test_start(); });
      c.call_callbacks("on_test_epoch_start", [&](Callback& cb) { cb.on_test_epoch_start(t, m); });
      c.call_module("on_test_epoch_start", [](LightningModule& mod) { mod.on_test_epoch_start(); });
    } else {
      c.call_callbacks("on_validation_start", [&](Callback& cb) { cb.on_validation_start(t, m); });
      c.call_module("on_validation_start", [](LightningModule& mod) { mod.on_validation_start(); });
      c.call_callbacks("on_validation_epoch_start", [&](Callback& cb) { cb.on_validation_epoch_start(t, m); });
      c.call_module("on_validation_epoch_start", [](LightningModule& mod) { mod.on_validation_epoch_start(); });
    }
    run_batches(loader, max_batches.value_or(max_batches_));
    c.logging.epoch_end_reached = true;
    if (testing()) {
      c.call_callbacks("on_test_epoch_end", [&](Callback& cb) { cb.on_test_epoch_end(t, m); });
      c.call_module("on_test_epoch_end", [](LightningModule& mod) { mod.on_test_epoch_end(); });
    } else {
      c.call_callbacks("on_validation_epoch_end", [&](Callback& cb) { cb.on_validation_epoch_end(t, m); });
      c.call_module("on_validation_epoch_end", [](LightningModule& mod) { mod.on_validation_epoch_end(); });
    }
    c.logging.epoch_end_reached = false;
    if (!c.sanity_checking) {
      c.logging.publish_epoch_metrics(c.logging.eval_results);
      c.logging.send_to_loggers(LoggerConnector::epoch_row(c.logging.eval_results), t.batches_that_stepped());
      has_run_ = batch_progress_.current.completed > 0;
    }
    if (testing()) {
      c.call_callbacks("on_test_end", [&](Callback& cb) { cb.on_test_end(t, m); });
      c.call_module("on_test_end", [](LightningModule& mod) { mod.on_test_end(); });
    } else {
      c.call_callbacks("on_validation_end", [&](Callback& cb) { cb.on_validation_end(t, m); });
      c.call_module("on_validation_end", [](LightningModule& mod) { mod.on_validation_end(); });
    }
  }
  if (testing()) {
    c.call_module("on_test_model_train", [](LightningModule& mod) { mod.on_test_model_train(); });
  } else {
    c.call_module("on_validation_model_train", [](LightningModule& mod) { mod.on_validation_model_train(); });
  }
  c.in_evaluation = false;
}

void EvaluationLoop::run_batches(const DataLoader& loader, std::int64_t max_batches) {
  TrainerContext& c = context_;
  Trainer& t = c.trainer;
  LightningModule& m = *c.module;
  batch_progress_.reset_current();
  auto cursor = loader.epoch();
  for (std::int64_t i = 0; i < max_batches; ++i) {
    auto raw = cursor();
    if (!raw) break;
    Batch batch = c.prepare_batch(*raw);
    batch_progress_.increment_ready();
    if (testing()) {
      c.call_callbacks("on_test_batch_start", [&](Callback& cb) { cb.on_test_batch_start(t, m, batch, i); });
      c.call_module("on_test_batch_start", [&](LightningModule& mod) { mod.on_test_batch_start(batch, i); });
    } else {
      c.call_callbacks("on_validation_batch_start",
                       [&](Callback& cb) { cb.on_validation_batch_start(t, m, batch, i); });
      c.call_module("on_validation_batch_start",
                    [&](LightningModule& mod) { mod.on_validation_batch_start(batch, i); });
    }
    batch_progress_.increment_started();
    {
      Precision::Autocast autocast(c.precision, c.strategy->root_device());
      if (testing()) {
        c.call_module("test_step", [&](LightningModule& mod) { mod.test_step(batch, i); });
      } else {
        c.call_module("validation_step", [&](LightningModule& mod) { mod.validation_step(batch, i); });
      }
    }
    batch_progress_.increment_processed();
    if (testing()) {
      c.call_callbacks("on_test_batch_end", [&](Callback& cb) { cb.on_test_batch_end(t, m, at::Tensor(), batch, i); });
      c.call_module("on_test_batch_end", [&](LightningModule& mod) { mod.on_test_batch_end(batch, i); });
    } else {
      c.call_callbacks("on_validation_batch_end",
                       [&](Callback& cb) { cb.on_validation_batch_end(t, m, at::Tensor(), batch, i); });
      c.call_module("on_validation_batch_end", [&](LightningModule& mod) { mod.on_validation_batch_end(batch, i); });
    }
    batch_progress_.increment_completed();
  }
}

void PredictionLoop::setup_data(const DataLoader& loader) {
  max_batches_ = limited_batches(loader, context_.options.limit_predict_batches(), "predict");
}

std::vector<at::Tensor> PredictionLoop::run(const DataLoader& loader, bool return_predictions) {
  TrainerContext& c = context_;
  Trainer& t = c.trainer;
  LightningModule& m = *c.module;
  std::vector<at::Tensor> predictions;
  c.in_evaluation = true;
  c.call_module("on_predict_model_eval", [](LightningModule& mod) { mod.on_predict_model_eval(); });
  m.zero_grad();
  torch::NoGradGuard no_grad;
  c.call_callbacks("on_predict_start", [&](Callback& cb) { cb.on_predict_start(t, m); });
  c.call_module("on_predict_start", [](LightningModule& mod) { mod.on_predict_start(); });
  c.call_callbacks("on_predict_epoch_start", [&](Callback& cb) { cb.on_predict_epoch_start(t, m); });
  c.call_module("on_predict_epoch_start", [](LightningModule& mod) { mod.on_predict_epoch_start(); });
  auto cursor = loader.epoch();
  for (std::int64_t i = 0; i < max_batches_; ++i) {
    auto raw = cursor();
    if (!raw) break;
    Batch batch = c.prepare_batch(*raw);
    c.call_callbacks("on_predict_batch_start", [&](Callback& cb) { cb.on_predict_batch_start(t, m, batch, i); });
    c.call_module("on_predict_batch_start", [&](LightningModule& mod) { mod.on_predict_batch_start(batch, i); });
    at::Tensor out;
    {
      Precision::Autocast autocast(c.precision, c.strategy->root_device());
      c.call_module("predict_step", [&](LightningModule& mod) { out = mod.predict_step(batch, i); });
    }
    c.call_callbacks("on_predict_batch_end", [&](Callback& cb) { cb.on_predict_batch_end(t, m, out, batch, i); });
    c.call_module("on_predict_batch_end", [&](LightningModule& mod) { mod.on_predict_batch_end(out, batch, i); });
    if (return_predictions) predictions.push_back(out.defined() ? out.cpu() : out);
  }
  c.call_callbacks("on_predict_epoch_end", [&](Callback& cb) { cb.on_predict_epoch_end(t, m); });
  c.call_module("on_predict_epoch_end", [](LightningModule& mod) { mod.on_predict_epoch_end(); });
  c.call_callbacks("on_predict_end", [&](Callback& cb) { cb.on_predict_end(t, m); });
  c.call_module("on_predict_end", [](LightningModule& mod) { mod.on_predict_end(); });
  return predictions;
}

}  // namespace lamin::pl::detail
