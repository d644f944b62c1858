// The server restarted (pg_ctl restart -m fast) under a running job: every
// connection is cut, the heartbeat's included. The run either keeps its
// lease once the server is back or loses it and stops its workload; either
// way no second invocation may run the command while the first still does,
// and the counters add up. Restarting the one server that every PostgreSQL
// test shares, this test runs alone (RUN_SERIAL in tests/CMakeLists.txt).
#include <gtest/gtest.h>

#include <climits>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "postgres/postgres_harness.h"

namespace jobgate::postgres_test {
namespace {

using namespace std::chrono_literals;

class PostgresRestart : public PostgresTest {
 protected:
  // `scripts/postgres.sh COMMAND`. It finds the server by
  // JOBGATE_POSTGRES_DIR, which `postgres.sh env` exports;
  // JOBGATE_TEST_POSTGRES_DIR names the same.
  Proc Server(const std::string& command, std::chrono::milliseconds* took = nullptr) {
    EnvChanges env;
    const char* dir = std::getenv("JOBGATE_POSTGRES_DIR");
    const char* test_dir = std::getenv("JOBGATE_TEST_POSTGRES_DIR");
    if ((dir == nullptr || *dir == '\0') && test_dir != nullptr) {
      env.push_back(std::string("JOBGATE_POSTGRES_DIR=") + test_dir);
    }
    return Run({"bash", std::string(JOBGATE_SOURCE_DIR) + "/scripts/postgres.sh", command}, env, took);
  }
};

// Appends "start NANOS RUN_ID" when it starts and "end NANOS RUN_ID" when it
// ends, normally or on the SIGTERM jobgate sends when the lease is lost.
std::string Workload(const std::string& file, int seconds) {
  const std::string stamp = "$(date +%s%N) $JOBGATE_RUN_ID";
  return "trap 'echo \"end " + stamp + "\" >> " + file + "; exit 143' TERM; echo \"start " + stamp + "\" >> " + file +
         "; sleep " + std::to_string(seconds) + "; echo \"end " + stamp + "\" >> " + file;
}

// No two runs in `log` (Workload's lines) overlap, and each started once. A
// run with no end line counts as never ended.
::testing::AssertionResult NoOverlappingRuns(const std::string& log, int* runs) {
  struct Span {
    long long start = -1, end = -1;
  };
  std::map<std::string, Span> spans;
  std::istringstream lines(log);
  for (std::string what, id; lines >> what;) {
    long long t = 0;
    lines >> t >> id;
    Span& s = spans[id];
    if (what == "start") {
      if (s.start >= 0) return ::testing::AssertionFailure() << "run " << id << " started twice in\n" << log;
      s.start = t;
    } else {
      s.end = t;
    }
  }
  *runs = static_cast<int>(spans.size());
  for (auto a = spans.begin(); a != spans.end(); ++a) {
    for (auto b = std::next(a); b != spans.end(); ++b) {
      const long long a_end = a->second.end < 0 ? LLONG_MAX : a->second.end;
      const long long b_end = b->second.end < 0 ? LLONG_MAX : b->second.end;
      if (a->second.start < b_end && b->second.start < a_end) {
        return ::testing::AssertionFailure() << "runs " << a->first << " and " << b->first << " overlap in\n" << log;
      }
    }
  }
  return ::testing::AssertionSuccess();
}

TEST_F(PostgresRestart, ServerRestartedUnderARunningJob) {
  Proc init = Jobgate({"init"});
  ASSERT_EQ(init.exit_code, 0) << init.out << init.err;
  const std::string log = Path("runs.log");

  // A lease of 3 s, renewed every second by the heartbeat, for a 6 s run.
  Child holder =
      StartJobgate({"run", "phoenix", "--lease", "3s", "--json", "--", "sh", "-c", Workload(log, 6)}, "holder");
  ASSERT_TRUE(WaitForLines(log, 1, 30s)) << holder.Describe();
  std::this_thread::sleep_for(1s);

  std::chrono::milliseconds took{};
  Proc restart = Server("restart", &took);
  ASSERT_EQ(restart.exit_code, 0) << restart.out << restart.err;
  std::cout << "[          ] postgres.sh restart took " << took.count() << " ms\n";

  // Started after the restart, while the first run goes on (or has just
  // lost its lease): it must not run alongside.
  Child second =
      StartJobgate({"run", "phoenix", "--lease", "3s", "--json", "--", "sh", "-c", Workload(log, 1)}, "second");
  ASSERT_TRUE(second.WaitFor(40s).has_value()) << second.Describe();
  ASSERT_TRUE(holder.WaitFor(40s).has_value()) << holder.Describe();

  const int holder_code = holder.Wait();
  auto held = LastJsonLine(holder.Out());
  ASSERT_FALSE(held.is_discarded()) << holder.Describe();
  if (held["outcome"] == "succeeded") {
    EXPECT_EQ(holder_code, 0) << holder.Describe();
    std::cout << "[          ] the holder kept its lease across the restart\n";
  } else {
    EXPECT_EQ(held["outcome"], "lease_lost") << holder.Describe();
    EXPECT_EQ(holder_code, 75) << holder.Describe();
    std::cout << "[          ] the holder lost its lease: " << held.dump() << "\n";
  }
  EXPECT_EQ(second.Wait(), 0) << second.Describe();
  auto sec = LastJsonLine(second.Out());
  EXPECT_TRUE(sec["outcome"] == "skipped" || sec["outcome"] == "succeeded") << second.Describe();
  if (held["outcome"] == "succeeded") {
    EXPECT_EQ(sec["outcome"], "skipped") << second.Describe();
  }

  // The job works afterwards. After a lost lease, the abandoned run is taken
  // over once its lease and the clock allowance are over.
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  nlohmann::json last;
  for (;;) {
    Proc after = Jobgate({"run", "phoenix", "--lease", "3s", "--json", "--", "sh", "-c", Workload(log, 0)});
    ASSERT_EQ(after.exit_code, 0) << after.out << after.err;
    last = LastJsonLine(after.out);
    if (last["outcome"] != "skipped" || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(500ms);
  }
  EXPECT_EQ(last["outcome"], "succeeded") << last;

  int runs = 0;
  EXPECT_TRUE(NoOverlappingRuns(ReadFile(log), &runs));
  auto s = StateOf("phoenix");
  EXPECT_EQ(s["status"], "IDLE") << s;
  EXPECT_EQ(s["run_count"], runs) << "every acquisition ran its command once: " << s << "\n" << ReadFile(log);
  EXPECT_TRUE(CountersIntact(s));
}

// The server down for longer than the lease: the heartbeat cannot renew it,
// so the holder must stop its workload by itself before its lease ends
// (docs/design.md, "Heartbeat failures"). It then commits the run as a
// failure with exit 75 if the store answers again in time, or exits 69 (the
// result could not be recorded) if not; either way, once the server is back
// the job runs again, never two runs at a time, and the counters add up.
TEST_F(PostgresRestart, ServerDownLongerThanTheLease) {
  Proc init = Jobgate({"init"});
  ASSERT_EQ(init.exit_code, 0) << init.out << init.err;
  const std::string log = Path("runs.log");
  Child holder =
      StartJobgate({"run", "outage", "--lease", "3s", "--json", "--", "sh", "-c", Workload(log, 30)}, "holder");
  ASSERT_TRUE(WaitForLines(log, 1, 30s)) << holder.Describe();
  Proc stop = Server("stop");
  ASSERT_EQ(stop.exit_code, 0) << stop.out << stop.err;
  std::this_thread::sleep_for(6s);  // the lease (3 s) is over
  // The workload has been stopped while the store was down: its end line.
  EXPECT_EQ(CountLines(ReadFile(log)), 2) << "the workload must stop within its lease: " << ReadFile(log);
  Proc start = Server("start");
  ASSERT_EQ(start.exit_code, 0) << start.out << start.err;

  ASSERT_TRUE(holder.WaitFor(45s).has_value()) << holder.Describe();
  const int holder_code = holder.Wait();
  EXPECT_TRUE(holder_code == 75 || holder_code == 69) << holder.Describe();
  std::cout << "[          ] the holder exited " << holder_code << ": " << holder.Out() << "\n";
  if (holder_code == 75) {
    auto held = LastJsonLine(holder.Out());
    EXPECT_TRUE(held["outcome"] == "failed" || held["outcome"] == "lease_lost") << holder.Describe();
  }

  const auto deadline = std::chrono::steady_clock::now() + 20s;
  nlohmann::json last;
  for (;;) {
    Proc after = Jobgate({"run", "outage", "--lease", "3s", "--json", "--", "sh", "-c", Workload(log, 0)});
    ASSERT_EQ(after.exit_code, 0) << after.out << after.err;
    last = LastJsonLine(after.out);
    if (last["outcome"] != "skipped" || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(500ms);
  }
  EXPECT_EQ(last["outcome"], "succeeded") << last;
  int runs = 0;
  EXPECT_TRUE(NoOverlappingRuns(ReadFile(log), &runs));
  EXPECT_EQ(runs, 2) << ReadFile(log);
  auto s = StateOf("outage");
  EXPECT_EQ(s["status"], "IDLE") << s;
  EXPECT_EQ(s["run_count"], 2) << s;
  EXPECT_EQ(s["success_count"], 1) << s;
  // The holder's run: recorded as failed (exit 75), or, unrecorded (69),
  // abandoned when it was taken over.
  EXPECT_EQ(s["failure_count"].get<int64_t>() + s["abandoned_count"].get<int64_t>(), 1) << s;
  EXPECT_TRUE(CountersIntact(s));
}

}  // namespace
}  // namespace jobgate::postgres_test
