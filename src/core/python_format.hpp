#pragma once
#include "python.hpp"
