#pragma once
// lamin-cpp: everything this build contains. Or include only the component you use: lamin/db.hpp (the registry,
// no LibTorch), lamin/pl.hpp (the trainer), lamin/lightning.hpp (the bridge). In a build without LibTorch
// (LAMIN_WITH_TORCH=OFF) this header is the registry alone; lamin/config.hpp says which.

#include "lamin/config.hpp"
#include "lamin/db.hpp"
#include "lamin/error.hpp"
#include "lamin/log.hpp"

#if LAMIN_WITH_TORCH
#include "lamin/lightning.hpp"
#include "lamin/pl.hpp"
#endif
