#include "lamin/pl/trainer.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "core/python.hpp"
#include "lamin/error.hpp"
#include "lamin/log.hpp"
#include "lamin/pl/checkpoint_io.hpp"
#include "lamin/pl/early_stopping.hpp"
#include "lamin/pl/model_checkpoint.hpp"
#include "lamin/pl/progress_bar.hpp"
#include "lamin/pl/tensorboard_logger.hpp"
#include "lamin/pl/timer.hpp"
#include "checkpoint_connector.hpp"
#include "loops/context.hpp"
#include "loops/evaluation_loop.hpp"
#include "loops/fit_loop.hpp"

namespace fs = std::filesystem;

namespace lamin::pl {

// The trainer is a facade: the loops own their progress, the context what they share.
struct Trainer::Impl {
  Impl(Trainer& trainer, TrainerOptions options)
      : context(trainer, std::move(options)),
        fit_loop(context),
        validate_loop(context, detail::EvaluationLoop::Stage::validation),
        test_loop(context, detail::EvaluationLoop::Stage::test),
        predict_loop(context) {}

  detail::TrainerContext context;
  detail::FitLoop fit_loop;
  detail::EvaluationLoop validate_loop;
  detail::EvaluationLoop test_loop;
  detail::PredictionLoop predict_loop;

  void attach(LightningModule& module, TrainerFn fn);
  void configure_callbacks();
  void configure_optimizers();
  void log_hyperparameters();
  void run_fit(const DataLoader& train, const DataLoader& val, const std::optional<std::string>& ckpt_path);
  void fail_fit(const std::exception& error);

