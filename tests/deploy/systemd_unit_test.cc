// deploy/systemd/jobgate.service against what `jobgate serve` does: a
// notify service with a watchdog well above the loop's poll, stopped through
// serve's graceful path (systemd's SIGKILL only after serve's grace, its own
// SIGKILL of leftover runs and a margin), and hardened only in ways that keep
// setuid programs working for job commands, as the unit's comments promise.
// When systemd-analyze is installed, systemd itself checks the unit.
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <regex>
#include <utility>

#include "deploy/serve_deploy_support.h"
#include "run/exit_codes.h"

namespace jobgate::deploy_test {
namespace {

// ---- the systemd unit ---------------------------------------------------------------------

// An INI-style unit file: section -> key -> every value assigned, in order
// (systemd lets ExecStart= and Environment= repeat).
using Unit = std::map<std::string, std::multimap<std::string, std::string>>;

Unit ParseUnit(const std::string& text) {
  Unit unit;
  std::string section;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && line.back() == '\\') {  // continuation lines
      line.pop_back();
      std::string next;
      if (!std::getline(in, next)) break;
      line += " " + next;
    }
    const size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#' || line[start] == ';') continue;
    if (line[start] == '[') {
      section = line.substr(start + 1, line.find(']') - start - 1);
      continue;
    }
    const size_t eq = line.find('=');
    EXPECT_NE(eq, std::string::npos) << "not key=value: " << line;
    if (eq == std::string::npos) continue;
    auto trim = [](std::string s) {
      s.erase(0, s.find_first_not_of(" \t"));
      s.erase(s.find_last_not_of(" \t") + 1);
      return s;
    };
    unit[section].emplace(trim(line.substr(start, eq - start)), trim(line.substr(eq + 1)));
  }
  return unit;
}

const Unit& ServiceUnit() {
  static const Unit u = ParseUnit(ReadSource("deploy/systemd/jobgate.service"));
  return u;
}

// The single value of Service's `key`; "" when unset, a failure when set twice.
std::string ServiceValue(const std::string& key) {
  const auto& service = ServiceUnit().at("Service");
  EXPECT_LE(service.count(key), 1u) << key << " is set more than once";
  auto it = service.find(key);
  return it == service.end() ? "" : it->second;
}

std::vector<std::string> ServiceValues(const std::string& key) {
  std::vector<std::string> out;
  auto [from, to] = ServiceUnit().at("Service").equal_range(key);
  for (auto it = from; it != to; ++it) out.push_back(it->second);
  return out;
}

std::vector<std::string> UnitExecStart() { return Words(ServiceValue("ExecStart")); }

TEST(SystemdUnit, IsANotifyServiceWithAWatchdogWellAbovePoll) {
  ASSERT_TRUE(ServiceUnit().contains("Service"));
  EXPECT_EQ(ServiceValue("Type"), "notify");
  EXPECT_EQ(ServiceValue("NotifyAccess"), "main");
  const auto argv = UnitExecStart();
  auto poll = FlagValue(argv, "--poll");
  const int64_t poll_ms = poll ? DurationMs(*poll, "--poll") : SchedulerOptions{}.poll_ms;
  // The loop pets the watchdog at least every poll, unless a store call
  // holds it up: a DynamoDB read that times out on every attempt must not
  // look like a hang (a restart would kill the running jobs and fix
  // nothing).
  const DynamoDbUrl dynamodb;
  const int64_t store_call_ms = dynamodb.max_attempts * (dynamodb.timeout_ms + dynamodb.retry_base_ms * 8);
  const int64_t watchdog_ms = DurationMs(ServiceValue("WatchdogSec"), "WatchdogSec");
  EXPECT_GE(watchdog_ms, 10 * poll_ms);
  EXPECT_GT(watchdog_ms, store_call_ms + poll_ms);
  EXPECT_EQ(ServiceValue("Restart"), "on-failure");
  // A usage error (bad flags, a bad store URL) is not worth a restart loop.
  EXPECT_EQ(ServiceValue("RestartPreventExitStatus"), std::to_string(kExitUsage));
}

