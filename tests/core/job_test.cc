#include "jobgate/job.h"

#include <gtest/gtest.h>

namespace jobgate {
namespace {

TEST(JobState, CounterInvariantCountsTheRunningAcquisition) {
  JobState s;
  EXPECT_TRUE(CountersConsistent(s));
  s.run_count = 1;
  EXPECT_FALSE(CountersConsistent(s));
  s.status = JobStatus::kRunning;
  EXPECT_TRUE(CountersConsistent(s));
  s.status = JobStatus::kIdle;
  s.abandoned_count = 1;
  EXPECT_TRUE(CountersConsistent(s));
}

TEST(JobState, DueAtFollowsStatusAndSchedule) {
  JobState s;
  s.next_allowed_run = 50;
  s.next_fire_ts = 70;
  EXPECT_EQ(DueAt(s), 70);
  s.next_allowed_run = 80;  // a cooldown or backoff holds the slot back
  EXPECT_EQ(DueAt(s), 80);
  s.status = JobStatus::kRunning;  // the overlap policy decides at the fire time
  s.lease_until = 99;
  EXPECT_EQ(DueAt(s), 70);
  s.status = JobStatus::kPaused;
  EXPECT_EQ(DueAt(s), std::nullopt);
  s.status = JobStatus::kIdle;
  s.next_fire_ts = 0;  // on demand: never due on its own
  EXPECT_EQ(DueAt(s), std::nullopt);
  s.status = JobStatus::kRunning;
  EXPECT_EQ(DueAt(s), std::nullopt);
}

TEST(JobStatusNames, RoundTripAndRejectUnknown) {
  for (auto st : {JobStatus::kIdle, JobStatus::kRunning, JobStatus::kPaused}) {
    EXPECT_EQ(*ParseJobStatus(JobStatusName(st)), st);
  }
  auto bad = ParseJobStatus("idle ");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("idle "), std::string::npos);
}

TEST(JobDefinition, ValidationNamesTheField) {
  JobDefinition d;
  d.job = "ok";
  EXPECT_TRUE(ValidateDefinition(d).ok());
  d.lease_ms = 10;
  auto st = ValidateDefinition(d);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("lease"), std::string::npos);
  d.lease_ms = 60000;
  d.job = "has space";
  EXPECT_FALSE(ValidateDefinition(d).ok());
}

}  // namespace
}  // namespace jobgate
