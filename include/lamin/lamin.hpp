#pragma once
// lamin-cpp: everything. Or include only the component you use: lamin/db.hpp (the registry, no LibTorch),
// lamin/pl.hpp (the trainer), lamin/lightning.hpp (the bridge).

#include "lamin/error.hpp"
#include "lamin/log.hpp"

#if __has_include("lamin/db.hpp")
#include "lamin/db.hpp"
#endif
#if __has_include("lamin/pl.hpp") && __has_include(<torch/torch.h>)
#include "lamin/pl.hpp"
#endif
#if __has_include("lamin/lightning.hpp") && __has_include(<torch/torch.h>)
#include "lamin/lightning.hpp"
#endif
