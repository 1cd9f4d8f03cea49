#pragma once
// Data for the trainer: a type-erased data loader over `torch::data` loaders or in-memory tensors, and
// Lightning's `LightningDataModule`.

#include <torch/data.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "lamin/pl/batch.hpp"

namespace lamin::pl {

/// A re-iterable source of batches. Each call of `epoch()` starts a new pass.
class DataLoader {
 public:
  /// Pulls the next batch of a pass; nullopt at the end.
  using Cursor = std::function<std::optional<Batch>()>;

  DataLoader() = default;
  DataLoader(std::function<Cursor()> make_cursor, std::optional<std::int64_t> num_batches)
      : make_cursor_(std::move(make_cursor)), num_batches_(num_batches) {}

  /// Wraps a `torch::data` loader whose batches are `torch::data::Example<>` (e.g. a dataset mapped with
  /// `Stack<>()`). `num_batches` is the number of batches per pass when known (needed for fractional limits and
  /// `val_check_interval` fractions).
  template <typename Loader>
  static DataLoader wrap(std::shared_ptr<Loader> loader, std::optional<std::int64_t> num_batches = std::nullopt) {
    return DataLoader(
        [loader]() -> Cursor {
          using Iterator = decltype(loader->begin());
          auto it = std::make_shared<Iterator>(loader->begin());
          return [loader, it]() -> std::optional<Batch> {
            if (*it == loader->end()) return std::nullopt;
            auto&& item = **it;
            Batch batch;
            if constexpr (std::is_same_v<std::decay_t<decltype(item)>, torch::data::TensorExample>) {
              batch = Batch(item.data, at::Tensor());
            } else {
              batch = item;
            }
            ++*it;
            return batch;
          };
        },
        num_batches);
  }

  /// Builds a loader over a `torch::data` dataset of `Example<>`s, stacking `batch_size` examples per batch
  /// (sequential order, or shuffled with a fixed seed when `shuffle`).
  template <typename Dataset>
  static DataLoader from_dataset(Dataset dataset, std::int64_t batch_size, bool shuffle = false,
                                 bool drop_last = false) {
    const auto size = dataset.size();
    std::optional<std::int64_t> n;
    if (size) {
      const auto s = static_cast<std::int64_t>(*size);
      n = drop_last ? s / batch_size : (s + batch_size - 1) / batch_size;
    }
    auto options = torch::data::DataLoaderOptions().batch_size(batch_size).drop_last(drop_last);
    auto mapped = std::move(dataset).map(torch::data::transforms::Stack<typename Dataset::ExampleType>());
    if (shuffle) {
      auto loader = torch::data::make_data_loader<torch::data::samplers::RandomSampler>(std::move(mapped), options);
      return wrap(std::shared_ptr<typename decltype(loader)::element_type>(std::move(loader)), n);
    }
    auto loader = torch::data::make_data_loader<torch::data::samplers::SequentialSampler>(std::move(mapped), options);
    return wrap(std::shared_ptr<typename decltype(loader)::element_type>(std::move(loader)), n);
  }

  /// Batches of rows of `inputs` and `targets` (split along dimension 0), in order. The fastest source: no
  /// copies, no collation.
  static DataLoader from_tensors(at::Tensor inputs, at::Tensor targets, std::int64_t batch_size);

  bool defined() const { return static_cast<bool>(make_cursor_); }
  explicit operator bool() const { return defined(); }
  /// Batches per pass, if known.
  std::optional<std::int64_t> size() const { return num_batches_; }
  /// Starts a pass.
  Cursor epoch() const { return make_cursor_(); }

 private:
  std::function<Cursor()> make_cursor_;
  std::optional<std::int64_t> num_batches_;
};

/// Lightning's `LightningDataModule`: owns the data of a run and hands the trainer its loaders.
class LightningDataModule {
 public:
  virtual ~LightningDataModule() = default;
  virtual void prepare_data() {}
  /// `stage` is "fit", "validate" or "test".
  virtual void setup(const std::string& stage) { (void)stage; }
  virtual void teardown(const std::string& stage) { (void)stage; }
  virtual DataLoader train_dataloader() { return {}; }
  virtual DataLoader val_dataloader() { return {}; }
  virtual DataLoader test_dataloader() { return {}; }

  /// Records hyperparameters (a JSON object), saved into checkpoints as `datamodule_hyper_parameters` and logged.
  void save_hyperparameters(const nlohmann::json& hparams);
  const nlohmann::json& hparams() const { return hparams_; }
  bool has_hparams() const { return !hparams_.is_null(); }

 private:
  nlohmann::json hparams_;
};

}  // namespace lamin::pl
