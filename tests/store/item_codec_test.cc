#include "store/item_codec.h"

#include <limits>

#include <gtest/gtest.h>

namespace jobgate {
namespace {

JobDefinition Unusual() {
  JobDefinition d;
  d.job = "nightly.backup-\xC3\xBC";
  d.schedule = "cron(0 3 * * ? *)";
  d.time_zone = "Asia/Kolkata";
  d.command = {"/bin/sh", "-c", "echo \"quoted\" \\ 'single'\n\xE2\x9C\x93", ""};
  d.cooldown_ms = (int64_t{1} << 53) + 1;  // not representable as a double
  d.lease_ms = std::numeric_limits<int64_t>::max();
  d.park_after = 3;
  d.rate_limit_count = 10;
  d.rate_limit_window_ms = 60'000;
  d.catch_up = CatchUp::kNone;
  d.overlap = Overlap::kReplace;
  return d;
}

TEST(DefinitionJson, RoundTripsExactly) {
  for (const JobDefinition& d : {JobDefinition{}, Unusual()}) {
    auto back = DefinitionFromJson(DefinitionToJson(d));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, d);
  }
}

TEST(DefinitionJson, MissingKeysKeepDefaultsAndUnknownKeysAreIgnored) {
  auto d = DefinitionFromJson(R"({"job": "j", "lease_ms": 5000, "added_in_a_later_version": [1, 2]})");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  JobDefinition want;
  want.job = "j";
  want.lease_ms = 5000;
  EXPECT_EQ(*d, want);
}

TEST(DefinitionJson, WrongTypesAreCorruptNamingFieldAndValue) {
  struct Case {
    const char* json;
    const char* field;
    const char* value;
  };
  for (const Case& c : {Case{R"({"lease_ms": "abc"})", "lease_ms", "abc"},
                        Case{R"({"lease_ms": 1.5})", "lease_ms", "1.5"},
                        Case{R"({"keep_runs": 18446744073709551615})", "keep_runs", "18446744073709551615"},
                        Case{R"({"schedule": 5})", "schedule", "5"},
                        Case{R"({"command": "ls -l"})", "command", "ls -l"},
                        Case{R"({"command": ["ls", 7]})", "command", "7"},
                        Case{R"({"overlap": "queue"})", "overlap", "queue"},
                        Case{R"({"overlap": 1})", "overlap", "1"},
                        Case{R"({"catch_up": "some"})", "catch_up", "some"}}) {
    auto d = DefinitionFromJson(c.json, "job 'j'");
    ASSERT_FALSE(d.ok()) << c.json;
    EXPECT_EQ(d.status().code(), StatusCode::kCorrupt);
    const std::string& msg = d.status().message();
    EXPECT_NE(msg.find("job 'j'"), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.field), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.value), std::string::npos) << msg;
  }
}

// A process that lives on parses each distinct text once (the memo in
// item_codec.cc): the answers must be exactly those of a fresh parse.
TEST(DefinitionJson, RepeatedTextsGiveTheSameAnswerAsAFreshParse) {
  const std::string text = DefinitionToJson(Unusual());
  for (int i = 0; i < 3; ++i) {
    auto d = DefinitionFromJson(text);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(*d, Unusual());
    d->cooldown_ms = 1;  // a caller's copy: changing it changes nothing kept
  }
  JobDefinition other = Unusual();
  other.lease_ms = 61'000;
  auto changed = DefinitionFromJson(DefinitionToJson(other));
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(changed->lease_ms, 61'000);
  // Errors are not kept: each names its own caller's `where`.
  for (const char* where : {"job 'a'", "job 'b'"}) {
    auto bad = DefinitionFromJson(R"({"lease_ms": "abc"})", where);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.status().message().find(where), std::string::npos) << bad.status().message();
  }
  // More distinct texts than the memo holds: every answer still right.
  for (int i = 0; i < 600; ++i) {
    JobDefinition d;
    d.lease_ms = 1'000 + i;
    auto back = DefinitionFromJson(DefinitionToJson(d));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->lease_ms, 1'000 + i);
  }
  EXPECT_EQ(*DefinitionFromJson(text), Unusual());
}

TEST(DefinitionJson, NotAnObjectIsCorrupt) {
  for (const char* json : {"", "{", "[1, 2]", "null", "\"text\""}) {
    auto d = DefinitionFromJson(json);
    EXPECT_EQ(d.status().code(), StatusCode::kCorrupt) << json;
  }
}

TEST(DefinitionJson, InvalidUtf8IsReplacedNotThrown) {
  JobDefinition d;
  d.job = "j";
  d.command = {"echo", "\xFF\xFE"};
  auto back = DefinitionFromJson(DefinitionToJson(d));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->command[1], "\xEF\xBF\xBD\xEF\xBF\xBD");  // two U+FFFD
}

