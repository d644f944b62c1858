// The store contract (store.h, DESIGN.md "Store contract"), checked against
// every backend built and reachable here. Each test gets a fresh store.
#include "store/conformance.h"

#include <sqlite3.h>
#include <stdlib.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "store/item_codec.h"
#include "store/memory_store.h"
#include "util/numbers.h"

namespace jobgate::testing {

// ---- the backends ------------------------------------------------------------

TempDir::TempDir() {
  const char* base = getenv("TMPDIR");
  std::string templ = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/jobgate-test-XXXXXX";
  if (mkdtemp(templ.data()) != nullptr) path_ = templ;
}

TempDir::~TempDir() {
  std::error_code ignored;
  if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
}

namespace {

NamedStoreFactory MemoryFactory() {
  return {"memory", []() -> Result<StoreUnderTest> {
            // MemoryStore is thread-safe, so "another client" is the same object.
            // It holds typed states that only jobgate writes: no foreign items.
            auto store = std::make_shared<MemoryStore>();
            return StoreUnderTest{store, [store]() -> Result<std::shared_ptr<Store>> { return std::shared_ptr<Store>(store); },
                                  nullptr, nullptr};
          }};
}

void BindForeign(sqlite3_stmt* stmt, int param, const ForeignValue& v) {
  int64_t n = 0;
  switch (v.kind) {
    case ForeignValue::Kind::kNull: sqlite3_bind_null(stmt, param); break;
    case ForeignValue::Kind::kNumber:
      if (ParseInt64(v.text, &n)) {
        sqlite3_bind_int64(stmt, param, n);
      } else {
        sqlite3_bind_double(stmt, param, std::stod(v.text));
      }
      break;
    case ForeignValue::Kind::kString: sqlite3_bind_text(stmt, param, v.text.c_str(), -1, SQLITE_TRANSIENT); break;
  }
}

// A state row written through a plain SQLite connection, as the sqlite3
// shell or another program would. A missing attribute is a NULL column.
Status PutForeignSqliteState(const std::string& path, const std::string& job, const ForeignItem& item) {
  std::string columns = "job", params = "?1";
  int n = 2;
  for (const auto& [name, value] : item) {
    columns += ", " + name;
    params += fmt::format(", ?{}", n++);
  }
  const std::string sql = fmt::format("INSERT OR REPLACE INTO job_state ({}) VALUES ({})", columns, params);
  sqlite3* db = nullptr;
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_open(path.c_str(), &db);
  if (rc == SQLITE_OK) sqlite3_busy_timeout(db, 10'000);
  if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(stmt, 1, job.c_str(), -1, SQLITE_TRANSIENT);
    int param = 2;
    for (const auto& [name, value] : item) BindForeign(stmt, param++, value);
    rc = sqlite3_step(stmt);
  }
  const std::string error = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return rc == SQLITE_DONE ? Status::Ok() : Status::Internal(fmt::format("{}: {}", sql, error));
}

// Through OpenStore, so that the URL path is what the suite exercises.
NamedStoreFactory SqliteFactory(const std::string& name, const std::string& query) {
  return {name, [query]() -> Result<StoreUnderTest> {
            auto dir = std::make_shared<TempDir>();
            if (dir->path().empty()) return Status::Internal("mkdtemp failed");
            const std::string url = "sqlite:" + dir->File("conformance.db") + query;
            auto store = OpenStore(url);
            if (!store.ok()) return store.status();
            auto another = [url, dir]() -> Result<std::shared_ptr<Store>> {
              auto s = OpenStore(url);
              if (!s.ok()) return s.status();
              return std::shared_ptr<Store>(std::move(s.value()));
            };
            auto put_foreign = [path = dir->File("conformance.db")](const std::string& job, const ForeignItem& item) {
              return PutForeignSqliteState(path, job, item);
            };
            return StoreUnderTest{std::shared_ptr<Store>(std::move(store.value())), another,
                                  [dir]() mutable { dir.reset(); }, put_foreign};
          }};
}

}  // namespace

// In dynamodb_store_test.cc: a fresh table per test on the server at `endpoint`.
NamedStoreFactory DynamoDbFactory(const std::string& endpoint);
// In postgres_store_test.cc: a fresh schema per test in the database at `url`.
NamedStoreFactory PostgresFactory(const std::string& url);

std::vector<NamedStoreFactory> StoreFactories() {
  std::vector<NamedStoreFactory> factories = {MemoryFactory(), SqliteFactory("sqlite", "")};
  // Durability does not change semantics, but FULL takes other code paths in
  // SQLite (WAL syncs); run it too.
  factories.push_back(SqliteFactory("sqlite_synchronous_full", "?synchronous=full"));
  // Backends that need a server add themselves when their environment
  // variable names one (scripts/test.sh starts the servers).
  if (const char* url = getenv("JOBGATE_TEST_POSTGRES_URL"); url != nullptr && *url != '\0') {
    factories.push_back(PostgresFactory(url));
  }
  if (const char* endpoint = getenv("JOBGATE_TEST_DYNAMODB_ENDPOINT"); endpoint != nullptr && *endpoint != '\0') {
    factories.push_back(DynamoDbFactory(endpoint));
  }
  return factories;
}

namespace {

// ---- fixtures and builders -------------------------------------------------------

class StoreConformance : public ::testing::TestWithParam<NamedStoreFactory> {
 protected:
  void SetUp() override {
    auto made = GetParam().make();
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    sut_ = std::move(made.value());
    store_ = sut_.store.get();
  }
  void TearDown() override {
    sut_.store.reset();
    if (sut_.cleanup) sut_.cleanup();
  }

  // Creates `state` and asserts that it applied.
  void Create(const JobState& state) {
    ASSERT_OK_AND_ASSIGN(WriteOutcome outcome, store_->CreateState(state));
    ASSERT_EQ(outcome, WriteOutcome::kApplied) << state.job;
  }

