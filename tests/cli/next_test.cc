// `jobgate next`: the upcoming fire times of an expression, printed in the
// zone's wall time; a bad expression exits 2 and says where it is wrong.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/subprocess.h"
#include "support/temp_dir.h"

namespace {


class NextCommand : public ::testing::Test {
 protected:
  jobgate::test::TempDir temp_{"jobgate-next-test"};
  std::string dir_ = temp_.path();

  jobgate::test::Proc Next(std::vector<std::string> args) {
    args.insert(args.begin(), {JOBGATE_BINARY, "next"});
    return jobgate::test::RunToFiles(args, dir_ + "/out", dir_ + "/err");
  }

};

TEST_F(NextCommand, PrintsTheNextFireTimesWithTheZoneOffset) {
  auto p = Next({"cron(0 12 ? * MON-FRI *)", "--from", "2026-01-01T00:00:00Z", "--count", "3"});
  EXPECT_EQ(p.exit_code, 0) << p.err;
  EXPECT_EQ(p.out, "2026-01-01T12:00:00Z\n2026-01-02T12:00:00Z\n2026-01-05T12:00:00Z\n");
  p = Next({"0 9 * * *", "--tz", "Etc/GMT-2", "--from", "1767225600000", "--count", "2"});
  EXPECT_EQ(p.exit_code, 0) << p.err;
  EXPECT_EQ(p.out, "2026-01-01T09:00:00+02:00\n2026-01-02T09:00:00+02:00\n");
}

TEST_F(NextCommand, DefaultsToFiveFromNowAndStopsWhenTheScheduleEnds) {
  auto p = Next({"rate(1 minute)"});
  EXPECT_EQ(p.exit_code, 0) << p.err;
  EXPECT_EQ(std::count(p.out.begin(), p.out.end(), '\n'), 5);
  p = Next({"at(2026-05-01T10:00:00)", "--from", "2026-01-01T00:00:00Z"});
  EXPECT_EQ(p.exit_code, 0) << p.err;
  EXPECT_EQ(p.out, "2026-05-01T10:00:00Z\n");
}

TEST_F(NextCommand, BadExpressionZoneOrFlagExitsTwoWithTheReason) {
  auto p = Next({"cron(0 25 * * ? *)"});
  EXPECT_EQ(p.exit_code, 2);
  EXPECT_EQ(p.out, "");
  EXPECT_EQ(p.err, "jobgate: schedule \"cron(0 25 * * ? *)\": hour \"25\" at position 8 is out of range 0-23\n");
  p = Next({"rate(1 hour)", "--tz", "Nowhere/Atlantis"});
  EXPECT_EQ(p.exit_code, 2);
  EXPECT_NE(p.err.find("Nowhere/Atlantis"), std::string::npos) << p.err;
  p = Next({"rate(1 hour)", "--count", "10001"});
  EXPECT_EQ(p.exit_code, 2);
  p = Next({"rate(1 hour)", "--from", "yesterday"});
  EXPECT_EQ(p.exit_code, 2);
  EXPECT_NE(p.err.find("--from"), std::string::npos) << p.err;
}

}  // namespace
