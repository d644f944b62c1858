// Hosts whose clocks are an hour or two off (libfaketime moves the wall
// clock of one jobgate process): leases and cooldowns are decided on the
// server's clock, so a host far ahead neither takes over a live run nor
// skips a cooldown, and its `--json` outcome shows its offset.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "postgres/postgres_harness.h"

namespace jobgate::postgres_test {
namespace {

using namespace std::chrono_literals;

class PostgresClock : public PostgresTest {
 protected:
  void SetUp() override {
    PostgresTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (FakeClock("+1h").empty()) {
      const char* require = std::getenv("JOBGATE_REQUIRE_POSTGRES");
      if (require != nullptr && std::string(require) == "1") FAIL() << "libfaketime is not installed (faketime)";
      GTEST_SKIP() << "libfaketime is not installed (apt-get install faketime)";
    }
    ASSERT_EQ(Jobgate({"init"}).exit_code, 0);
  }
};

// The offset the outcome reports (this host minus the store), near `want`
// ms: the estimate includes a round trip and the store's clock resolution.
void ExpectOffset(const nlohmann::json& outcome, int64_t want) {
  ASSERT_TRUE(outcome.contains("clock_offset_ms")) << "no clock_offset_ms in " << outcome;
  const int64_t got = outcome["clock_offset_ms"].get<int64_t>();
  EXPECT_NEAR(static_cast<double>(got), static_cast<double>(want), 15'000.0) << outcome;
}

TEST_F(PostgresClock, FakeClockWorksOnThisMachine) {
  // The premise of the tests below: libfaketime moves the wall clock of a
  // process it is preloaded into.
  Proc real = Run({"date", "+%s"});
  Proc ahead = Run({"date", "+%s"}, FakeClock("+1h"));
  ASSERT_EQ(real.exit_code, 0);
  ASSERT_EQ(ahead.exit_code, 0) << ahead.err;
  EXPECT_NEAR(std::stod(ahead.out) - std::stod(real.out), 3600.0, 60.0) << real.out << ahead.out;
}

// A run on a true clock, a lease of 2 s renewed by its heartbeat; hosts an
// hour ahead and behind try the job meanwhile. Judged by its own clock, the
// host ahead would see the lease expired an hour ago and take over.
TEST_F(PostgresClock, AHostAnHourOffNeverTakesOverALiveRun) {
  const std::string log = Path("ran");
  Child holder = StartJobgate(
      {"run", "skew", "--lease", "2s", "--json", "--", "sh", "-c", "echo holder >> " + log + "; sleep 4"}, "holder");
  ASSERT_TRUE(WaitForLines(log, 1, 30s)) << holder.Describe();

  for (const auto& [offset, ms] : {std::pair{"+1h", int64_t{3'600'000}}, std::pair{"-1h", int64_t{-3'600'000}}}) {
    SCOPED_TRACE(offset);
    Proc p = Jobgate(
        {"run", "skew", "--lease", "2s", "--json", "--", "sh", "-c", std::string("echo ") + offset + " >> " + log},
        FakeClock(offset));
    EXPECT_EQ(p.exit_code, 0) << p.out << p.err;
    auto j = LastJsonLine(p.out);
    EXPECT_EQ(j["outcome"], "skipped") << p.out << p.err;
    EXPECT_EQ(j["reason"], "running") << p.out;
    ExpectOffset(j, ms);
  }
  ASSERT_TRUE(holder.WaitFor(30s).has_value()) << holder.Describe();
  EXPECT_EQ(holder.Wait(), 0) << holder.Describe();
  EXPECT_EQ(LastJsonLine(holder.Out())["outcome"], "succeeded") << holder.Describe();
  EXPECT_EQ(ReadFile(log), "holder\n");
  auto s = StateOf("skew");
  EXPECT_EQ(s["run_count"], 1) << s;
  EXPECT_EQ(s["abandoned_count"], 0) << s;
  EXPECT_TRUE(CountersIntact(s));
}

// A cooldown of 1 h from the job's definition; after a run on a true clock,
// a host two hours ahead would see the cooldown long over by its own clock.
TEST_F(PostgresClock, AHostTwoHoursAheadStillMeetsTheCooldown) {
  const std::string log = Path("ran");
  const std::string jobs = Path("jobs.toml");
  std::ofstream(jobs) << "[jobs.cool]\ncooldown = \"1h\"\ncommand = [\"sh\", \"-c\", \"echo run >> " << log << "\"]\n";
  Proc apply = Jobgate({"apply", jobs});
  ASSERT_EQ(apply.exit_code, 0) << apply.out << apply.err;

  Proc first = Jobgate({"run", "cool", "--json"});
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  EXPECT_EQ(LastJsonLine(first.out)["outcome"], "succeeded") << first.out;

  for (const auto& [offset, ms] : {std::pair{"+2h", int64_t{7'200'000}}, std::pair{"-1h", int64_t{-3'600'000}}}) {
    SCOPED_TRACE(offset);
    Proc p = Jobgate({"run", "cool", "--json"}, FakeClock(offset));
    EXPECT_EQ(p.exit_code, 0) << p.out << p.err;
    auto j = LastJsonLine(p.out);
    EXPECT_EQ(j["outcome"], "skipped") << p.out << p.err;
    EXPECT_EQ(j["reason"], "cooldown") << p.out;
    ExpectOffset(j, ms);
  }
  EXPECT_EQ(ReadFile(log), "run\n");
  auto s = StateOf("cool");
  EXPECT_EQ(s["run_count"], 1) << s;
  EXPECT_TRUE(CountersIntact(s));
}

}  // namespace
}  // namespace jobgate::postgres_test