// The shared rule for items written by other tools (docs/design.md).
TEST(StoredFields, AnIntegerFieldTakesANumberOrExactlyItsDecimalText) {
  const FieldSpec<JobState>& version = StateFields()[0];
  ASSERT_EQ(std::string(version.name), "version");
  JobState s;
  ASSERT_TRUE(SetField(s, version, FieldValue(int64_t{3}), "job 'j'").ok());
  EXPECT_EQ(s.version, 3);
  ASSERT_TRUE(SetField(s, version, FieldValue(std::string("42")), "job 'j'").ok());
  EXPECT_EQ(s.version, 42);
  for (const char* text : {"03", " 3", "+3", "3 ", "3.0", "abc", "", "-0"}) {
    Status st = SetField(s, version, FieldValue(std::string(text)), "job 'j'");
    ASSERT_FALSE(st.ok()) << text;
    EXPECT_EQ(st.code(), StatusCode::kCorrupt);
    EXPECT_NE(st.message().find("'version'"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find(std::string("\"") + text + "\""), std::string::npos) << st.message();
  }
}

const FieldSpec<JobState>& StateField(std::string_view name) {
  for (const FieldSpec<JobState>& f : StateFields()) {
    if (f.name == name) return f;
  }
  ADD_FAILURE() << "no state field " << name;
  return StateFields()[0];
}

// The limiter's log is stored as "t1,t2,...", oldest first. A damaged
// entry is dropped rather than making the state unreadable: the limiter
// then errs on the side of running, and the next write repairs the log.
TEST(StoredFields, RateHistoryIsItsStampsAndADamagedEntryIsDropped) {
  const FieldSpec<JobState>& f = StateField("rate_history");
  JobState s;
  s.rate_history = {100, 250, 1'700'000'000'000};
  EXPECT_EQ(StringField(s, f), "100,250,1700000000000");
  JobState back;
  ASSERT_TRUE(SetField(back, f, FieldValue(StringField(s, f)), "job 'j'").ok());
  EXPECT_EQ(back.rate_history, s.rate_history);
  ASSERT_TRUE(SetField(back, f, FieldValue(std::string("garbage,300,x,,200,1e3")), "job 'j'").ok());
  EXPECT_EQ(back.rate_history, (std::vector<EpochMs>{200, 300}));  // sorted
  ASSERT_TRUE(SetField(back, f, FieldValue(std::string("")), "job 'j'").ok());
  EXPECT_TRUE(back.rate_history.empty());
  EXPECT_EQ(SetField(back, f, FieldValue(int64_t{5}), "job 'j'").code(), StatusCode::kCorrupt);
}

// Outcomes are stored by name: last_outcome and a request's may be empty
// (none yet), a run record's may not; any other text is corrupt, named.
TEST(StoredFields, OutcomesAreTheirNamesAndAnythingElseIsCorrupt) {
  const FieldSpec<JobState>& last = StateField("last_outcome");
  JobState s;
  EXPECT_EQ(StringField(s, last), "");
  for (RecordedOutcome o : {RecordedOutcome::kSucceeded, RecordedOutcome::kTimedOut, RecordedOutcome::kDeduplicated}) {
    s.last_outcome = o;
    JobState back;
    ASSERT_TRUE(SetField(back, last, FieldValue(StringField(s, last)), "job 'j'").ok());
    EXPECT_EQ(back.last_outcome, o);
  }
  ASSERT_TRUE(SetField(s, last, FieldValue(std::string("")), "job 'j'").ok());
  EXPECT_FALSE(s.last_outcome.has_value());

  const FieldSpec<RunRecord>* run_outcome = nullptr;
  for (const auto& f : RunFields()) {
    if (std::string_view(f.name) == "outcome") run_outcome = &f;
  }
  ASSERT_NE(run_outcome, nullptr);
  RunRecord r;
  ASSERT_TRUE(SetField(r, *run_outcome, FieldValue(std::string("abandoned")), "run").ok());
  EXPECT_EQ(r.outcome, RecordedOutcome::kAbandoned);
  for (const char* text : {"", "Succeeded", "exploded"}) {
    Status st = SetField(r, *run_outcome, FieldValue(std::string(text)), "run of job 'j'");
    EXPECT_EQ(st.code(), StatusCode::kCorrupt) << text;
    EXPECT_NE(st.message().find("'outcome'"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find(std::string("\"") + text + "\""), std::string::npos) << st.message();
  }
  Status st = SetField(s, last, FieldValue(std::string("exploded")), "job 'j'");
  EXPECT_EQ(st.code(), StatusCode::kCorrupt);
  EXPECT_NE(st.message().find("exploded"), std::string::npos) << st.message();
}

TEST(StoredFields, StatusIsMatchedInAnyCaseAndOtherwiseNamed) {
  JobStatus status = JobStatus::kIdle;
  for (const char* text : {"running", "Running", "RUNNING", "rUnNiNg"}) {
    ASSERT_TRUE(SetStatus(status, FieldValue(std::string(text)), &ParseJobStatus, "job 'j'").ok()) << text;
    EXPECT_EQ(status, JobStatus::kRunning);
  }
  RequestStatus request = RequestStatus::kInProgress;
  ASSERT_TRUE(SetStatus(request, FieldValue(std::string("completed")), &ParseRequestStatus, "request").ok());
  EXPECT_EQ(request, RequestStatus::kCompleted);
  for (const FieldValue& v : {FieldValue(std::string("banana")), FieldValue(std::string(" IDLE")),
                              FieldValue(std::string("")), FieldValue(int64_t{1})}) {
    Status st = SetStatus(status, v, &ParseJobStatus, "job 'j'");
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.code(), StatusCode::kCorrupt);
    EXPECT_NE(st.message().find("job 'j'"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("status"), std::string::npos) << st.message();
  }
  EXPECT_NE(SetStatus(status, FieldValue(std::string("banana")), &ParseJobStatus, "job 'j'").message().find("banana"),
            std::string::npos);
}

}  // namespace
}  // namespace jobgate
