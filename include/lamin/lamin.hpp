#pragma once
// lamin-cpp: everything. Or include only the component you use: lamin/db.hpp (the registry, no LibTorch),
// lamin/pl.hpp (the trainer), lamin/lightning.hpp (the bridge). In a build without LibTorch
// (LAMIN_WITH_TORCH=OFF), this header is the registry alone.

#include "lamin/db.hpp"
#include "lamin/error.hpp"
#include "lamin/log.hpp"

#if __has_include(<torch/torch.h>)
#include "lamin/lightning.hpp"
#include "lamin/pl.hpp"
#endif