  /// The frame validate / test / predict share: attach the module with its precision and device, `prepare` (data
  /// sizes), the stage's setup hooks, `body`, its teardown hooks; on failure every callback's on_exception.
  template <typename Prepare, typename Body>
  auto run_stage(LightningModule& module, TrainerFn fn, const std::string& stage, Prepare&& prepare, Body&& body)
      -> decltype(body());
};

void Trainer::Impl::attach(LightningModule& module, TrainerFn fn) {
  detail::TrainerContext& c = context;
  c.precision.configure(c.options.precision(), c.strategy->root_device());
  c.module = &module;
  detail::ModuleAccess::attach(module, &c.trainer);
  c.fn = fn;
}

template <typename Prepare, typename Body>
auto Trainer::Impl::run_stage(LightningModule& module, TrainerFn fn, const std::string& stage, Prepare&& prepare,
                              Body&& body) -> decltype(body()) {
  detail::TrainerContext& c = context;
  attach(module, fn);
  try {
    c.strategy->model_to_device(module);
    c.precision.convert_module(module);
    prepare();
    for (auto& cb : c.callbacks) cb->setup(c.trainer, module, stage);
    module.setup(stage);
    auto result = body();
    c.in_evaluation = false;
    for (auto& cb : c.callbacks) cb->teardown(c.trainer, module, stage);
    module.teardown(stage);
    c.fn = TrainerFn::none;
    return result;
  } catch (const std::exception& e) {
    c.in_evaluation = false;
    for (auto& cb : c.callbacks) cb->on_exception(c.trainer, module, e);
    c.fn = TrainerFn::none;
    throw;
  }
}

// The user's callbacks, then the defaults (ModelCheckpoint, a Timer for max_time, the progress bar), with every
// Checkpoint moved to the end, as Lightning's callback connector orders them.
void Trainer::Impl::configure_callbacks() {
  detail::TrainerContext& c = context;
  const TrainerOptions& o = c.options;
  c.callbacks = o.callbacks();
  auto has = [&](auto* type_tag) {
    using T = std::remove_pointer_t<decltype(type_tag)>;
    return std::any_of(c.callbacks.begin(), c.callbacks.end(),
                       [](const std::shared_ptr<Callback>& cb) { return dynamic_cast<T*>(cb.get()) != nullptr; });
  };
  for (auto& cb : c.callbacks)
    if (!cb) throw ConfigurationError("callbacks must not contain null pointers");
  const bool has_checkpoint = has(static_cast<ModelCheckpoint*>(nullptr));
  if (!o.enable_checkpointing() && has_checkpoint) {
    throw ConfigurationError("Trainer was configured with `enable_checkpointing=False` but found `ModelCheckpoint` "
                             "in callbacks list.");
  }
  if (o.enable_checkpointing() && !has_checkpoint) c.callbacks.push_back(std::make_shared<ModelCheckpoint>());
  if (o.max_time()) {
    if (has(static_cast<Timer*>(nullptr))) {
      lamin::log::info("Ignoring `Trainer(max_time=...)`, callbacks list already contains a Timer.");
    } else {
      c.callbacks.push_back(std::make_shared<Timer>(*o.max_time(), "step"));
    }
  }
  if (o.enable_progress_bar() && !has(static_cast<ProgressBar*>(nullptr))) {
    c.callbacks.push_back(std::make_shared<ProgressBar>());
  }
  std::stable_partition(c.callbacks.begin(), c.callbacks.end(), [](const std::shared_ptr<Callback>& cb) {
    return dynamic_cast<Checkpoint*>(cb.get()) == nullptr;
  });
}

Trainer::Trainer(TrainerOptions options) : impl_(std::make_unique<Impl>(*this, std::move(options))) {
  detail::TrainerContext& c = impl_->context;
  const ProcessRanks ranks = ProcessRanks::from_environment();
  detail::validate_options(c.options);
  c.strategy = c.options.strategy();
  if (!c.strategy) c.strategy = std::make_shared<SingleDeviceStrategy>(detail::accelerator_device(c.options), ranks);
  if (c.options.fast_dev_run() == 0) {
    if (c.options.default_logger()) {
      c.loggers.push_back(std::make_shared<TensorBoardLogger>(default_root_dir()));
    } else {
      c.loggers = c.options.loggers();
    }
  }
  impl_->configure_callbacks();
}

Trainer::~Trainer() = default;

// ---- accessors ------------------------------------------------------------------------------------------------

std::int64_t Trainer::current_epoch() const { return impl_->fit_loop.current_epoch(); }
std::int64_t Trainer::global_step() const { return impl_->fit_loop.epoch_loop().global_step(); }
const MetricMap& Trainer::callback_metrics() const { return impl_->context.callback_metrics; }
const MetricMap& Trainer::logged_metrics() const { return impl_->context.logged_metrics; }
const MetricMap& Trainer::progress_bar_metrics() const { return impl_->context.progress_bar_metrics; }
Strategy& Trainer::strategy() const { return *impl_->context.strategy; }
const std::vector<std::shared_ptr<Logger>>& Trainer::loggers() const { return impl_->context.loggers; }
const std::vector<std::shared_ptr<Callback>>& Trainer::callbacks() const { return impl_->context.callbacks; }
bool Trainer::should_stop() const { return impl_->context.should_stop; }
void Trainer::set_should_stop(bool stop) { impl_->context.should_stop = stop; }
bool Trainer::sanity_checking() const { return impl_->context.sanity_checking; }
TrainerFn Trainer::state() const { return impl_->context.fn; }
bool Trainer::training() const { return impl_->context.fn == TrainerFn::fitting && !impl_->context.in_evaluation; }
const TrainerOptions& Trainer::options() const { return impl_->context.options; }
TrainerOptions& Trainer::mutable_options() { return impl_->context.options; }
std::int64_t Trainer::max_epochs() const { return impl_->fit_loop.max_epochs(); }
const std::optional<std::string>& Trainer::ckpt_path() const { return impl_->context.ckpt_path; }
const std::vector<std::shared_ptr<torch::optim::Optimizer>>& Trainer::optimizers() const {
  return impl_->context.optimizers;
}
const std::vector<SchedulerConfig>& Trainer::lr_scheduler_configs() const { return impl_->context.schedulers; }
LightningModule* Trainer::lightning_module() const { return impl_->context.module; }
LightningDataModule* Trainer::datamodule() const { return impl_->context.datamodule; }
std::int64_t Trainer::num_training_batches() const { return impl_->fit_loop.epoch_loop().num_training_batches(); }
std::int64_t Trainer::num_val_batches() const {
  const bool own_pass = impl_->context.fn == TrainerFn::validating;
  return own_pass ? impl_->validate_loop.max_batches() : impl_->fit_loop.val_loop().max_batches();
}
std::int64_t Trainer::val_check_batch() const { return impl_->fit_loop.epoch_loop().val_check_batch(); }
bool Trainer::enable_validation() const { return impl_->fit_loop.epoch_loop().enable_validation(); }
bool Trainer::is_last_batch() const { return impl_->fit_loop.epoch_loop().is_last_batch(); }
bool Trainer::validation_has_run() const {
  const bool own_pass = impl_->context.fn == TrainerFn::validating;
  return own_pass ? impl_->validate_loop.has_run() : impl_->fit_loop.val_loop().has_run();
}
std::int64_t Trainer::batches_that_stepped() const { return impl_->fit_loop.epoch_loop().batches_that_stepped(); }
std::int64_t Trainer::batch_idx() const { return impl_->fit_loop.epoch_loop().batch_idx(); }

std::string Trainer::default_root_dir() const {
  const std::string& dir = options().default_root_dir();
  if (dir.empty()) return fs::current_path().string();
  // Lightning: os.path.normpath(os.path.expanduser(default_root_dir)).
  return lamin::detail::python_normpath(lamin::detail::python_expanduser(dir));
}

std::string Trainer::log_dir() const {
  if (!loggers().empty()) {
    auto& first = loggers().front();
    if (auto dir = first->log_dir()) return *dir;
    if (auto dir = first->save_dir()) return *dir;
  }
  return default_root_dir();
}

ModelCheckpoint* Trainer::checkpoint_callback() const {
  auto all = checkpoint_callbacks();
  return all.empty() ? nullptr : all.front();
}

std::vector<ModelCheckpoint*> Trainer::checkpoint_callbacks() const {
  std::vector<ModelCheckpoint*> out;
  for (auto& cb : callbacks())
    if (auto* mc = dynamic_cast<ModelCheckpoint*>(cb.get())) out.push_back(mc);
  return out;
}

EarlyStopping* Trainer::early_stopping_callback() const {
  for (auto& cb : callbacks())
    if (auto* es = dynamic_cast<EarlyStopping*>(cb.get())) return es;
  return nullptr;
}

void Trainer::log_from_module(const std::string& name, double value, const LogOptions& options) {
  if (impl_->context.fn == TrainerFn::predicting) {
    throw ConfigurationError(
        "You are trying to `self.log()` but the loop's result collection is not registered yet. This is most likely "
        "because you are trying to log in a `predict` hook, but it doesn't support logging");
  }
  impl_->context.logging.log(name, value, options);
}

// ---- fit ------------------------------------------------------------------------------------------------------

void Trainer::fit(LightningModule& module, LightningDataModule& datamodule, std::optional<std::string> ckpt_path) {
  impl_->context.datamodule = &datamodule;
  datamodule.prepare_data();
  datamodule.setup("fit");
  DataLoader train = datamodule.train_dataloader();
  DataLoader val = datamodule.val_dataloader();
  fit(module, std::move(train), std::move(val), std::move(ckpt_path));
}

void Trainer::fit(LightningModule& module, DataLoader train, DataLoader val, std::optional<std::string> ckpt_path) {
  if (!train) throw ConfigurationError("`Trainer.fit` needs a train dataloader");
  detail::TrainerContext& c = impl_->context;
  c.should_stop = false;
  c.callback_metrics.clear();
  c.progress_bar_metrics.clear();
  c.ckpt_path.reset();
  if (c.options.seed()) torch::manual_seed(*c.options.seed());
  impl_->attach(module, TrainerFn::fitting);
  try {
    impl_->run_fit(train, val, ckpt_path);
  } catch (const std::exception& e) {
    impl_->fail_fit(e);
    throw;
  }
  c.fn = TrainerFn::none;
}

// The order of Lightning's Trainer._run: loggers, setup, weights and callback states, optimizers, on_fit_start,
// hyperparameters, the optimizer and loop states, the loop, on_fit_end, teardown.
void Trainer::Impl::run_fit(const DataLoader& train, const DataLoader& val,
                            const std::optional<std::string>& ckpt_path) {
  detail::TrainerContext& c = context;
  Trainer& t = c.trainer;
  LightningModule& module = *c.module;
  fit_loop.setup_data(train, val);
  if (c.strategy->is_global_zero())
    for (auto& logger : c.loggers) logger->init_experiment();
  for (auto& cb : c.callbacks) cb->setup(t, module, "fit");
  module.setup("fit");
  c.strategy->model_to_device(module);
  c.precision.convert_module(module);
  std::optional<CheckpointDict> resume;
  c.kept_callback_states = c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get());
  if (ckpt_path) {
    c.ckpt_path = detail::resolve_ckpt_path(t, *ckpt_path);
    resume = load_checkpoint_file(*c.ckpt_path);
    c.kept_callback_states = detail::restore_model_and_callbacks(t, *resume);
  }
  configure_optimizers();
  c.call_callbacks("on_fit_start", [&](Callback& cb) { cb.on_fit_start(t, module); });
  c.call_module("on_fit_start", [](LightningModule& m) { m.on_fit_start(); });
  log_hyperparameters();
  if (resume) detail::restore_training_state(t, *resume, fit_loop, c.precision.grad_scaler());
  fit_loop.run(train, val);
  c.call_callbacks("on_fit_end", [&](Callback& cb) { cb.on_fit_end(t, module); });
  c.call_module("on_fit_end", [](LightningModule& m) { m.on_fit_end(); });
  for (auto& cb : c.callbacks) cb->teardown(t, module, "fit");
  module.teardown("fit");
  if (c.datamodule) c.datamodule->teardown("fit");
  if (c.strategy->is_global_zero())
    for (auto& logger : c.loggers) logger->finalize("success");
}

