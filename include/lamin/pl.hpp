#pragma once
// lamin::pl: the Lightning-style trainer for LibTorch.

#include "lamin/pl/batch.hpp"
#include "lamin/pl/callback.hpp"
#include "lamin/pl/checkpoint_dict.hpp"
#include "lamin/pl/checkpoint_io.hpp"
#include "lamin/pl/csv_logger.hpp"
#include "lamin/pl/data.hpp"
#include "lamin/pl/early_stopping.hpp"
#include "lamin/pl/logger.hpp"
#include "lamin/pl/metrics.hpp"
#include "lamin/pl/model_checkpoint.hpp"
#include "lamin/pl/module.hpp"
#include "lamin/pl/optim.hpp"
#include "lamin/pl/progress_bar.hpp"
#include "lamin/pl/tensorboard_logger.hpp"
#include "lamin/pl/timer.hpp"
#include "lamin/pl/trainer.hpp"
