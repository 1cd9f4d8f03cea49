#pragma once
// lamin-cpp's logging facade.
//
// Messages go to spdlog's logger named "lamin". spdlog is only ever included by the torch-free core library, so that
// code linking LibTorch (whose pip builds ship their own fmt headers) never sees it. A failing sink never throws into
// the caller. Secrets are never passed here.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace lamin::log {

enum class Level { trace = 0, debug, info, warn, error, off };

/// Writes one message. Never throws.
void write(Level level, std::string_view message) noexcept;

inline void trace(std::string_view m) noexcept { write(Level::trace, m); }
inline void debug(std::string_view m) noexcept { write(Level::debug, m); }
inline void info(std::string_view m) noexcept { write(Level::info, m); }
inline void warn(std::string_view m) noexcept { write(Level::warn, m); }
inline void error(std::string_view m) noexcept { write(Level::error, m); }

/// Like warn(), but a given message text is written only once per process (Lightning's `rank_zero_warn` dedupe).
void warn_once(std::string_view message) noexcept;

/// Forgets which messages warn_once() has already written.
void reset_warn_once() noexcept;

/// Sets the level below which messages are dropped. Default: info (or LAMIN_LOG_LEVEL from the environment).
void set_level(Level level) noexcept;
Level level() noexcept;

/// An observer that receives every message at or above the current level, in addition to spdlog's sinks.
using Listener = std::function<void(Level, std::string_view)>;

/// Adds a listener and returns a handle for remove_listener(). Listeners must not call back into the logger.
int add_listener(Listener listener);
void remove_listener(int handle) noexcept;

/// Records every warning written while it lives (for tests and for callers that surface warnings themselves).
class WarningCapture {
 public:
  WarningCapture();
  ~WarningCapture();
  WarningCapture(const WarningCapture&) = delete;
  WarningCapture& operator=(const WarningCapture&) = delete;
  const std::vector<std::string>& messages() const { return messages_; }
  bool contains(std::string_view fragment) const;

 private:
  int handle_;
  std::vector<std::string> messages_;
};

}  // namespace lamin::log