void Trainer::Impl::fail_fit(const std::exception& error) {
  detail::TrainerContext& c = context;
  try {
    for (auto& cb : c.callbacks) cb->on_exception(c.trainer, *c.module, error);
  } catch (...) {
    c.fn = TrainerFn::none;
    throw;
  }
  if (c.strategy->is_global_zero()) {
    for (auto& logger : c.loggers) {
      try {
        logger->finalize("failed");
      } catch (...) {
        // The training error is the one to report.
      }
    }
  }
  c.fn = TrainerFn::none;
}

void Trainer::Impl::configure_optimizers() {
  detail::TrainerContext& c = context;
  c.current_fx = "configure_optimizers";
  OptimizerConfig config = c.module->configure_optimizers();
  if (config.optimizers.empty()) throw ConfigurationError("`configure_optimizers` must return at least one optimizer");
  c.optimizers = std::move(config.optimizers);
  c.schedulers = std::move(config.schedulers);
  for (auto& s : c.schedulers) {
    if (!s.scheduler) throw ConfigurationError("a scheduler config has no scheduler");
    if (s.interval != "epoch" && s.interval != "step") {
      throw ConfigurationError("The \"interval\" key in lr scheduler dict must be \"step\" or \"epoch\" but is \"" +
                               s.interval + "\"");
    }
    if (s.scheduler->is_plateau() && s.monitor.empty()) {
      throw ConfigurationError("The lr scheduler dict must include a monitor when a `ReduceLROnPlateau` scheduler "
                               "is used. For example: {\"optimizer\": optimizer, \"lr_scheduler\": {\"scheduler\": "
                               "scheduler, \"monitor\": \"your_loss\"}}");
    }
  }
}

