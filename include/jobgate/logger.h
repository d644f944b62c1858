// Where library code reports what a person may want to know (a retry, a
// table being created, a record that could not be written). Passed in
// options, as LevelDB's Options carry `Logger* info_log`: no library code
// reaches for a global logger. The CLI plugs its text or JSON log in.
#pragma once

#include <string_view>

namespace jobgate {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

// Implementations must be thread-safe.
class Logger {
 public:
  virtual ~Logger() = default;
  // Whether a message at `level` would be written (so callers skip the
  // formatting of one that would not).
  virtual bool Enabled(LogLevel level) const = 0;
  virtual void Log(LogLevel level, std::string_view message) = 0;
};

// Writes warnings and errors to stderr, "jobgate: warn: ...": the default
// of library users who pass none. Thread-safe; never destroyed.
Logger& DefaultLogger();

}  // namespace jobgate
