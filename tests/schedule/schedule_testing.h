// What the schedule tests share: times written as RFC 3339, shown the same
// way, so a failure prints readable instants.
#pragma once

#include <optional>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/duration.h"
#include "schedule/cron_spec.h"

namespace jobgate {

inline EpochMs T(const std::string& rfc3339) {
  auto ms = ParseTime(rfc3339, "test");
  EXPECT_TRUE(ms.ok()) << rfc3339;
  return ms.ok() ? *ms : 0;
}

inline std::string Show(std::optional<EpochMs> ms) {
  if (!ms) return "never";
  const auto c = schedule::ToCivil(*ms / 1000);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", c.year, c.month, c.day, c.hour, c.minute, c.second);
}

}  // namespace jobgate
