#include "lamin/pl/metrics.hpp"

#include "lamin/error.hpp"

namespace lamin::pl {

const Scalar& MetricMap::at(const std::string& name) const {
  if (const Scalar* v = find(name)) return *v;
  throw NotFoundError("no metric named '" + name + "'");
}

}  // namespace lamin::pl
