#pragma once
// lamin::lightning: the bridge between lamin::pl's trainer and the registry (`namespace ll = lamin::lightning;`).

#include "lamin/lightning/callback.hpp"
#include "lamin/lightning/checkpoint.hpp"
#include "lamin/lightning/events.hpp"
#include "lamin/lightning/features.hpp"
#include "lamin/lightning/publisher.hpp"
#include "lamin/lightning/save_config_callback.hpp"
