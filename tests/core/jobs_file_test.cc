#include "core/jobs_file.h"

#include <gtest/gtest.h>

namespace jobgate {
namespace {

TEST(JobsFile, ParsesEveryKey) {
  auto defs = ParseJobsToml(R"toml(
[jobs.nightly]
command = ["./report.sh", "--full"]
cooldown = "20h"
timeout = "1h"
lease = "5m"
max_clock_skew = "3s"
backoff_base = "30s"
backoff_cap = "2h"
park_after = 5
rate_limit = "10/1h"
overlap = "replace"
kill_grace = "15s"
request_ttl = "2d"
keep_runs = 50
schedule = "cron(30 2 ? * MON-FRI *)"
time_zone = "Europe/London"
starting_deadline = "30m"
catch_up = "all"
catch_up_limit = 10

[jobs.shell]
command = "echo hi | tee /tmp/x"
)toml",
                            "jobs.toml");
  ASSERT_TRUE(defs.ok()) << defs.status().ToString();
  ASSERT_EQ(defs->size(), 2u);
  const JobDefinition& d = (*defs)[0];
  EXPECT_EQ(d.job, "nightly");
  EXPECT_EQ(d.command, (std::vector<std::string>{"./report.sh", "--full"}));
  EXPECT_EQ(d.cooldown_ms, 20 * 3600 * 1000LL);
  EXPECT_EQ(d.timeout_ms, 3600 * 1000LL);
  EXPECT_EQ(d.lease_ms, 300 * 1000LL);
  EXPECT_EQ(d.max_clock_skew_ms, 3000);
  EXPECT_EQ(d.backoff_base_ms, 30000);
  EXPECT_EQ(d.backoff_cap_ms, 7200 * 1000LL);
  EXPECT_EQ(d.park_after, 5);
  EXPECT_EQ(d.rate_limit_count, 10);
  EXPECT_EQ(d.rate_limit_window_ms, 3600 * 1000LL);
  EXPECT_EQ(d.kill_grace_ms, 15000);
  EXPECT_EQ(d.request_ttl_ms, 2 * 86400 * 1000LL);
  EXPECT_EQ(d.keep_runs, 50);
  EXPECT_EQ(d.overlap, Overlap::kReplace);
  EXPECT_EQ(d.schedule, "cron(30 2 ? * MON-FRI *)");
  EXPECT_EQ(d.time_zone, "Europe/London");
  EXPECT_EQ(d.starting_deadline_ms, 30 * 60 * 1000LL);
  EXPECT_EQ(d.catch_up, CatchUp::kAll);
  EXPECT_EQ(d.catch_up_limit, 10);
  EXPECT_EQ((*defs)[1].command, (std::vector<std::string>{"/bin/sh", "-c", "echo hi | tee /tmp/x"}));
}

struct BadCase {
  const char* toml;
  const char* must_mention;
};

class JobsFileRejects : public ::testing::TestWithParam<BadCase> {};

TEST_P(JobsFileRejects, NamingTheKeyAndValue) {
  auto defs = ParseJobsToml(GetParam().toml, "jobs.toml");
  ASSERT_FALSE(defs.ok());
  EXPECT_EQ(defs.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(defs.status().message().find(GetParam().must_mention), std::string::npos) << defs.status().message();
  EXPECT_NE(defs.status().message().find("jobs.toml"), std::string::npos) << defs.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, JobsFileRejects,
    ::testing::Values(BadCase{"[jobs.a]\ncooldown = \"banana\"\n", "banana"},
                      BadCase{"[jobs.a]\ncooldwn = \"1h\"\n", "cooldwn"},
                      BadCase{"[jobs.a]\ncooldown = 5\n", "jobs.a.cooldown"},
                      BadCase{"[jobs.a]\npark_after = \"5\"\n", "jobs.a.park_after"},
                      BadCase{"[jobs.a]\nrate_limit = \"ten/1h\"\n", "ten/1h"},
                      BadCase{"[jobs.a]\nrate_limit = \"10/0s\"\n", "10/0s"},
                      BadCase{"[jobs.a]\nlease = \"10ms\"\n", "lease"},
                      BadCase{"[jobs.a]\ncommand = []\n", "jobs.a.command"},
                      BadCase{"[jobs.a]\ncommand = [1]\n", "jobs.a.command"},
                      BadCase{"[jobs.a]\nschedule = \"rate(0 hours)\"\ncommand = \"true\"\n", "jobs.a.schedule"},
                      BadCase{"[jobs.a]\nschedule = \"rate(1 hour)\"\n", "no command"},
                      BadCase{"[jobs.a]\nschedule = \"rate(1 hour)\"\ntime_zone = \"Mars/Base\"\ncommand = \"true\"\n",
                              "Mars/Base"},
                      BadCase{"[jobs.a]\ntime_zone = \"UTC\"\n", "no schedule"},
                      BadCase{"[jobs.a]\nschedule = \"rate(1 hour)\"\ncatch_up = \"some\"\n", "some"},
                      BadCase{"[jobs.a]\nschedule = \"rate(1 hour)\"\noverlap = \"queue\"\n", "queue"},
                      BadCase{"[jobs.a]\nstarting_deadline = \"soon\"\n", "soon"},
                      BadCase{"[job.a]\n", "job"},
                      BadCase{"[jobs.a\n", "jobs.toml:"},
                      BadCase{"", "no jobs"},
                      BadCase{"[jobs.\"has space\"]\n", "has space"}));

}  // namespace
}  // namespace jobgate