TEST(SystemdUnit, ExecStartRunsJobgateServe) {
  const auto argv = UnitExecStart();
  ASSERT_FALSE(argv.empty());
  EXPECT_EQ(argv[0].front(), '/') << "systemd wants an absolute path: " << argv[0];
  EXPECT_TRUE(argv[0].ends_with("/jobgate")) << argv[0];
  EXPECT_NE(std::find(argv.begin(), argv.end(), "serve"), argv.end()) << ServiceValue("ExecStart");
}

TEST(SystemdUnit, StopsThroughServesGracefulPath) {
  // SIGTERM to serve alone; systemd's SIGKILL of the cgroup only after serve
  // has had its grace, its own SIGKILL of leftover runs and a margin.
  EXPECT_EQ(ServiceValue("KillMode"), "mixed");
  const std::string signal = ServiceValue("KillSignal");
  EXPECT_TRUE(signal.empty() || signal == "SIGTERM") << signal;
  EXPECT_GT(DurationMs(ServiceValue("TimeoutStopSec"), "TimeoutStopSec"), ServeStopMs(UnitExecStart()) + kStopMarginMs);
}

TEST(SystemdUnit, RunsAsItsOwnUserWithTheStoreInItsStateDirectory) {
  EXPECT_EQ(ServiceValue("User"), "jobgate");
  EXPECT_EQ(ServiceValue("StateDirectory"), "jobgate");
  EXPECT_EQ(ServiceValue("EnvironmentFile"), "-/etc/default/jobgate");
  const auto env = ServiceValues("Environment");
  EXPECT_NE(std::find(env.begin(), env.end(), "JOBGATE_STORE=sqlite:/var/lib/jobgate/jobgate.db"), env.end());
}

TEST(SystemdUnit, KeepsSetuidProgramsWorkingForJobCommands) {
  // Each of these sets no_new_privs for a non-root service (systemd.exec(5),
  // NoNewPrivileges=), and sudo, su or ping inside a job would then fail.
  for (const char* key : {"NoNewPrivileges", "DynamicUser", "LockPersonality", "MemoryDenyWriteExecute",
                          "PrivateDevices", "ProtectClock", "ProtectHostname", "ProtectKernelLogs",
                          "ProtectKernelModules", "ProtectKernelTunables", "RestrictAddressFamilies",
                          "RestrictNamespaces", "RestrictRealtime", "RestrictSUIDSGID", "SystemCallArchitectures",
                          "SystemCallFilter", "SystemCallLog"}) {
    EXPECT_FALSE(ServiceUnit().at("Service").contains(key)) << key;
  }
  EXPECT_EQ(ServiceValue("ProtectSystem"), "full") << "strict would make /var, /srv read-only for jobs";
  EXPECT_EQ(ServiceValue("ProtectHome"), "");
}

// systemd-analyze's output, exit code first, or nullopt when it is not here.
std::optional<std::pair<int, std::string>> SystemdAnalyzeVerify(const std::string& unit_path) {
  if (std::system("command -v systemd-analyze >/dev/null 2>&1") != 0) return std::nullopt;
  FILE* p = popen(("systemd-analyze verify '" + unit_path + "' 2>&1").c_str(), "r");
  if (p == nullptr) return std::nullopt;
  std::string out;
  char buf[512];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = pclose(p);
  return std::make_pair(WIFEXITED(status) ? WEXITSTATUS(status) : -1, out);
}

TEST(SystemdUnit, SystemdAnalyzeVerifyAcceptsIt) {
  // verify also checks that ExecStart's binary exists: point it at this
  // build's jobgate. It reports unknown or malformed settings on its output
  // with exit 0, so any line naming the unit is a failure.
  const std::string dir = testing::TempDir() + "jobgate-unit-verify";
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/jobgate.service";
  std::ofstream(path) << std::regex_replace(ReadSource("deploy/systemd/jobgate.service"),
                                            std::regex("ExecStart=/usr/bin/jobgate"),
                                            std::string("ExecStart=") + JOBGATE_BINARY);
  auto verify = SystemdAnalyzeVerify(path);
  if (!verify) GTEST_SKIP() << "systemd-analyze is not installed";
  EXPECT_EQ(verify->first, 0) << verify->second;
  EXPECT_EQ(verify->second.find("jobgate.service"), std::string::npos) << verify->second;
}

}  // namespace
}  // namespace jobgate::deploy_test