  StoreUnderTest sut_;
  Store* store_ = nullptr;
};

JobState Idle(const std::string& job, int64_t version = 1) {
  JobState s;
  s.job = job;
  s.version = version;
  return s;
}

const std::vector<std::string>& UnusualStrings() {
  static const auto* strings = new std::vector<std::string>{
      "Fehler: \xE2\x9C\x97 \xE5\xA4\xB1\xE6\x95\x97 \xE2\x80\x94 \"quoted\" 'single' \\back\nnew line\ttab \xF0\x9F\x9A\x80",
      "'); DROP TABLE job_state; --",
      std::string(kMaxErrorBytes, 'x'),
      " leading and trailing spaces ",
      "{\"looks\": [\"like\", \"json\"]}",
  };
  return *strings;
}

void SetIntField(JobState& s, std::string_view name, int64_t v) {
  for (const auto& f : StateFields()) {
    if (f.name == name) s.*f.int_member = v;
  }
}

// Every state field set to a value that a careless encoding would damage:
// integers beyond 2^53 (doubles), INT64_MAX, a negative exit code, and
// multi-byte UTF-8, quotes, newlines and SQL in strings. Built from the
// field table, so a field added later is covered without editing this test.
JobState Unusual(const std::string& job, int64_t version) {
  JobState s;
  s.job = job;
  s.status = JobStatus::kRunning;
  int64_t i = 0;
  size_t k = 0;
  for (const auto& f : StateFields()) {
    if (f.type == FieldType::kInt) {
      s.*f.int_member = (int64_t{1} << 53) + 1 + 1'000'003 * i++;
    } else if (f.string_member != nullptr) {
      s.*f.string_member = UnusualStrings()[k++ % UnusualStrings().size()];
    }
  }
  // The typed ones.
  s.rate_history = {1, (int64_t{1} << 53) + 1, std::numeric_limits<int64_t>::max()};
  s.last_outcome = RecordedOutcome::kTimedOut;
  s.version = version;
  SetIntField(s, "next_allowed_run", std::numeric_limits<int64_t>::max());
  SetIntField(s, "last_exit_code", -9);
  return s;
}

RunRecord RunAt(const std::string& job, EpochMs start_ms, const std::string& run_id) {
  RunRecord r;
  r.job = job;
  r.run_id = run_id;
  r.start_ms = start_ms;
  r.end_ms = start_ms + 10;
  r.outcome = RecordedOutcome::kSucceeded;
  return r;
}

std::vector<EpochMs> Starts(const std::vector<RunRecord>& runs) {
  std::vector<EpochMs> out;
  for (const auto& r : runs) out.push_back(r.start_ms);
  return out;
}

RequestRecord Request(const std::string& job, const std::string& key, EpochMs expires_at_ms) {
  RequestRecord r;
  r.job = job;
  r.key = key;
  r.version = 1;
  r.owner = "run-1";
  r.lease_until = 5'000;
  r.fence = 7;
  r.created_at = 1'000;
  r.expires_at_ms = expires_at_ms;
  return r;
}

JobDefinition Definition(const std::string& job) {
  JobDefinition d;
  d.job = job;
  d.schedule = "cron(0 * * * ? *)";
  d.time_zone = "Europe/Berlin";
  d.command = {"/bin/sh", "-c", "echo 'h\xC3\xA9llo' \"$JOBGATE_FENCE\"", ""};
  d.cooldown_ms = 90'000;
  d.timeout_ms = (int64_t{1} << 53) + 1;
  d.rate_limit_count = 3;
  d.rate_limit_window_ms = 3'600'000;
  d.keep_runs = 7;
  return d;
}

// ---- job state ------------------------------------------------------------------

TEST_P(StoreConformance, ReadingAnAbsentStateGivesNullopt) {
  ASSERT_OK_AND_ASSIGN(auto state, store_->ReadState("absent"));
  EXPECT_EQ(state, std::nullopt);
}

TEST_P(StoreConformance, CreateStateWritesOnlyWhenAbsent) {
  Create(Idle("j"));
  JobState second = Idle("j", 5);
  second.owner = "someone else";
  ASSERT_OK_AND_ASSIGN(auto outcome, store_->CreateState(second));
  EXPECT_EQ(outcome, WriteOutcome::kConditionFailed);
  ASSERT_OK_AND_ASSIGN(auto stored, store_->ReadState("j"));
  EXPECT_EQ(stored, Idle("j"));
}

TEST_P(StoreConformance, ReplaceStateAppliesOnlyAtTheExpectedVersion) {
  Create(Idle("j", 3));
  JobState next = Idle("j", 4);
  next.status = JobStatus::kRunning;
  next.owner = "run-a";
  ASSERT_OK_AND_ASSIGN(auto applied, store_->ReplaceState(next, 3));
  EXPECT_EQ(applied, WriteOutcome::kApplied);

  JobState stale = Idle("j", 4);
  stale.owner = "run-b";
  ASSERT_OK_AND_ASSIGN(auto lost, store_->ReplaceState(stale, 3));
  EXPECT_EQ(lost, WriteOutcome::kConditionFailed);
  ASSERT_OK_AND_ASSIGN(auto stored, store_->ReadState("j"));
  EXPECT_EQ(stored, next);
}

TEST_P(StoreConformance, ReplaceStateOfAnAbsentJobFailsTheCondition) {
  ASSERT_OK_AND_ASSIGN(auto outcome, store_->ReplaceState(Idle("absent", 1), 0));
  EXPECT_EQ(outcome, WriteOutcome::kConditionFailed);
  ASSERT_OK_AND_ASSIGN(auto state, store_->ReadState("absent"));
  EXPECT_EQ(state, std::nullopt);
}

TEST_P(StoreConformance, ReplaceStateRefusesAVersionThatIsNotExpectedPlusOne) {
  Create(Idle("j", 1));
  auto same = store_->ReplaceState(Idle("j", 1), 1);
  ASSERT_FALSE(same.ok());
  EXPECT_EQ(same.status().code(), StatusCode::kInternal);
  ASSERT_OK_AND_ASSIGN(auto stored, store_->ReadState("j"));
  EXPECT_EQ(stored, Idle("j", 1));
}

TEST_P(StoreConformance, VersionZeroMatchesAStateWithoutVersion) {
  Create(Idle("j", 0));
  ASSERT_OK_AND_ASSIGN(auto outcome, store_->ReplaceState(Idle("j", 1), 0));
  EXPECT_EQ(outcome, WriteOutcome::kApplied);
  ASSERT_OK_AND_ASSIGN(auto stale, store_->ReplaceState(Idle("j", 1), 0));
  EXPECT_EQ(stale, WriteOutcome::kConditionFailed);
}

TEST_P(StoreConformance, EveryStateFieldRoundTripsExactly) {
  const JobState unusual = Unusual("nightly.backup-\xC3\xBC", 1);
  Create(unusual);
  ASSERT_OK_AND_ASSIGN(auto created, store_->ReadState(unusual.job));
  EXPECT_EQ(created, unusual);

  // Back to zero values and empty strings, through a CAS.
  JobState zero = Idle(unusual.job, 2);
  zero.status = JobStatus::kPaused;
  ASSERT_OK_AND_ASSIGN(auto outcome, store_->ReplaceState(zero, 1));
  ASSERT_EQ(outcome, WriteOutcome::kApplied);
  ASSERT_OK_AND_ASSIGN(auto replaced, store_->ReadState(unusual.job));
  EXPECT_EQ(replaced, zero);

  JobState again = Unusual(unusual.job, 3);
  ASSERT_OK_AND_ASSIGN(outcome, store_->ReplaceState(again, 2));
  ASSERT_EQ(outcome, WriteOutcome::kApplied);
  ASSERT_OK_AND_ASSIGN(auto listed, store_->ListStates());
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0], again);
  ASSERT_OK_AND_ASSIGN(auto record, store_->ReadJob(unusual.job, ""));
  EXPECT_EQ(record.state, again);
}

