#include "lamin/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

namespace lamin::log {
namespace {

struct State {
  std::mutex mutex;
  std::shared_ptr<spdlog::logger> logger;
  Level level = Level::info;
  std::set<std::string, std::less<>> warned;
  std::vector<std::pair<int, Listener>> listeners;
  int next_handle = 1;
};

Level level_from_env() {
  const char* env = std::getenv("LAMIN_LOG_LEVEL");
  if (env == nullptr) return Level::info;
  const std::string v(env);
  if (v == "trace") return Level::trace;
  if (v == "debug") return Level::debug;
  if (v == "warn" || v == "warning") return Level::warn;
  if (v == "error") return Level::error;
  if (v == "off") return Level::off;
  return Level::info;
}

State& state() {
  static State* s = [] {
    auto* st = new State();  // leaked on purpose: usable from static destructors
    st->level = level_from_env();
    try {
      st->logger = spdlog::get("lamin");
      if (!st->logger) {
        st->logger = spdlog::stderr_color_mt("lamin");
        st->logger->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [lamin] [%^%l%$] %v");
      }
      st->logger->set_level(spdlog::level::trace);
    } catch (...) {
      st->logger.reset();
    }
    return st;
  }();
  return *s;
}

spdlog::level::level_enum to_spdlog(Level l) {
  switch (l) {
    case Level::trace: return spdlog::level::trace;
    case Level::debug: return spdlog::level::debug;
    case Level::info: return spdlog::level::info;
    case Level::warn: return spdlog::level::warn;
    case Level::error: return spdlog::level::err;
    case Level::off: return spdlog::level::off;
  }
  return spdlog::level::info;
}

}  // namespace

void write(Level level, std::string_view message) noexcept {
  try {
    State& s = state();
    std::vector<Listener> listeners;
    {
      std::lock_guard<std::mutex> lock(s.mutex);
      if (level < s.level || level == Level::off) return;
      for (auto& entry : s.listeners) listeners.push_back(entry.second);
    }
    if (s.logger) s.logger->log(to_spdlog(level), "{}", message);
    for (auto& listener : listeners) {
      try {
        listener(level, message);
      } catch (...) {
      }
    }
  } catch (...) {
    // A failing sink never reaches the caller.
  }
}

void warn_once(std::string_view message) noexcept {
  try {
    State& s = state();
    {
      std::lock_guard<std::mutex> lock(s.mutex);
      if (!s.warned.emplace(message).second) return;
    }
    write(Level::warn, message);
  } catch (...) {
  }
}

void reset_warn_once() noexcept {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.warned.clear();
}

void set_level(Level l) noexcept {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.level = l;
}

Level level() noexcept {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  return s.level;
}

int add_listener(Listener listener) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  const int handle = s.next_handle++;
  s.listeners.emplace_back(handle, std::move(listener));
  return handle;
}

void remove_listener(int handle) noexcept {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.listeners.erase(std::remove_if(s.listeners.begin(), s.listeners.end(),
                                   [&](const auto& e) { return e.first == handle; }),
                    s.listeners.end());
}

WarningCapture::WarningCapture() {
  handle_ = add_listener([this](Level l, std::string_view m) {
    if (l == Level::warn) messages_.emplace_back(m);
  });
}

WarningCapture::~WarningCapture() { remove_listener(handle_); }

bool WarningCapture::contains(std::string_view fragment) const {
  return std::any_of(messages_.begin(), messages_.end(),
                     [&](const std::string& m) { return m.find(fragment) != std::string::npos; });
}

}  // namespace lamin::log
