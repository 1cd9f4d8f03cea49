#pragma once
// Strategy: where the trainer's module and batches live and how the processes of a training job cooperate
// (Lightning's `Strategy`). One device per process today; a data-parallel strategy fills in the same seams.

#include <string>

#include <c10/core/Device.h>

#include "lamin/pl/batch.hpp"

namespace lamin::pl {

class LightningModule;

/// This process's place in a training job (Lightning's `ClusterEnvironment`).
struct ProcessRanks {
  int global_rank = 0;
  int local_rank = 0;
  int world_size = 1;
  /// RANK, LOCAL_RANK and WORLD_SIZE, as launchers such as torchrun set them (0, 0, 1 when unset). Throws
  /// ConfigurationError for values that are not integers or do not describe a rank inside the world.
  static ProcessRanks from_environment();
};

class Strategy {
 public:
  explicit Strategy(ProcessRanks ranks = {}) : ranks_(ranks) {}
  virtual ~Strategy() = default;
  Strategy(const Strategy&) = delete;
  Strategy& operator=(const Strategy&) = delete;

  /// The device this process trains on.
  virtual c10::Device root_device() const = 0;
  /// Moves the module's parameters and buffers to root_device().
  virtual void model_to_device(LightningModule& module) const;
  /// The batch on root_device().
  virtual Batch batch_to_device(const Batch& batch) const;
  /// Runs after backward on a batch whose optimizers step, before the optimizer hooks see the gradients: where a
  /// data-parallel strategy averages them across processes. Nothing to do for one process.
  virtual void reduce_gradients(LightningModule& module) { (void)module; }
  /// Waits until every process has reached it (`name` says where, for diagnostics). Returns at once for one.
  virtual void barrier(const std::string& name = {}) { (void)name; }
  /// One decision for all processes: true when every process's (`all`) or any process's is. For one process,
  /// its own.
  virtual bool reduce_boolean_decision(bool decision, bool all = true) {
    (void)all;
    return decision;
  }

  int global_rank() const { return ranks_.global_rank; }
  int local_rank() const { return ranks_.local_rank; }
  int world_size() const { return ranks_.world_size; }
  /// Whether this process writes what a job writes once (checkpoints, logs, hparams.yaml).
  bool is_global_zero() const { return ranks_.global_rank == 0; }

 private:
  ProcessRanks ranks_;
};

/// Everything on one device (Lightning's `SingleDeviceStrategy`).
class SingleDeviceStrategy final : public Strategy {
 public:
  explicit SingleDeviceStrategy(c10::Device device, ProcessRanks ranks = {}) : Strategy(ranks), device_(device) {}
  c10::Device root_device() const override { return device_; }

 private:
  c10::Device device_;
};

}  // namespace lamin::pl
