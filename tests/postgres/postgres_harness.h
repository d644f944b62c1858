// What the PostgreSQL end-to-end tests share: the real jobgate binary as
// child processes against the server of scripts/postgres.sh (directly and
// through its PgBouncer), psql as an independent client, and a fixture that
// gives each test its own schema. They run when JOBGATE_TEST_POSTGRES_URL is
// set (scripts/test.sh starts the server and sets it) and skip otherwise,
// unless JOBGATE_REQUIRE_POSTGRES=1, where they fail.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/outcome_checks.h"
#include "support/subprocess.h"

namespace jobgate::postgres_test {

// Child processes: tests/support/subprocess.h.
using jobgate::test::Child;
using jobgate::test::EnvChanges;
using jobgate::test::Proc;
using jobgate::test::ReadFile;

// Output and state checks: tests/support/outcome_checks.h.
using jobgate::test::CountersIntact;
using jobgate::test::CountLines;
using jobgate::test::LastJsonLine;
// "HOST:PORT" of a postgres://USER@HOST:PORT/DB URL.
std::string HostPort(const std::string& url);

// The environment that makes a child's clock read `offset` ("+1h", "-2h")
// off the real time, with libfaketime preloaded; empty when libfaketime is
// not installed. Only the wall clock moves: CLOCK_MONOTONIC stays true, as on
// a host whose time of day is set wrong (and the waits of the heartbeat and
// the workload's timers stay right).
EnvChanges FakeClock(const std::string& offset);

class PostgresTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  // BASE?schema=SCHEMA, BASE being the server (default) or PgBouncer.
  std::string StoreUrl(const std::string& base = "") const;
  std::string BouncerUrl() const { return StoreUrl(bouncer_url_); }

  // `jobgate --store URL args...`, URL being StoreUrl() unless given.
  Proc Jobgate(const std::vector<std::string>& args, const EnvChanges& env = {}, const std::string& url = "");
  // Starts the same without waiting; its output goes to NAME.out / NAME.err.
  Child StartJobgate(const std::vector<std::string>& args, const std::string& name, const EnvChanges& env = {},
                     const std::string& url = "");
  // Any command, with its output captured; how long it took in `elapsed`.
  Proc Run(const std::vector<std::string>& argv, const EnvChanges& env = {},
           std::chrono::milliseconds* elapsed = nullptr);
  // One SQL statement through psql as the test role on the server (never
  // through PgBouncer); its rows unaligned, one a line.
  Proc Psql(const std::string& sql);
  // `status JOB --json` from the server.
  nlohmann::json StateOf(const std::string& job, const std::string& url = "");
  // Waits until `file` holds at least `lines` lines; false after `timeout`.
  bool WaitForLines(const std::string& file, int lines, std::chrono::milliseconds timeout);

  std::string url_;          // JOBGATE_TEST_POSTGRES_URL: the server
  std::string bouncer_url_;  // JOBGATE_TEST_PGBOUNCER_URL: PgBouncer in transaction pooling
  std::string schema_;       // t_<random hex>, dropped in TearDown
  std::string dir_;

 private:
  int files_ = 0;
};

}  // namespace jobgate::postgres_test
