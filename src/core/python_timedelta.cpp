// Python's `datetime.timedelta`: its repr and str.
#include <cmath>
#include <cstdio>
#include <vector>

#include "python.hpp"

namespace lamin::detail {

namespace {

struct TimedeltaParts {
  std::int64_t days = 0, seconds = 0, microseconds = 0;
};

// datetime.timedelta(seconds=s): rounded to the microsecond (half to even), normalised to 0 <= seconds < 86400
// and 0 <= microseconds < 1e6.
TimedeltaParts timedelta_parts(std::chrono::duration<double> d) {
  const double us = std::nearbyint(d.count() * 1e6);
  auto total = static_cast<std::int64_t>(us);
  const std::int64_t per_day = 86400LL * 1000000LL;
  std::int64_t days = total / per_day;
  std::int64_t rest = total % per_day;
  if (rest < 0) {
    rest += per_day;
    days -= 1;
  }
  return TimedeltaParts{days, rest / 1000000, rest % 1000000};
}

}  // namespace

std::string python_timedelta_repr(std::chrono::duration<double> d) {
  const TimedeltaParts p = timedelta_parts(d);
  std::vector<std::string> fields;
  if (p.days != 0) fields.push_back("days=" + std::to_string(p.days));
  if (p.seconds != 0) fields.push_back("seconds=" + std::to_string(p.seconds));
  if (p.microseconds != 0) fields.push_back("microseconds=" + std::to_string(p.microseconds));
  if (fields.empty()) return "datetime.timedelta(0)";
  std::string out = "datetime.timedelta(";
  for (std::size_t i = 0; i < fields.size(); ++i) out += (i ? ", " : "") + fields[i];
  return out + ")";
}

std::string python_timedelta_str(std::chrono::duration<double> d) {
  const TimedeltaParts p = timedelta_parts(d);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%lld:%02lld:%02lld", static_cast<long long>(p.seconds / 3600),
                static_cast<long long>((p.seconds / 60) % 60), static_cast<long long>(p.seconds % 60));
  std::string out = buffer;
  if (p.microseconds != 0) {
    std::snprintf(buffer, sizeof buffer, ".%06lld", static_cast<long long>(p.microseconds));
    out += buffer;
  }
  if (p.days != 0) {
    out = std::to_string(p.days) + (p.days == 1 || p.days == -1 ? " day, " : " days, ") + out;
  }
  return out;
}

}  // namespace lamin::detail
