#include "jobgate/logger.h"

#include <unistd.h>

#include <string>

namespace jobgate {

namespace {

class StderrLogger final : public Logger {
 public:
  bool Enabled(LogLevel level) const override { return level >= LogLevel::kWarn; }
  void Log(LogLevel level, std::string_view message) override {
    if (!Enabled(level)) return;
    // One write per line, so lines of concurrent threads do not interleave.
    std::string line = level == LogLevel::kError ? "jobgate: error: " : "jobgate: warn: ";
    line.append(message);
    line.push_back('\n');
    (void)!write(STDERR_FILENO, line.data(), line.size());
  }
};

}  // namespace

Logger& DefaultLogger() {
  static StderrLogger* const logger = new StderrLogger();  // immutable; never destroyed (usable at exit)
  return *logger;
}

}  // namespace jobgate