void Trainer::Impl::log_hyperparameters() {
  detail::TrainerContext& c = context;
  LightningModule& module = *c.module;
  const bool datamodule_hparams = c.datamodule && c.datamodule->has_hparams();
  if (!c.strategy->is_global_zero() || c.options.fast_dev_run() != 0) return;
  if (!module.has_hparams() && !datamodule_hparams) return;
  nlohmann::json hp = module.has_hparams() ? module.hparams() : nlohmann::json::object();
  if (datamodule_hparams) hp.update(c.datamodule->hparams());
  for (auto& logger : c.loggers) {
    logger->log_hyperparams(hp);
    logger->save();
  }
}

// ---- validate / test / predict --------------------------------------------------------------------------------

MetricMap Trainer::validate(LightningModule& module, DataLoader val_dataloader) {
  if (!val_dataloader) throw ConfigurationError("`Trainer.validate` needs a val dataloader");
  Impl& im = *impl_;
  return im.run_stage(
      module, TrainerFn::validating, "validate", [&] { im.validate_loop.setup_data(val_dataloader); },
      [&] {
        im.validate_loop.run(val_dataloader);
        return detail::LoggerConnector::epoch_map(im.context.logging.eval_results);
      });
}

MetricMap Trainer::test(LightningModule& module, DataLoader test_dataloader) {
  if (!test_dataloader) throw ConfigurationError("`Trainer.test` needs a test dataloader");
  Impl& im = *impl_;
  return im.run_stage(
      module, TrainerFn::testing, "test", [&] { im.test_loop.setup_data(test_dataloader); },
      [&] {
        im.test_loop.run(test_dataloader);
        return detail::LoggerConnector::epoch_map(im.context.logging.eval_results);
      });
}

std::vector<at::Tensor> Trainer::predict(LightningModule& module, DataLoader predict_dataloader,
                                         bool return_predictions) {
  if (!predict_dataloader) throw ConfigurationError("`Trainer.predict` needs a predict dataloader");
  Impl& im = *impl_;
  return im.run_stage(
      module, TrainerFn::predicting, "predict", [&] { im.predict_loop.setup_data(predict_dataloader); },
      [&] { return im.predict_loop.run(predict_dataloader, return_predictions); });
}

void Trainer::save_checkpoint(const std::string& path, bool weights_only) {
  detail::TrainerContext& c = impl_->context;
  if (c.module == nullptr) {
    throw ConfigurationError("Saving a checkpoint is only possible if a model is attached to the Trainer.");
  }
  CheckpointDict ckpt =
      detail::dump_checkpoint(*this, weights_only, impl_->fit_loop.state_dict(), c.precision.grad_scaler(),
                              &c.kept_callback_states);
  if (c.strategy->is_global_zero()) save_checkpoint_file(ckpt, path);
  c.strategy->barrier("Trainer.save_checkpoint");
}

}  // namespace lamin::pl
