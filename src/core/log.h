// Formatting front end of jobgate::Logger: the message is formatted only
// when the logger would write it.
#pragma once

#include <utility>

#include <fmt/format.h>

#include "jobgate/logger.h"

namespace jobgate {

template <typename... Args>
void Log(Logger& logger, LogLevel level, fmt::format_string<Args...> format, Args&&... args) {
  if (logger.Enabled(level)) logger.Log(level, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace jobgate
