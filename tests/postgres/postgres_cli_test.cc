// The real jobgate binary against a real PostgreSQL 15, directly and through
// PgBouncer in transaction pooling: the schema `init` makes, and many
// processes racing for one job.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "postgres/postgres_harness.h"

namespace jobgate::postgres_test {
namespace {

using namespace std::chrono_literals;

class PostgresCli : public PostgresTest {
 protected:
  // Starts `procs` invocations of job `job` at once against `url`. Their
  // command appends a line to a file, then waits for a barrier file that
  // the test creates only once all the others have exited: whichever runs
  // holds the job until every other invocation has answered, so all of them
  // meet it running (or lose the race to it) however slowly 32 processes
  // start on two cores, and none can start a legitimate second run after the
  // first ended. Expects exactly one run and the others skipped, all exit 0.
  void RaceOnce(const std::string& job, int procs, const std::string& url) {
    const std::string marker = Path(job + ".ran");
    const std::string go = Path(job + ".go");
    const std::string command = "echo x >> " + marker + "; while [ ! -e " + go + " ]; do sleep 0.05; done";
    std::vector<Child> children;
    for (int i = 0; i < procs; ++i) {
      children.push_back(
          StartJobgate({"run", job, "--json", "--", "sh", "-c", command}, job + ".race." + std::to_string(i), {}, url));
    }
    // All but the holder answer; if two ran, only procs - 2 ever would.
    const auto deadline = std::chrono::steady_clock::now() + 45s;
    int exited = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      exited = 0;
      for (auto& c : children) exited += c.Poll().has_value();
      if (exited >= procs - 1) break;
      std::this_thread::sleep_for(20ms);
    }
    EXPECT_EQ(exited, procs - 1) << "invocations that answered while one held the job";
    std::ofstream(go).close();

    int succeeded = 0, skipped = 0;
    std::multiset<std::string> reasons;
    for (auto& c : children) {
      ASSERT_TRUE(c.WaitFor(30s).has_value()) << c.Describe();
      EXPECT_EQ(c.Wait(), 0) << c.Describe();
      auto j = LastJsonLine(c.Out());
      ASSERT_FALSE(j.is_discarded()) << c.Describe();
      succeeded += j["outcome"] == "succeeded";
      if (j["outcome"] == "skipped") {
        ++skipped;
        reasons.insert(j["reason"].is_string() ? j["reason"].get<std::string>() : j["reason"].dump());
      }
    }
    EXPECT_EQ(succeeded, 1);
    EXPECT_EQ(skipped, procs - 1);
    for (const auto& r : reasons) EXPECT_TRUE(r == "running" || r == "lost_race") << "skip reason " << r;
    EXPECT_EQ(ReadFile(marker), "x\n") << "the command must have run exactly once";
  }
};

TEST_F(PostgresCli, InitIsIdempotentAndCreatesTheSchema) {
  Proc init = Jobgate({"init"});
  ASSERT_EQ(init.exit_code, 0) << init.out << init.err;
  Proc schema = Psql("SELECT count(*) FROM pg_namespace WHERE nspname = '" + schema_ + "'");
  ASSERT_EQ(schema.exit_code, 0) << schema.err;
  EXPECT_EQ(schema.out, "1\n") << "init must create schema " << schema_;
  Proc tables = Psql("SELECT count(*) > 0 FROM pg_tables WHERE schemaname = '" + schema_ + "'");
  EXPECT_EQ(tables.out, "t\n") << "no table in schema " << schema_ << tables.err;

  Proc run = Jobgate({"run", "keep", "--json", "--", "true"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_EQ(LastJsonLine(run.out)["outcome"], "succeeded") << run.out;

  Proc again = Jobgate({"init"});
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  auto s = StateOf("keep");
  EXPECT_EQ(s["run_count"], 1) << s;
  EXPECT_EQ(s["success_count"], 1) << s;
  EXPECT_EQ(s["status"], "IDLE") << s;
  EXPECT_TRUE(CountersIntact(s));
}

TEST_F(PostgresCli, ThirtyTwoConcurrentInvocationsRunTheCommandExactlyOnce) {
  Proc init = Jobgate({"init"});
  ASSERT_EQ(init.exit_code, 0) << init.out << init.err;
  RaceOnce("race", 32, StoreUrl());
  auto s = StateOf("race");
  EXPECT_EQ(s["run_count"], 1) << s;
  EXPECT_EQ(s["success_count"], 1) << s;
  EXPECT_EQ(s["status"], "IDLE") << s;
  EXPECT_TRUE(CountersIntact(s));
}

// PgBouncer in transaction pooling hands each transaction whatever server
// connection is free: a backend that keeps session state between its
// transactions (named prepared statements, SET search_path, advisory locks)
// breaks here and nowhere else.
TEST_F(PostgresCli, ThroughPgBouncerInTransactionPooling) {
  const std::string bouncer = BouncerUrl();
  Proc init = Jobgate({"init"}, {}, bouncer);
  ASSERT_EQ(init.exit_code, 0) << init.out << init.err;
  RaceOnce("race", 16, bouncer);
  auto s = StateOf("race", bouncer);
  EXPECT_EQ(s["run_count"], 1) << s;
  EXPECT_EQ(s["status"], "IDLE") << s;
  EXPECT_TRUE(CountersIntact(s));

  // Sequential runs: without a cooldown each one runs; a run with one sets
  // the next allowed start (at its commit), so the one after it is gated; a
  // failure is counted and its exit code passed on.
  const std::string marker = Path("seq.ran");
  auto run_seq = [&](const std::string& cooldown) {
    return Jobgate({"run", "seq", "--cooldown", cooldown, "--json", "--", "sh", "-c", "echo x >> " + marker}, {},
                   bouncer);
  };
  for (const char* cooldown : {"0s", "0s", "0s", "1h"}) {
    Proc run = run_seq(cooldown);
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    EXPECT_EQ(LastJsonLine(run.out)["outcome"], "succeeded") << run.out;
  }
  Proc cool = run_seq("1h");
  ASSERT_EQ(cool.exit_code, 0) << cool.out << cool.err;
  EXPECT_EQ(LastJsonLine(cool.out)["outcome"], "skipped") << cool.out;
  EXPECT_EQ(LastJsonLine(cool.out)["reason"], "cooldown") << cool.out;
  EXPECT_EQ(ReadFile(marker), "x\nx\nx\nx\n");

  Proc failing = Jobgate({"run", "flaky", "--json", "--", "sh", "-c", "exit 3"}, {}, bouncer);
  EXPECT_EQ(failing.exit_code, 3) << failing.out << failing.err;
  EXPECT_EQ(LastJsonLine(failing.out)["outcome"], "failed") << failing.out;

  // What went through PgBouncer reads back the same on the server itself.
  auto seq = StateOf("seq");
  EXPECT_EQ(seq["run_count"], 4) << seq;
  EXPECT_EQ(seq["success_count"], 4) << seq;
  EXPECT_TRUE(CountersIntact(seq));
  auto flaky = StateOf("flaky");
  EXPECT_EQ(flaky["failure_count"], 1) << flaky;
  EXPECT_TRUE(CountersIntact(flaky));
  Proc history = Jobgate({"history", "seq", "--json"}, {}, bouncer);
  EXPECT_EQ(history.exit_code, 0) << history.out << history.err;
}

}  // namespace
}  // namespace jobgate::postgres_test
