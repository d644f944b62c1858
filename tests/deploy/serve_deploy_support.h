// Shared by the tests of the ways `jobgate serve` ships
// (systemd_unit_test.cc, kubernetes_test.cc): reading the source tree, and
// what serve does on SIGTERM, from its command line and SchedulerOptions'
// defaults, so that a supervisor's timeouts are checked against the code.
#pragma once

#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/duration.h"
#include "scheduler/scheduler.h"
#include "store/dynamodb_store.h"

namespace jobgate::deploy_test {

// Room for the last commits after serve's SIGKILL of leftover runs.
constexpr int64_t kStopMarginMs = 10'000;

inline std::string SourcePath(const std::string& relative) { return std::string(JOBGATE_SOURCE_DIR) + "/" + relative; }

inline std::string ReadSource(const std::string& relative) {
  std::ifstream in(SourcePath(relative));
  EXPECT_TRUE(in.good()) << "cannot read " << relative;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline int64_t DurationMs(const std::string& text, const std::string& what) {
  auto ms = ParseDurationMs(text, what);
  EXPECT_TRUE(ms.ok()) << what << ": " << ms.status().message();
  return ms.ok() ? *ms : 0;
}

// The value of `flag` in a serve command line, or nullopt.
inline std::optional<std::string> FlagValue(const std::vector<std::string>& argv, const std::string& flag) {
  for (size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == flag) return argv[i + 1];
  }
  return std::nullopt;
}

// What serve does on SIGTERM, from its command line: its --grace (or the
// default), then SchedulerOptions::kill_after_ms until it SIGKILLs the rest.
inline int64_t ServeStopMs(const std::vector<std::string>& argv) {
  const SchedulerOptions defaults;
  auto grace = FlagValue(argv, "--grace");
  return (grace ? DurationMs(*grace, "--grace") : defaults.grace_ms) + defaults.kill_after_ms;
}

inline std::vector<std::string> Words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// A store several hosts can share: never SQLite (one host's file) nor
// memory (one process), and a URL the store's own parser accepts.
inline void ExpectSharedStore(const std::string& url) {
  EXPECT_FALSE(url.starts_with("sqlite:")) << url << ": SQLite is one host's file";
  EXPECT_FALSE(url.starts_with("memory:")) << url;
  if (url.starts_with("dynamodb://")) {
    auto parsed = ParseDynamoDbUrl(url);
    EXPECT_TRUE(parsed.ok()) << parsed.status().message();
  } else {
    EXPECT_TRUE(url.starts_with("postgres://") || url.starts_with("postgresql://")) << url;
  }
}

}  // namespace jobgate::deploy_test
