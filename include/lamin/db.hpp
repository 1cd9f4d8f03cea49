#pragma once
// lamin-cpp's registry: LaminDB's data model in C++ (no LibTorch needed).

#include "lamin/db/artifact.hpp"
#include "lamin/db/describe.hpp"
#include "lamin/db/feature.hpp"
#include "lamin/db/hash.hpp"
#include "lamin/db/instance.hpp"
#include "lamin/db/key.hpp"
#include "lamin/db/lineage.hpp"
#include "lamin/db/query.hpp"
#include "lamin/db/registry.hpp"
#include "lamin/db/run.hpp"
#include "lamin/db/storage.hpp"
#include "lamin/db/track.hpp"
#include "lamin/db/transform.hpp"
#include "lamin/db/uid.hpp"
#include "lamin/db/value.hpp"
#include "lamin/error.hpp"