TEST_P(StoreConformance, StateIsKeptPerJob) {
  Create(Idle("a"));
  Create(Idle("b"));
  JobState a = Idle("a", 2);
  a.run_count = 1;
  a.status = JobStatus::kRunning;
  ASSERT_OK_AND_ASSIGN(auto outcome, store_->ReplaceState(a, 1));
  ASSERT_EQ(outcome, WriteOutcome::kApplied);
  ASSERT_OK_AND_ASSIGN(auto b, store_->ReadState("b"));
  EXPECT_EQ(b, Idle("b"));
}

// ---- ListDue / ListStates ---------------------------------------------------------

// At now = 1000: a due at 100 (its fire time), e at 200 (a fire time while
// it runs: its overlap policy decides), b at 300 (a fire time at 50, its
// cooldown until 300), g exactly at 1000. c fires later, d is PAUSED, f is
// unscheduled (on demand: never due on its own, whatever its cooldown).
void CreateDueFixture(Store* store) {
  auto make = [](const std::string& job, JobStatus status, EpochMs next_allowed, EpochMs next_fire, EpochMs lease) {
    JobState s = Idle(job);
    s.status = status;
    s.next_allowed_run = next_allowed;
    s.next_fire_ts = next_fire;
    s.lease_until = lease;
    return s;
  };
  for (const JobState& s : {make("a", JobStatus::kIdle, 0, 100, 0), make("b", JobStatus::kIdle, 300, 50, 0),
                            make("c", JobStatus::kIdle, 0, 5'000, 0), make("d", JobStatus::kPaused, 0, 10, 0),
                            make("e", JobStatus::kRunning, 0, 200, 9'000), make("f", JobStatus::kIdle, 0, 0, 0),
                            make("g", JobStatus::kIdle, 1'000, 1'000, 0)}) {
    auto outcome = store->CreateState(s);
    ASSERT_TRUE(outcome.ok() && *outcome == WriteOutcome::kApplied) << s.job;
  }
}

using Due = std::vector<DueJob>;

TEST_P(StoreConformance, ListDueReturnsOnlyDueJobsSoonestFirst) {
  CreateDueFixture(store_);
  ASSERT_OK_AND_ASSIGN(auto due, store_->ListDue(1'000, 100));
  EXPECT_EQ(due, (Due{{"a", 100}, {"e", 200}, {"b", 300}, {"g", 1'000}}));
  ASSERT_OK_AND_ASSIGN(auto none, store_->ListDue(10, 100));
  EXPECT_EQ(none, Due{});
  // Asked ahead of the clock: what falls due later, for a scheduler's sleep.
  ASSERT_OK_AND_ASSIGN(auto ahead, store_->ListDue(9'000, 100));
  EXPECT_EQ(ahead.back(), (DueJob{"c", 5'000}));
}

TEST_P(StoreConformance, ListDueRespectsTheLimit) {
  CreateDueFixture(store_);
  ASSERT_OK_AND_ASSIGN(auto two, store_->ListDue(1'000, 2));
  EXPECT_EQ(two, (Due{{"a", 100}, {"e", 200}}));
  ASSERT_OK_AND_ASSIGN(auto zero, store_->ListDue(1'000, 0));
  EXPECT_EQ(zero, Due{});
}

TEST_P(StoreConformance, ListDueFollowsEveryWrite) {
  CreateDueFixture(store_);
  auto replace = [&](const std::string& job, const std::function<void(JobState&)>& change) {
    ASSERT_OK_AND_ASSIGN(auto s, store_->ReadState(job));
    ASSERT_TRUE(s.has_value());
    s->version = 2;
    change(*s);
    ASSERT_OK_AND_ASSIGN(auto outcome, store_->ReplaceState(*s, 1));
    ASSERT_EQ(outcome, WriteOutcome::kApplied);
  };
  replace("a", [](JobState& s) { s.status = JobStatus::kPaused; });  // paused: never due
  replace("c", [](JobState& s) { s.next_fire_ts = 150; });           // rescheduled sooner
  replace("f", [](JobState& s) { s.next_fire_ts = 250; });           // given a schedule
  replace("g", [](JobState& s) { s.next_fire_ts = 0; });             // its schedule removed
  ASSERT_OK_AND_ASSIGN(auto due, store_->ListDue(1'000, 100));
  EXPECT_EQ(due, (Due{{"c", 150}, {"e", 200}, {"f", 250}, {"b", 300}}));
}

TEST_P(StoreConformance, ListStatesReturnsEveryJobByName) {
  ASSERT_OK_AND_ASSIGN(auto empty, store_->ListStates());
  EXPECT_TRUE(empty.empty());
  Create(Idle("zeta"));
  Create(Idle("alpha"));
  Create(Unusual("mid", 9));
  ASSERT_OK_AND_ASSIGN(auto states, store_->ListStates());
  ASSERT_EQ(states.size(), 3u);
  EXPECT_EQ(states[0], Idle("alpha"));
  EXPECT_EQ(states[1], Unusual("mid", 9));
  EXPECT_EQ(states[2], Idle("zeta"));
}

// ---- ReadJob / definitions ---------------------------------------------------------

TEST_P(StoreConformance, ReadJobReturnsStateAndDefinitionEachIfPresent) {
  ASSERT_OK_AND_ASSIGN(auto neither, store_->ReadJob("j", ""));
  EXPECT_EQ(neither.state, std::nullopt);
  EXPECT_EQ(neither.definition, std::nullopt);
  ASSERT_OK(store_->PutDefinition(Definition("j")));
  ASSERT_OK_AND_ASSIGN(auto def_only, store_->ReadJob("j", ""));
  EXPECT_EQ(def_only.state, std::nullopt);
  EXPECT_EQ(def_only.definition, Definition("j"));
  Create(Idle("j"));
  Create(Idle("state-only"));
  ASSERT_OK_AND_ASSIGN(auto both, store_->ReadJob("j", ""));
  EXPECT_EQ(both.state, Idle("j"));
  EXPECT_EQ(both.definition, Definition("j"));
  ASSERT_OK_AND_ASSIGN(auto state_only, store_->ReadJob("state-only", ""));
  EXPECT_EQ(state_only.state, Idle("state-only"));
  EXPECT_EQ(state_only.definition, std::nullopt);
}

TEST_P(StoreConformance, ReadJobReturnsTheRequestAskedForAsStoredExpiredOrNot) {
  Create(Idle("j"));
  ASSERT_OK_AND_ASSIGN(auto none, store_->ReadJob("j", "exec-1"));
  EXPECT_EQ(none.request, std::nullopt);
  EXPECT_EQ(none.state, Idle("j"));
  const RequestRecord rec = Request("j", "exec-1", 10'000);
  ASSERT_OK_AND_ASSIGN(auto created, store_->CreateRequest(rec, 1'000));
  ASSERT_EQ(created, WriteOutcome::kApplied);
  ASSERT_OK(store_->PutDefinition(Definition("j")));
  ASSERT_OK_AND_ASSIGN(auto all, store_->ReadJob("j", "exec-1"));
  EXPECT_EQ(all.state, Idle("j"));
  EXPECT_EQ(all.definition, Definition("j"));
  EXPECT_EQ(all.request, rec);  // expires at 10'000: the caller judges that
  ASSERT_OK_AND_ASSIGN(auto other, store_->ReadJob("j", "exec-2"));
  EXPECT_EQ(other.request, std::nullopt);
  ASSERT_OK_AND_ASSIGN(auto without, store_->ReadJob("j", ""));
  EXPECT_EQ(without.request, std::nullopt);
  // Another job's request of the same key is not this job's.
  ASSERT_OK_AND_ASSIGN(auto elsewhere, store_->ReadJob("k", "exec-1"));
  EXPECT_EQ(elsewhere.request, std::nullopt);
}

TEST_P(StoreConformance, DefinitionsArePutReplacedAndListedByName) {
  ASSERT_OK_AND_ASSIGN(auto absent, store_->ReadDefinition("b"));
  EXPECT_EQ(absent, std::nullopt);
  ASSERT_OK(store_->PutDefinition(Definition("b")));
  ASSERT_OK(store_->PutDefinition(Definition("a")));
  ASSERT_OK_AND_ASSIGN(auto read, store_->ReadDefinition("b"));
  EXPECT_EQ(read, Definition("b"));

  JobDefinition changed = Definition("b");
  changed.schedule = "";
  changed.command = {};
  changed.lease_ms = std::numeric_limits<int64_t>::max();
  changed.time_zone = "America/Argentina/Buenos_Aires";
  ASSERT_OK(store_->PutDefinition(changed));
  ASSERT_OK_AND_ASSIGN(read, store_->ReadDefinition("b"));
  EXPECT_EQ(read, changed);

  ASSERT_OK_AND_ASSIGN(auto all, store_->ListDefinitions());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0], Definition("a"));
  EXPECT_EQ(all[1], changed);
}

TEST_P(StoreConformance, DefaultDefinitionRoundTrips) {
  JobDefinition d;
  d.job = "defaults";
  ASSERT_OK(store_->PutDefinition(d));
  ASSERT_OK_AND_ASSIGN(auto read, store_->ReadDefinition("defaults"));
  EXPECT_EQ(read, d);
}

// ---- run records ---------------------------------------------------------------------

TEST_P(StoreConformance, RunsAreListedNewestFirstUpToTheLimit) {
  for (auto [start, id] : {std::pair{300, "r3"}, {100, "r1"}, {400, "r4"}, {200, "r2"}}) {
    ASSERT_OK(store_->AppendRun(RunAt("j", start, id)));
  }
  ASSERT_OK(store_->AppendRun(RunAt("other", 999, "x")));
  ASSERT_OK_AND_ASSIGN(auto all, store_->ListRuns("j", 100));
  EXPECT_EQ(Starts(all), (std::vector<EpochMs>{400, 300, 200, 100}));
  ASSERT_OK_AND_ASSIGN(auto two, store_->ListRuns("j", 2));
  EXPECT_EQ(Starts(two), (std::vector<EpochMs>{400, 300}));
  ASSERT_OK_AND_ASSIGN(auto none, store_->ListRuns("j", 0));
  EXPECT_TRUE(none.empty());
  ASSERT_OK_AND_ASSIGN(auto absent, store_->ListRuns("absent", 10));
  EXPECT_TRUE(absent.empty());
}

TEST_P(StoreConformance, RunsStartedInTheSameMillisecondAreBothKept) {
  ASSERT_OK(store_->AppendRun(RunAt("j", 500, "run-a")));
  ASSERT_OK(store_->AppendRun(RunAt("j", 500, "run-b")));
  ASSERT_OK_AND_ASSIGN(auto runs, store_->ListRuns("j", 10));
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].run_id, "run-b");
  EXPECT_EQ(runs[1].run_id, "run-a");
}

TEST_P(StoreConformance, EveryRunFieldRoundTripsExactly) {
  RunRecord r;
  r.job = "j";
  int64_t i = 0;
  size_t k = 0;
  for (const auto& f : RunFields()) {
    if (f.type == FieldType::kInt) {
      r.*f.int_member = (int64_t{1} << 53) + 1 + 7 * i++;
    } else if (f.string_member != nullptr) {
      r.*f.string_member = UnusualStrings()[k++ % UnusualStrings().size()];
    }
  }
  r.outcome = RecordedOutcome::kDeduplicated;
  ASSERT_OK(store_->AppendRun(r));
  RunRecord empty;
  empty.job = "j";
  ASSERT_OK(store_->AppendRun(empty));
  ASSERT_OK_AND_ASSIGN(auto runs, store_->ListRuns("j", 10));
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0], r);
  EXPECT_EQ(runs[1], empty);
}

TEST_P(StoreConformance, AppendingTheSameRunAgainReplacesIt) {
  ASSERT_OK(store_->AppendRun(RunAt("j", 100, "r1")));
  RunRecord retried = RunAt("j", 100, "r1");
  retried.outcome = RecordedOutcome::kFailed;
  retried.exit_code = 3;
  ASSERT_OK(store_->AppendRun(retried));
  ASSERT_OK_AND_ASSIGN(auto runs, store_->ListRuns("j", 10));
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0], retried);
}

// A commit recognised on the re-read appends its run record again (the
// controller cannot tell whether the backend appended it with the CAS):
// still one row for the run.
TEST_P(StoreConformance, AppendingACommittedRunAgainKeepsOneRow) {
  ASSERT_OK_AND_ASSIGN(auto created, store_->CreateState(Idle("j", 1)));
  ASSERT_EQ(created, WriteOutcome::kApplied);
  const RunRecord run = RunAt("j", 100, "r1");
  ASSERT_OK_AND_ASSIGN(auto applied, store_->ReplaceStateAndAppendRun(Idle("j", 2), 1, run));
  ASSERT_EQ(applied, WriteOutcome::kApplied);
  ASSERT_OK(store_->AppendRun(run));
  ASSERT_OK_AND_ASSIGN(auto runs, store_->ListRuns("j", 10));
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0], run);
}

TEST_P(StoreConformance, TrimRunsKeepsTheNewest) {
  for (int start = 1; start <= 5; ++start) ASSERT_OK(store_->AppendRun(RunAt("j", start * 100, "r")));
  ASSERT_OK(store_->AppendRun(RunAt("other", 100, "r")));
  ASSERT_OK(store_->TrimRuns("j", 2));
  ASSERT_OK_AND_ASSIGN(auto kept, store_->ListRuns("j", 10));
  EXPECT_EQ(Starts(kept), (std::vector<EpochMs>{500, 400}));
  ASSERT_OK(store_->TrimRuns("j", 10));
  ASSERT_OK_AND_ASSIGN(kept, store_->ListRuns("j", 10));
  EXPECT_EQ(kept.size(), 2u);
  ASSERT_OK(store_->TrimRuns("j", 0));
  ASSERT_OK_AND_ASSIGN(kept, store_->ListRuns("j", 10));
  EXPECT_TRUE(kept.empty());
  ASSERT_OK(store_->TrimRuns("absent", 0));
  ASSERT_OK_AND_ASSIGN(auto other, store_->ListRuns("other", 10));
  EXPECT_EQ(other.size(), 1u);
}

TEST_P(StoreConformance, ReplaceStateAndAppendRunWritesBothOrNeither) {
  Create(Idle("j", 1));
  JobState next = Idle("j", 2);
  next.run_count = 1;
  next.success_count = 1;
  ASSERT_OK_AND_ASSIGN(auto applied, store_->ReplaceStateAndAppendRun(next, 1, RunAt("j", 100, "won")));
  EXPECT_EQ(applied, WriteOutcome::kApplied);
  ASSERT_OK_AND_ASSIGN(auto lost, store_->ReplaceStateAndAppendRun(Idle("j", 2), 1, RunAt("j", 200, "lost")));
  EXPECT_EQ(lost, WriteOutcome::kConditionFailed);
  auto bad = store_->ReplaceStateAndAppendRun(Idle("j", 9), 2, RunAt("j", 300, "bad version"));
  EXPECT_EQ(bad.status().code(), StatusCode::kInternal);

  ASSERT_OK_AND_ASSIGN(auto state, store_->ReadState("j"));
  EXPECT_EQ(state, next);
  ASSERT_OK_AND_ASSIGN(auto runs, store_->ListRuns("j", 10));
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].run_id, "won");
}

// ---- request records ---------------------------------------------------------------------

TEST_P(StoreConformance, RequestIsCreatedOnceThenReplacedByVersion) {
  const RequestRecord rec = Request("j", "exec-1", 10'000);
  ASSERT_OK_AND_ASSIGN(auto absent, store_->ReadRequest("j", "exec-1", 1'000));
  EXPECT_EQ(absent, std::nullopt);
  ASSERT_OK_AND_ASSIGN(auto created, store_->CreateRequest(rec, 1'000));
  EXPECT_EQ(created, WriteOutcome::kApplied);
  ASSERT_OK_AND_ASSIGN(auto duplicate, store_->CreateRequest(Request("j", "exec-1", 20'000), 1'000));
  EXPECT_EQ(duplicate, WriteOutcome::kConditionFailed);
  ASSERT_OK_AND_ASSIGN(auto read, store_->ReadRequest("j", "exec-1", 1'000));
  EXPECT_EQ(read, rec);

  RequestRecord done = rec;
  done.version = 2;
  done.status = RequestStatus::kCompleted;
  done.outcome = RecordedOutcome::kFailed;
  done.exit_code = -1;
  done.fence = (int64_t{1} << 53) + 1;
  ASSERT_OK_AND_ASSIGN(auto replaced, store_->ReplaceRequest(done, 1));
  EXPECT_EQ(replaced, WriteOutcome::kApplied);
  ASSERT_OK_AND_ASSIGN(auto stale, store_->ReplaceRequest(rec, 1));
  EXPECT_EQ(stale, WriteOutcome::kConditionFailed);
  ASSERT_OK_AND_ASSIGN(read, store_->ReadRequest("j", "exec-1", 1'000));
  EXPECT_EQ(read, done);

  ASSERT_OK_AND_ASSIGN(auto absent_replace, store_->ReplaceRequest(Request("j", "exec-2", 10'000), 0));
  EXPECT_EQ(absent_replace, WriteOutcome::kConditionFailed);
  ASSERT_OK_AND_ASSIGN(auto other_job, store_->ReadRequest("k", "exec-1", 1'000));
  EXPECT_EQ(other_job, std::nullopt);
}

TEST_P(StoreConformance, ExpiredRequestCountsAsAbsent) {
  ASSERT_OK_AND_ASSIGN(auto created, store_->CreateRequest(Request("j", "exec-1", 10'000), 1'000));
  ASSERT_EQ(created, WriteOutcome::kApplied);
  ASSERT_OK_AND_ASSIGN(auto live, store_->ReadRequest("j", "exec-1", 9'999));
  EXPECT_NE(live, std::nullopt);
  // expires_at_ms <= now is expired.
  ASSERT_OK_AND_ASSIGN(auto expired, store_->ReadRequest("j", "exec-1", 10'000));
  EXPECT_EQ(expired, std::nullopt);

  RequestRecord fresh = Request("j", "exec-1", 20'000);
  fresh.owner = "run-2";
  ASSERT_OK_AND_ASSIGN(auto recreated, store_->CreateRequest(fresh, 10'000));
  EXPECT_EQ(recreated, WriteOutcome::kApplied);
  ASSERT_OK_AND_ASSIGN(auto read, store_->ReadRequest("j", "exec-1", 10'000));
  EXPECT_EQ(read, fresh);
}

// Store::CreateRequest: a backend without expiry of its own keeps the
// table bounded by the live records: each create takes a bounded number of
// long-expired ones with it, and never a live or recently expired one.
TEST_P(StoreConformance, CreatingARequestSweepsLongExpiredOnes) {
  if (GetParam().name == "dynamodb") GTEST_SKIP() << "DynamoDB's TTL on expires_at deletes them";
  const EpochMs now = 1'700'000'000'000;
  const int64_t old = Store::kRequestSweepBatch + 4;
  for (int64_t i = 0; i < old; ++i) {
    RequestRecord r = Request("j", fmt::format("old-{}", i), now - Store::kRequestSweepMarginMs - 60'000);
    ASSERT_OK_AND_ASSIGN(auto w, store_->CreateRequest(r, now - 2 * Store::kRequestSweepMarginMs));
    ASSERT_EQ(w, WriteOutcome::kApplied);
  }
  RequestRecord recent = Request("j", "recently-expired", now - 60'000);
  ASSERT_OK_AND_ASSIGN(auto w, store_->CreateRequest(recent, now - 2 * Store::kRequestSweepMarginMs));
  ASSERT_EQ(w, WriteOutcome::kApplied);
  auto remaining_old = [&]() {
    int64_t n = 0;
    for (int64_t i = 0; i < old; ++i) {
      auto r = store_->ReadRequest("j", fmt::format("old-{}", i), std::numeric_limits<EpochMs>::min());
      EXPECT_TRUE(r.ok());
      if (r.ok() && r->has_value()) ++n;
    }
    return n;
  };
  ASSERT_EQ(remaining_old(), old);
  ASSERT_OK_AND_ASSIGN(w, store_->CreateRequest(Request("j", "new", now + 60'000), now));
  ASSERT_EQ(w, WriteOutcome::kApplied);
  EXPECT_EQ(remaining_old(), old - Store::kRequestSweepBatch);
  ASSERT_OK_AND_ASSIGN(w, store_->CreateRequest(Request("k", "new", now + 60'000), now));
  ASSERT_EQ(w, WriteOutcome::kApplied);
  EXPECT_EQ(remaining_old(), 0);
  for (const auto& [job, key] :
       {std::pair<std::string, std::string>{"j", "recently-expired"}, {"j", "new"}, {"k", "new"}}) {
    ASSERT_OK_AND_ASSIGN(auto kept, store_->ReadRequest(job, key, std::numeric_limits<EpochMs>::min()));
    EXPECT_TRUE(kept.has_value()) << job << "/" << key;
  }
}

TEST_P(StoreConformance, ExpireRequestsDeletesExactlyTheExpiredAndCountsThem) {
  for (auto [key, expires] : {std::pair{"k1", 100}, {"k2", 200}, {"k3", 300}}) {
    ASSERT_OK_AND_ASSIGN(auto created, store_->CreateRequest(Request("j", key, expires), 0));
    ASSERT_EQ(created, WriteOutcome::kApplied);
  }
  ASSERT_OK_AND_ASSIGN(auto count, store_->ExpireRequests(200));
  EXPECT_EQ(count, 2);
  // Deleted, not merely hidden: a read "in the past" no longer finds them.
  ASSERT_OK_AND_ASSIGN(auto k1, store_->ReadRequest("j", "k1", 0));
  EXPECT_EQ(k1, std::nullopt);
  ASSERT_OK_AND_ASSIGN(auto k3, store_->ReadRequest("j", "k3", 0));
  EXPECT_NE(k3, std::nullopt);
  ASSERT_OK_AND_ASSIGN(count, store_->ExpireRequests(200));
  EXPECT_EQ(count, 0);
}

// ---- schema and many clients ---------------------------------------------------------------

TEST_P(StoreConformance, InitIsIdempotentAndKeepsData) {
  Create(Unusual("j", 4));
  ASSERT_OK(store_->Init());
  ASSERT_OK(store_->Init());
  ASSERT_OK_AND_ASSIGN(auto state, store_->ReadState("j"));
  EXPECT_EQ(state, Unusual("j", 4));
}

TEST_P(StoreConformance, AnotherClientSeesWritesAndOnlyOneCasOfAVersionWins) {
  if (!sut_.another_handle) GTEST_SKIP() << "backend has no second client";
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<Store> other, sut_.another_handle());
  Create(Idle("j", 1));
  ASSERT_OK_AND_ASSIGN(auto seen, other->ReadState("j"));
  EXPECT_EQ(seen, Idle("j", 1));

  JobState mine = Idle("j", 2);
  mine.owner = "mine";
  JobState theirs = Idle("j", 2);
  theirs.owner = "theirs";
  ASSERT_OK_AND_ASSIGN(auto first, store_->ReplaceState(mine, 1));
  ASSERT_OK_AND_ASSIGN(auto second, other->ReplaceState(theirs, 1));
  EXPECT_EQ(first, WriteOutcome::kApplied);
  EXPECT_EQ(second, WriteOutcome::kConditionFailed);
  ASSERT_OK_AND_ASSIGN(seen, other->ReadState("j"));
  EXPECT_EQ(seen, mine);
}

// Read-modify-CAS from several threads, each with its own client: every
// applied CAS must be counted exactly once (DESIGN.md invariant 2).
TEST_P(StoreConformance, ConcurrentReadCasLoopsLoseNoUpdates) {
  if (!sut_.another_handle) GTEST_SKIP() << "backend has no second client";
  constexpr int kThreads = 4;
  constexpr int kAttempts = 40;
  Create(Idle("counter", 1));
  std::vector<std::shared_ptr<Store>> handles;
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_OK_AND_ASSIGN(std::shared_ptr<Store> h, sut_.another_handle());
    handles.push_back(h);
  }
  std::atomic<int> applied{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, store = handles[t]] {
      for (int i = 0; i < kAttempts; ++i) {
        auto read = store->ReadState("counter");
        if (!read.ok() || !read->has_value()) {
          ++errors;
          continue;
        }
        JobState next = **read;
        ++next.version;
        ++next.run_count;
        ++next.success_count;
        auto outcome = store->ReplaceState(next, (*read)->version);
        if (!outcome.ok()) ++errors;
        if (outcome.ok() && *outcome == WriteOutcome::kApplied) ++applied;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(applied.load(), 0);
  ASSERT_OK_AND_ASSIGN(auto final_state, store_->ReadState("counter"));
  ASSERT_TRUE(final_state.has_value());
  EXPECT_EQ(final_state->run_count, applied.load());
  EXPECT_EQ(final_state->version, 1 + applied.load());
  EXPECT_TRUE(CountersConsistent(*final_state));
}

// ---- items written by other tools (docs/design.md) --------------------------------
//
// One rule in every backend: a foreign item is either accepted, and then a
// CAS against what was read applies (once), or refused as corrupt naming
// the job, the field and the value (the CLI's exit 2). Never accepted but
// unwritable: that was 8 lost CAS rounds, `lost_race`, exit 0, and a job
// that never ran.

ForeignValue Null() { return {ForeignValue::Kind::kNull, ""}; }
ForeignValue Number(const std::string& text) { return {ForeignValue::Kind::kNumber, text}; }
ForeignValue String(const std::string& text) { return {ForeignValue::Kind::kString, text}; }

#define REQUIRE_FOREIGN_ITEMS()                                                                        \
  if (!sut_.put_foreign_state) GTEST_SKIP() << GetParam().name << " holds only what jobgate wrote"

// A CAS at the version that was read applies, and only once.
void ExpectWritable(Store* store, const JobState& read) {
  JobState next = read;
  next.version = read.version + 1;
  next.updated_at = 1'700'000'000'000;
  ASSERT_OK_AND_ASSIGN(auto outcome, store->ReplaceState(next, read.version));
  EXPECT_EQ(outcome, WriteOutcome::kApplied) << read.job << ": accepted on read, but the CAS does not match it";
  ASSERT_OK_AND_ASSIGN(auto back, store->ReadState(read.job));
  EXPECT_EQ(back, next);
  ASSERT_OK_AND_ASSIGN(auto stale, store->ReplaceState(next, read.version));
  EXPECT_EQ(stale, WriteOutcome::kConditionFailed);
}

TEST_P(StoreConformance, ForeignItemWithOnlyAStatusIsAnIdleJobAtVersionZero) {
  REQUIRE_FOREIGN_ITEMS();
  ASSERT_OK(sut_.put_foreign_state("j", {{"status", String("IDLE")}}));
  ASSERT_OK_AND_ASSIGN(auto read, store_->ReadState("j"));
  ASSERT_EQ(read, Idle("j", 0));
  ExpectWritable(store_, *read);
}

TEST_P(StoreConformance, ForeignItemNullAttributesReadAsMissingAndTheCasMatchesThem) {
  REQUIRE_FOREIGN_ITEMS();
  ASSERT_OK(sut_.put_foreign_state("j", {{"status", String("IDLE")}, {"version", Null()}, {"run_count", Null()},
                                         {"owner", Null()}, {"next_allowed_run", Null()}}));
  ASSERT_OK_AND_ASSIGN(auto read, store_->ReadState("j"));
  ASSERT_EQ(read, Idle("j", 0));
  ExpectWritable(store_, *read);

  ASSERT_OK(sut_.put_foreign_state("k", {{"status", Null()}, {"version", Null()}}));
  ASSERT_OK_AND_ASSIGN(read, store_->ReadState("k"));
  ASSERT_EQ(read, Idle("k", 0));
  ExpectWritable(store_, *read);
}

TEST_P(StoreConformance, ForeignItemStatusIsMatchedInAnyCase) {
  REQUIRE_FOREIGN_ITEMS();
  struct Case {
    const char* stored;
    JobStatus status;
  };
  for (const Case& c : {Case{"running", JobStatus::kRunning}, Case{"Paused", JobStatus::kPaused},
                        Case{"idle", JobStatus::kIdle}, Case{"RUNNING", JobStatus::kRunning}}) {
    SCOPED_TRACE(c.stored);
    ASSERT_OK(sut_.put_foreign_state("j", {{"status", String(c.stored)}, {"version", Number("5")}}));
    ASSERT_OK_AND_ASSIGN(auto read, store_->ReadState("j"));
    ASSERT_TRUE(read.has_value());
    EXPECT_EQ(read->status, c.status);
    EXPECT_EQ(read->version, 5);
    ExpectWritable(store_, *read);
  }
}

// DynamoDB keeps {"S": "3"} a string, which `version = :v` (a number) never
// matches: refused. SQLite's INTEGER columns store the text '3' as the
// number 3 (type affinity), so there it is a number: accepted, and the CAS
// matches. Either way, never accepted but unwritable.
TEST_P(StoreConformance, ForeignItemNumberWrittenAsAStringIsRefusedOrMatchedByTheCas) {
  REQUIRE_FOREIGN_ITEMS();
  ASSERT_OK(sut_.put_foreign_state("j", {{"status", String("IDLE")}, {"version", String("3")}}));
  auto read = store_->ReadState("j");
  if (!read.ok()) {
    EXPECT_EQ(read.status().code(), StatusCode::kCorrupt);
    const std::string& msg = read.status().message();
    EXPECT_NE(msg.find("'j'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'version'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("3"), std::string::npos) << msg;
    return;
  }
  ASSERT_TRUE(read->has_value());
  EXPECT_EQ((*read)->version, 3);
  ExpectWritable(store_, **read);
}

TEST_P(StoreConformance, ForeignItemValueThatIsNoNumberOrNoStatusIsRefusedNamingJobFieldAndValue) {
  REQUIRE_FOREIGN_ITEMS();
  struct Case {
    const char* field;
    ForeignValue value;
    const char* shown;  // must be in the message
  };
  for (const Case& c : {Case{"version", String("abc"), "abc"}, Case{"run_count", Number("1.5"), "1.5"},
                        Case{"fence", Number("-2"), "-2"}, Case{"status", String("BANANA"), "BANANA"},
                        Case{"status", String(""), "\"\""}, Case{"status", Number("7"), "7"}}) {
    SCOPED_TRACE(c.field);
    ForeignItem item = {{"status", String("IDLE")}, {"version", Number("1")}};
    item[c.field] = c.value;
    // A backend whose columns are typed (PostgreSQL's bigint) refuses the
    // value when the other tool writes it: nothing is ever read back.
    const Status put = sut_.put_foreign_state("bad_job", item);
    if (put.code() == StatusCode::kInvalidArgument) continue;
    ASSERT_OK(put);
    auto read = store_->ReadState("bad_job");
    ASSERT_FALSE(read.ok()) << c.shown;
    EXPECT_EQ(read.status().code(), StatusCode::kCorrupt);
    const std::string& msg = read.status().message();
    EXPECT_NE(msg.find("'bad_job'"), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::string("'") + c.field + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.shown), std::string::npos) << msg;
    EXPECT_EQ(store_->ReadJob("bad_job", "").status().code(), StatusCode::kCorrupt);
    EXPECT_EQ(store_->ListStates().status().code(), StatusCode::kCorrupt);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreConformance, ::testing::ValuesIn(StoreFactories()),
                         [](const ::testing::TestParamInfo<NamedStoreFactory>& info) { return info.param.name; });

}  // namespace
}  // namespace jobgate::testing
