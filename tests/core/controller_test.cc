#include "jobgate/controller.h"
#include "core/random.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

#include "core/gate.h"
#include "store/conformance.h"  // ASSERT_OK_AND_ASSIGN
#include "store/memory_store.h"

namespace jobgate {
namespace {

constexpr int64_t kSec = 1000;

// A store wrapper that fails chosen calls, optionally after applying them
// (the "500 after the write landed" case).
class FlakyStore final : public StoreWrapper {
 public:
  explicit FlakyStore(Store& inner) : StoreWrapper(inner) {}
  int fail_next_writes = 0;
  bool apply_before_failing = false;
  int fail_next_reads = 0;
  int resend_next_writes = 0;
  int fail_next_request_writes = 0;
  // State and run record in one write (SQLite, memory, DynamoDB with
  // transactions) rather than the run record after the CAS.
  bool atomic_commits = false;
  // Runs once, right after the next write applied and before its answer
  // returns: another invocation acting in between.
  std::function<void()> after_next_write;
  // A remote store's clock, as its answers place it (set reports_time).
  bool reports_time = false;
  std::optional<ClockEstimate> clock;
  bool ReportsTime() const override { return reports_time; }
  std::optional<ClockEstimate> ObservedClock() const override { return clock; }
  void PlaceClock(int64_t offset_ms, int64_t uncertainty_ms) {
    reports_time = true;
    clock = ClockEstimate{offset_ms, uncertainty_ms};
  }

  Result<std::optional<JobState>> ReadState(const std::string& j) override {
    if (fail_next_reads > 0 && fail_next_reads--) return Status::Unavailable("injected read fault");
    return target().ReadState(j);
  }
  // Through the faults here: the contract's two-call defaults.
  Result<JobRecord> ReadJob(const std::string& j, const std::string& key) override { return Store::ReadJob(j, key); }
  Result<std::optional<JobDefinition>> ReadDefinition(const std::string& j) override {
    if (fail_next_reads > 0 && fail_next_reads--) return Status::Unavailable("injected read fault");
    return target().ReadDefinition(j);
  }
  // Request reads: the next ones fail (Unavailable), and those of one key
  // always find a record that cannot be decoded.
  int fail_next_request_reads = 0;
  std::string corrupt_request_key;
  Result<std::optional<RequestRecord>> ReadRequest(const std::string& j, const std::string& key,
                                                   EpochMs now) override {
    if (!corrupt_request_key.empty() && key == corrupt_request_key) {
      return Status::Corrupt("request '" + key + "': field 'version' holds \"abc\", not an integer");
    }
    if (fail_next_request_reads > 0 && fail_next_request_reads--) return Status::Unavailable("injected read fault");
    return target().ReadRequest(j, key, now);
  }
  Result<WriteOutcome> CreateRequest(const RequestRecord& r, EpochMs n) override {
    if (fail_next_request_writes > 0 && fail_next_request_writes--) return Status::Unavailable("injected fault");
    return Write([&] { return target().CreateRequest(r, n); });
  }
  Result<WriteOutcome> ReplaceRequest(const RequestRecord& r, int64_t v) override {
    if (fail_next_request_writes > 0 && fail_next_request_writes--) return Status::Unavailable("injected fault");
    return Write([&] { return target().ReplaceRequest(r, v); });
  }

 protected:
  Result<WriteOutcome> DoCreateState(const JobState& s, std::optional<EpochMs>) override {
    return Write([&] { return target().CreateState(s); });
  }
  Result<WriteOutcome> DoReplaceState(const JobState& s, int64_t v, std::optional<EpochMs>) override {
    return Write([&] { return target().ReplaceState(s, v); });
  }
  Result<WriteOutcome> DoReplaceStateAndAppendRun(const JobState& s, int64_t v, std::optional<EpochMs> due,
                                                  const RunRecord& r) override {
    if (atomic_commits) return Write([&] { return target().ReplaceStateAndAppendRun(s, v, r); });
    // As DynamoDB without transactions: the run record follows the CAS,
    // only when the CAS answered "applied" (through DoReplaceState's faults).
    return Store::DoReplaceStateAndAppendRun(s, v, due, r);
  }

 private:
  template <typename F>
  Result<WriteOutcome> Write(F f) {
    if (resend_next_writes > 0) {
      --resend_next_writes;
      (void)f();     // the first copy lands; its response is lost ...
      Interleave();  // (others may act meanwhile)
      return f();    // ... and the client's silent re-send loses the CAS to it
    }
    if (fail_next_writes > 0) {
      --fail_next_writes;
      if (apply_before_failing) {
        (void)f();
        Interleave();
      }
      return Status::Unavailable("injected write fault");
    }
    auto r = f();
    Interleave();
    return r;
  }
  void Interleave() {
    if (!after_next_write) return;
    auto hook = std::move(after_next_write);
    after_next_write = nullptr;
    hook();
  }
};

class ControllerTest : public ::testing::Test {
 protected:
  MemoryStore store_;
  ManualClock clock_;
  SeededRandom random_{42};
  Controller controller_{store_, clock_, random_};

  RunRequest Req(const std::string& job = "j") {
    RunRequest r;
    r.job = job;
    r.holder = "test:1";
    return r;
  }
  JobState State(const std::string& job = "j") {
    auto s = store_.ReadState(job);
    EXPECT_TRUE(s.ok());
    EXPECT_TRUE(s->has_value());
    EXPECT_TRUE(CountersConsistent(**s)) << "counter invariant";
    return **s;
  }
  Lease MustAcquire(Controller& c, const RunRequest& r) {
    auto a = c.Acquire(r);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    EXPECT_TRUE(a->lease.has_value()) << "skipped: " << SkipReasonName(a->outcome.reason);
    return *a->lease;
  }
  SkipReason MustSkip(Controller& c, const RunRequest& r) {
    auto a = c.Acquire(r);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    EXPECT_FALSE(a->lease.has_value());
    EXPECT_EQ(a->outcome.kind, RunOutcomeKind::kSkipped);
    return a->outcome.reason;
  }
  static WorkResult Ok() { return {}; }
  static WorkResult Fail(int code, std::string err) { return {WorkResult::Kind::kFailed, code, std::move(err)}; }
};

TEST_F(ControllerTest, FirstRunCreatesStateAndSucceeds) {
  Lease lease = MustAcquire(controller_, Req());
  EXPECT_EQ(lease.fence(), 1);
  EXPECT_EQ(State().status, JobStatus::kRunning);
  auto out = controller_.Commit(lease, Ok());
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->kind, RunOutcomeKind::kSucceeded);
  JobState s = State();
  EXPECT_EQ(s.status, JobStatus::kIdle);
  EXPECT_EQ(s.run_count, 1);
  EXPECT_EQ(s.success_count, 1);
  EXPECT_EQ(s.last_success_ts, clock_.NowMs());
  EXPECT_TRUE(s.owner.empty());
}

TEST_F(ControllerTest, SkipPathIsOneReadAndNoWrite) {
  Lease lease = MustAcquire(controller_, Req());
  Controller other(store_, clock_, random_);
  auto a = other.Acquire(Req());
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->outcome.reason, SkipReason::kRunning);
  EXPECT_EQ(a->outcome.store_reads, 1);
  EXPECT_EQ(a->outcome.store_writes, 0);
}

TEST_F(ControllerTest, SecondInvokerSkipsWhileFirstHoldsLease) {
  Lease lease = MustAcquire(controller_, Req());
  Controller other(store_, clock_, random_);
  clock_.Advance(59 * kSec);
  EXPECT_EQ(MustSkip(other, Req()), SkipReason::kRunning);
}

TEST_F(ControllerTest, CooldownGatesUntilNextAllowedRun) {
  RunRequest r = Req();
  r.overrides.cooldown_ms = 3600 * kSec;
  Lease lease = MustAcquire(controller_, r);
  ASSERT_TRUE(controller_.Commit(lease, Ok()).ok());
  EXPECT_EQ(State().next_allowed_run, clock_.NowMs() + 3600 * kSec);
  clock_.Advance(3600 * kSec - 1);
  EXPECT_EQ(MustSkip(controller_, r), SkipReason::kCooldown);
  clock_.Advance(1);
  MustAcquire(controller_, r);
}

TEST_F(ControllerTest, FailureRecordsErrorAndBacksOff) {
  JobDefinition def;
  def.job = "j";
  def.backoff_base_ms = 10 * kSec;
  def.backoff_cap_ms = 100 * kSec;
  ASSERT_TRUE(store_.PutDefinition(def).ok());
  for (int n = 1; n <= 6; ++n) {
    Lease lease = MustAcquire(controller_, Req());
    auto out = controller_.Commit(lease, Fail(3, "boom"));
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(out->kind, RunOutcomeKind::kFailed);
    JobState s = State();
    EXPECT_EQ(s.consecutive_failures, n);
    EXPECT_EQ(s.last_error, "boom");
    EXPECT_EQ(s.last_exit_code, 3);
    int64_t ceiling = std::min<int64_t>(100 * kSec, 10 * kSec << (n - 1));
    EXPECT_GE(s.next_allowed_run, clock_.NowMs());
    EXPECT_LE(s.next_allowed_run, clock_.NowMs() + ceiling);
    clock_.Advance(ceiling);
  }
  Lease lease = MustAcquire(controller_, Req());
  ASSERT_TRUE(controller_.Commit(lease, Ok()).ok());
  EXPECT_EQ(State().consecutive_failures, 0);
  EXPECT_EQ(State().failure_count, 6);
}

TEST_F(ControllerTest, ParksAfterConsecutiveFailuresAndResumeClearsTheStreak) {
  JobDefinition def;
  def.job = "j";
  def.park_after = 2;
  def.backoff_base_ms = 0;
  def.backoff_cap_ms = 0;
  ASSERT_TRUE(store_.PutDefinition(def).ok());
  for (int i = 0; i < 2; ++i) {
    Lease lease = MustAcquire(controller_, Req());
    ASSERT_TRUE(controller_.Commit(lease, Fail(1, "x")).ok());
  }
  EXPECT_EQ(State().status, JobStatus::kPaused);
  EXPECT_EQ(State().paused_reason, "parked after 2 consecutive failures");
  EXPECT_EQ(MustSkip(controller_, Req()), SkipReason::kPaused);
  ASSERT_TRUE(controller_.Resume("j").ok());
  EXPECT_EQ(State().consecutive_failures, 0);
  MustAcquire(controller_, Req());
}

TEST_F(ControllerTest, TakeOverAfterLeasePlusSkewCountsAbandoned) {
  RunRequest r = Req();
  r.overrides.lease_ms = 2 * kSec;
  r.overrides.max_clock_skew_ms = 1 * kSec;
  Lease dead = MustAcquire(controller_, r);
  Controller other(store_, clock_, random_);
  clock_.Advance(3 * kSec);  // lease + skew exactly: still presumed alive
  EXPECT_EQ(MustSkip(other, r), SkipReason::kRunning);
  clock_.Advance(1);
  Lease lease = MustAcquire(other, r);
  EXPECT_EQ(lease.fence(), 2);
  EXPECT_EQ(lease.took_over_fence(), dead.fence());
  EXPECT_EQ(lease.took_over_cause(), TakeoverCause::kLeaseExpired);
  EXPECT_EQ(dead.took_over_fence(), 0);
  EXPECT_EQ(State().abandoned_count, 1);
  // The dead holder's heartbeat and commit are rejected.
  auto hb = controller_.Heartbeat(dead);
  ASSERT_TRUE(hb.ok());
  EXPECT_EQ(*hb, HeartbeatResult::kLost);
  auto late = controller_.Commit(dead, Ok());
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(late->kind, RunOutcomeKind::kLeaseLost);
  ASSERT_OK_AND_ASSIGN(Outcome done, other.Commit(lease, Ok()));
  EXPECT_EQ(done.took_over_fence, dead.fence());
  EXPECT_EQ(done.took_over_cause, TakeoverCause::kLeaseExpired);
  EXPECT_EQ(late->took_over_fence, 0);
  JobState s = State();
  EXPECT_EQ(s.run_count, 2);
  EXPECT_EQ(s.success_count, 1);
  EXPECT_EQ(s.abandoned_count, 1);
  auto runs = store_.ListRuns("j", 10);
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 2u);
  EXPECT_EQ((*runs)[1].outcome, RecordedOutcome::kAbandoned);
  EXPECT_EQ((*runs)[1].run_id, dead.run_id());
  EXPECT_NE((*runs)[1].error.find("taken over by fence 2"), std::string::npos) << (*runs)[1].error;
}

// A host 3 s ahead of the store, placing its clock to +-600 ms: it takes
// over only once the earliest the store's clock can read is past the lease
// and the allowance, whatever its own clock says.
TEST_F(ControllerTest, AHostAheadOfTheStoreTakesOverOnlyOnTheStoresEarliestTime) {
  FlakyStore ahead(store_);
  Controller c(ahead, clock_, random_);
  RunRequest r = Req();
  r.overrides.lease_ms = 2 * kSec;
  r.overrides.max_clock_skew_ms = 1 * kSec;
  const EpochMs t0 = clock_.NowMs();
  MustAcquire(controller_, r);  // a host on the store's time: lease_until = t0 + 2 s
  ahead.PlaceClock(3 * kSec, 600);
  clock_.Set(t0 + 3 * kSec + 600 + 3 * kSec);  // earliest store time = t0 + 3 s = lease_until + skew
  auto a = c.Acquire(r);
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(a->lease.has_value());
  EXPECT_EQ(a->outcome.reason, SkipReason::kRunning);
  EXPECT_EQ(a->outcome.clock_offset_ms, 3 * kSec);
  EXPECT_EQ(a->outcome.clock_uncertainty_ms, 600);
  EXPECT_TRUE(a->outcome.clock_skew_exceeded);  // reported: 3 s is beyond NTP's share
  clock_.Advance(1);
  Lease lease = MustAcquire(c, r);
  EXPECT_EQ(lease.fence(), 2);
  EXPECT_EQ(State().last_run_ts, clock_.NowMs() - 3 * kSec);  // stamped in the store's time
}

// A host 5 s behind the store publishes its lease in the store's time,
// from the latest the store's clock may read, and stops on its own clock.
TEST_F(ControllerTest, AHostBehindTheStorePublishesItsLeaseInTheStoresTime) {
  FlakyStore behind(store_);
  Controller c(behind, clock_, random_);
  RunRequest r = Req();
  r.overrides.lease_ms = 6 * kSec;
  r.overrides.max_clock_skew_ms = 2 * kSec;
  behind.PlaceClock(-5 * kSec, 400);
  Lease lease = MustAcquire(c, r);
  EXPECT_EQ(lease.lease_until(), clock_.NowMs() + 6 * kSec);                   // its own deadline
  EXPECT_EQ(State().lease_until, clock_.NowMs() + 5 * kSec + 400 + 6 * kSec);  // what others judge by
  EXPECT_EQ(State().last_run_ts, clock_.NowMs() + 5 * kSec);
  clock_.Advance(2 * kSec);
  auto hb = c.Heartbeat(lease);
  ASSERT_TRUE(hb.ok());
  EXPECT_EQ(*hb, HeartbeatResult::kExtended);
  EXPECT_EQ(lease.lease_until(), clock_.NowMs() + 6 * kSec);
  EXPECT_EQ(State().lease_until, clock_.NowMs() + 5 * kSec + 400 + 6 * kSec);
  // Its cooldown counts from the latest store time too.
  ASSERT_TRUE(c.Commit(lease, WorkResult{WorkResult::Kind::kSucceeded, 0, ""}).ok());
}

TEST_F(ControllerTest, CooldownAndRateStampsCountTheUncertaintyOnTheSafeSide) {
  FlakyStore remote(store_);
  Controller c(remote, clock_, random_);
  RunRequest r = Req();
  r.overrides.cooldown_ms = 10 * kSec;
  remote.PlaceClock(0, 700);
  Lease lease = MustAcquire(c, r);
  ASSERT_TRUE(c.Commit(lease, WorkResult{WorkResult::Kind::kSucceeded, 0, ""}).ok());
  EXPECT_EQ(State().next_allowed_run, clock_.NowMs() + 700 + 10 * kSec);
  EXPECT_EQ(State().last_success_ts, clock_.NowMs());
  // Another host, as uncertain, waits until its earliest reading passes it.
  clock_.Advance(10 * kSec + 1'399);
  auto early = c.Acquire(r);
  ASSERT_TRUE(early.ok());
  EXPECT_EQ(early->outcome.reason, SkipReason::kCooldown);
  clock_.Advance(1);
  MustAcquire(c, r);
}

TEST_F(ControllerTest, RefusesToActWhenTheStoreReportsTimeButNoneCouldBeRead) {
  FlakyStore remote(store_);
  Controller c(remote, clock_, random_);
  remote.reports_time = true;  // ... but no answer carried a Date header
  auto a = c.Acquire(Req());
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(a.status().message().find("cannot place its clock"), std::string::npos) << a.status().message();
  auto state = store_.ReadState("j");
  ASSERT_TRUE(state.ok());
  EXPECT_FALSE(state->has_value());  // nothing written
}

TEST_F(ControllerTest, RefusesToActOnAClockPlacedMoreLooselyThanALease) {
  FlakyStore remote(store_);
  Controller c(remote, clock_, random_);
  RunRequest r = Req();
  r.overrides.lease_ms = 4 * kSec;
  remote.PlaceClock(0, 4 * kSec + 1);
  auto a = c.Acquire(r);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(a.status().message().find("within 4001 ms"), std::string::npos) << a.status().message();
  remote.PlaceClock(0, 4 * kSec);
  MustAcquire(c, r);
}

// The request claim applies, but its answer comes back long after the lease
// ran out; meanwhile the job was taken over and a duplicate delivery of the
// request ran and completed. Acquire must not grant the stale lease (the
// request would run twice). Found by the soak (invariant 6).
TEST_F(ControllerTest, AcquireThatHangsPastItsLeaseAfterATakeoverDoesNotRun) {
  FlakyStore slow(store_);
  Controller c(slow, clock_, random_);
  Controller other(store_, clock_, random_);
  RunRequest r = Req();
  r.request_id = "evt-1";
  r.overrides.lease_ms = 2 * kSec;
  r.overrides.max_clock_skew_ms = kSec;
  slow.after_next_write = [&] {    // the acquiring CAS applied ...
    slow.after_next_write = [&] {  // ... and so did the claim, whose answer hangs
      clock_.Advance(5 * kSec);
      Lease taker = MustAcquire(other, r);
      ASSERT_TRUE(other.Commit(taker, Ok()).ok());
    };
  };
  auto a = c.Acquire(r);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_FALSE(a->lease.has_value());
  EXPECT_EQ(a->outcome.reason, SkipReason::kLostRace);
  JobState s = State();
  EXPECT_EQ(s.success_count, 1);
  EXPECT_EQ(s.fence, 2);
}

// The same hang with nobody acting meanwhile: the lease is renewed (a CAS
// on the version the acquisition wrote) and the run goes ahead.
TEST_F(ControllerTest, AcquireThatHangsPastItsLeaseWithNobodyActingRenewsIt) {
  FlakyStore slow(store_);
  Controller c(slow, clock_, random_);
  RunRequest r = Req();
  r.request_id = "evt-2";
  r.overrides.lease_ms = 2 * kSec;
  slow.after_next_write = [&] {
    slow.after_next_write = [&] { clock_.Advance(5 * kSec); };
  };
  auto a = c.Acquire(r);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(a->lease.has_value());
  EXPECT_EQ(a->lease->lease_until(), clock_.NowMs() + 2 * kSec);
  EXPECT_EQ(State().lease_until, clock_.NowMs() + 2 * kSec);
  EXPECT_EQ(a->lease->fence(), 1);
}

// A lease nearly over is as bad as one over: work started on its last
// moments would run past it before the first heartbeat. An acquisition that
// took a heartbeat interval (lease / 3) or more renews before it is granted.
TEST_F(ControllerTest, AcquireThatTookAHeartbeatIntervalRenewsTheLeaseFirst) {
  FlakyStore slow(store_);
  Controller c(slow, clock_, random_);
  RunRequest r = Req();
  r.overrides.lease_ms = 3 * kSec;
  slow.after_next_write = [&] { clock_.Advance(kSec); };  // the acquiring CAS answers a second late
  Lease lease = MustAcquire(c, r);
  EXPECT_EQ(lease.lease_until(), clock_.NowMs() + 3 * kSec);
  EXPECT_EQ(State().lease_until, clock_.NowMs() + 3 * kSec);
  EXPECT_EQ(State().version, 2);  // acquired, then renewed
}

TEST_F(ControllerTest, HeartbeatExtendsLease) {
  Lease lease = MustAcquire(controller_, Req());
  clock_.Advance(20 * kSec);
  auto hb = controller_.Heartbeat(lease);
  ASSERT_TRUE(hb.ok());
  EXPECT_EQ(*hb, HeartbeatResult::kExtended);
  EXPECT_EQ(State().lease_until, clock_.NowMs() + 60 * kSec);
}

TEST_F(ControllerTest, SlotIsClaimedOnce) {
  RunRequest r = Req();
  r.slot = 1'000'000;
  Lease lease = MustAcquire(controller_, r);
  ASSERT_TRUE(controller_.Commit(lease, Ok()).ok());
  EXPECT_EQ(MustSkip(controller_, r), SkipReason::kSlotDone);
  r.slot = 999'999;  // an older slot delivered late
  EXPECT_EQ(MustSkip(controller_, r), SkipReason::kSlotDone);
  r.slot = 1'000'001;
  MustAcquire(controller_, r);
  EXPECT_EQ(State().last_slot, 1'000'001);
}

TEST_F(ControllerTest, RequestIdRunsOnceAndRepeatsAreDuplicates) {
  RunRequest r = Req();
  r.request_id = "exec-1";
  Lease lease = MustAcquire(controller_, r);
  Controller other(store_, clock_, random_);
  EXPECT_EQ(MustSkip(other, r), SkipReason::kDuplicate);  // in progress
  ASSERT_TRUE(controller_.Commit(lease, Fail(7, "bad")).ok());
  clock_.Advance(24 * 3600 * kSec);
  auto again = other.Acquire(r);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outcome.reason, SkipReason::kDuplicate);
  ASSERT_TRUE(again->outcome.previous.has_value());
  EXPECT_EQ(again->outcome.previous->outcome, RecordedOutcome::kFailed);
  EXPECT_EQ(again->outcome.previous->exit_code, 7);
  r.request_id = "exec-2";
  MustAcquire(other, r);
}

TEST_F(ControllerTest, RequestOfADeadHolderIsTakenOver) {
  RunRequest r = Req();
  r.request_id = "exec-1";
  r.overrides.lease_ms = 2 * kSec;
  MustAcquire(controller_, r);
  clock_.Advance(10 * kSec);
  Controller other(store_, clock_, random_);
  Lease lease = MustAcquire(other, r);
  ASSERT_TRUE(other.Commit(lease, Ok()).ok());
  EXPECT_EQ(MustSkip(other, r), SkipReason::kDuplicate);
  EXPECT_EQ(State().abandoned_count, 1);
}

TEST_F(ControllerTest, RequestCompletedByAStaleHolderRollsBackTheNewAcquisition) {
  RunRequest r = Req();
  r.request_id = "exec-1";
  r.overrides.lease_ms = 2 * kSec;
  Lease a = MustAcquire(controller_, r);
  clock_.Advance(10 * kSec);
  // B takes over the state but has not yet claimed the request when A's
  // completion lands: B must give the acquisition back.
  RequestRecord done = **store_.ReadRequest("j", "exec-1", clock_.NowMs());
  done.status = RequestStatus::kCompleted;
  done.version += 1;
  done.expires_at_ms = clock_.NowMs() + 3600 * kSec;
  ASSERT_EQ(*store_.ReplaceRequest(done, done.version - 1), WriteOutcome::kApplied);
  Controller other(store_, clock_, random_);
  EXPECT_EQ(MustSkip(other, r), SkipReason::kDuplicate);
  JobState s = State();
  EXPECT_EQ(s.status, JobStatus::kRunning);  // A's dead run is still recorded as running
  EXPECT_GE(s.fence, 1);
}

// The commit's CAS applies, its answer is lost, and before the re-read
// another invocation acquires the now IDLE job: the run was counted, and
// Commit must say so (it recognises its own last_fence), not lease_lost.
TEST_F(ControllerTest, CommitRecognisesItsAppliedCommitAfterAnotherAcquired) {
  FlakyStore flaky(store_);
  Controller c(flaky, clock_, random_);
  Lease lease = MustAcquire(c, Req());
  Controller other(store_, clock_, random_);
  flaky.fail_next_writes = 1;
  flaky.apply_before_failing = true;
  flaky.after_next_write = [&] { MustAcquire(other, Req()); };
  auto out = c.Commit(lease, Ok());
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->kind, RunOutcomeKind::kSucceeded);
  JobState s = State();
  EXPECT_EQ(s.success_count, 1);
  EXPECT_EQ(s.last_fence, lease.fence());
  EXPECT_EQ(s.fence, lease.fence() + 1);
}

// The same, but the other invocation also commits before the re-read: a
// later commit has overwritten ours, so whether ours applied is unknown
// from the state. Commit says so (an error), never lease_lost ("not
// counted") for a run that was counted.
TEST_F(ControllerTest, CommitWhoseAnswerWasLostAndOverwrittenIsReportedUnknown) {
  FlakyStore flaky(store_);
  Controller c(flaky, clock_, random_);
  Lease lease = MustAcquire(c, Req());
  Controller other(store_, clock_, random_);
  flaky.fail_next_writes = 1;
  flaky.apply_before_failing = true;
  flaky.after_next_write = [&] {
    Lease l = MustAcquire(other, Req());
    ASSERT_TRUE(other.Commit(l, Ok()).ok());
  };
  auto out = c.Commit(lease, Ok());
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(out.status().message().find("unknown"), std::string::npos) << out.status().ToString();
  EXPECT_EQ(State().success_count, 2);
}

// The run commits but its request's completion never lands: the state's
// last_request_id still makes every duplicate a duplicate (with the stored
// outcome), and the next commit writes the missing completion.
TEST_F(ControllerTest, RequestIsDoneWhenItsCompletionWriteIsLost) {
  FlakyStore flaky(store_);
  Controller c(flaky, clock_, random_);
  RunRequest r = Req();
  r.request_id = "exec-1";
  Lease lease = MustAcquire(c, r);
  flaky.fail_next_request_writes = 1;
  auto out = c.Commit(lease, Fail(3, "boom"));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->kind, RunOutcomeKind::kFailed);
  auto rec = store_.ReadRequest("j", "exec-1", clock_.NowMs());
  ASSERT_TRUE(rec.ok() && rec->has_value());
  EXPECT_EQ((*rec)->status, RequestStatus::kInProgress);  // the completion was lost
  EXPECT_EQ(State().last_request_id, "exec-1");

  clock_.Advance(3600 * kSec);  // past the backoff
  Controller other(store_, clock_, random_);
  auto dup = other.Acquire(r);
  ASSERT_TRUE(dup.ok());
  EXPECT_EQ(dup->outcome.reason, SkipReason::kDuplicate);
  ASSERT_TRUE(dup->outcome.previous.has_value());
  EXPECT_EQ(dup->outcome.previous->outcome, RecordedOutcome::kFailed);
  EXPECT_EQ(dup->outcome.previous->exit_code, 3);

  r.request_id = "exec-2";
  Lease next = MustAcquire(other, r);
  ASSERT_TRUE(other.Commit(next, Ok()).ok());
  rec = store_.ReadRequest("j", "exec-1", clock_.NowMs());
  ASSERT_TRUE(rec.ok() && rec->has_value());
  EXPECT_EQ((*rec)->status, RequestStatus::kCompleted);
  EXPECT_EQ((*rec)->outcome, RecordedOutcome::kFailed);
  r.request_id = "exec-1";
  EXPECT_EQ(MustSkip(other, r), SkipReason::kDuplicate);
}

// Run A commits with request exec-1, and its completion is lost: the state
// alone (last_request_id) says exec-1 is done. Then run B, with no request,
// commits over it. A's record cannot be completed first (`break_record`
// makes it unreadable). B's commit must land all the same (B succeeded; it
// must not be left RUNNING to be counted abandoned), and exec-1 must stay
// done: B's state keeps naming it until a later commit settles its record.
void CommitOverAnUnsettledRequest(ManualClock& clock, MemoryStore& store,
                                  const std::function<void(FlakyStore&)>& break_record) {
  SeededRandom random(7);
  FlakyStore flaky(store);
  Controller c(flaky, clock, random);
  RunRequest r;
  r.job = "j";
  r.holder = "test:1";
  r.request_id = "exec-1";
  auto a = c.Acquire(r);
  ASSERT_TRUE(a.ok() && a->lease) << a.status().ToString();
  flaky.fail_next_request_writes = 1;  // A's completion is lost
  ASSERT_TRUE(c.Commit(*a->lease, {WorkResult::Kind::kFailed, 3, "boom"}).ok());
  clock.Advance(3600 * kSec);  // past the backoff

  r.request_id.clear();
  auto b = c.Acquire(r);
  ASSERT_TRUE(b.ok() && b->lease) << b.status().ToString();
  break_record(flaky);
  auto out = c.Commit(*b->lease, {});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->kind, RunOutcomeKind::kSucceeded);
  JobState s = **store.ReadState("j");
  EXPECT_EQ(s.status, JobStatus::kIdle);
  EXPECT_EQ(s.success_count, 1);
  EXPECT_EQ(s.failure_count, 1);
  EXPECT_EQ(s.abandoned_count, 0);
  EXPECT_TRUE(s.last_request_id.empty());
  EXPECT_NE(s.unsettled_requests.find("exec-1"), std::string::npos) << s.unsettled_requests;

  // Invariant 6: exec-1's record still says INPROGRESS, but it ran and was
  // counted, so a duplicate is a duplicate, with the stored outcome.
  Controller other(store, clock, random);
  r.request_id = "exec-1";
  auto dup = other.Acquire(r);
  ASSERT_TRUE(dup.ok()) << dup.status().ToString();
  EXPECT_EQ(dup->outcome.reason, SkipReason::kDuplicate);
  ASSERT_TRUE(dup->outcome.previous.has_value());
  EXPECT_EQ(dup->outcome.previous->outcome, RecordedOutcome::kFailed);
  EXPECT_EQ(dup->outcome.previous->exit_code, 3);

  // Once the record can be written, the next commit completes it and the
  // state stops naming it.
  r.request_id.clear();
  auto next = other.Acquire(r);
  ASSERT_TRUE(next.ok() && next->lease) << next.status().ToString();
  ASSERT_TRUE(other.Commit(*next->lease, {}).ok());
  EXPECT_TRUE((**store.ReadState("j")).unsettled_requests.empty());
  auto rec = store.ReadRequest("j", "exec-1", clock.NowMs());
  ASSERT_TRUE(rec.ok() && rec->has_value());
  EXPECT_EQ((*rec)->status, RequestStatus::kCompleted);
  EXPECT_EQ((*rec)->outcome, RecordedOutcome::kFailed);
  r.request_id = "exec-1";
  auto again = other.Acquire(r);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outcome.reason, SkipReason::kDuplicate);
}

TEST_F(ControllerTest, ACorruptPreviousRequestRecordNeverBlocksTheCommit) {
  CommitOverAnUnsettledRequest(clock_, store_, [](FlakyStore& f) { f.corrupt_request_key = "exec-1"; });
}

TEST_F(ControllerTest, APreviousRequestRecordThatCannotBeReadNeverBlocksTheCommit) {
  CommitOverAnUnsettledRequest(clock_, store_, [](FlakyStore& f) { f.fail_next_request_reads = 3; });
}

// A acquires; before it claims the request it stalls past its lease, and B
// takes over and claims the same request. A must not claim over B's newer
// claim: it gives up (lost_race) and B's claim stands.
TEST_F(ControllerTest, StaleAcquirerNeverClaimsOverANewerClaim) {
  FlakyStore flaky(store_);
  Controller a(flaky, clock_, random_);
  Controller b(store_, clock_, random_);
  RunRequest r = Req();
  r.request_id = "exec-1";
  r.overrides.lease_ms = 2 * kSec;
  std::optional<Lease> b_lease;
  flaky.after_next_write = [&] {  // right after A's state CAS
    clock_.Advance(10 * kSec);
    b_lease = MustAcquire(b, r);
  };
  auto acq = a.Acquire(r);
  ASSERT_TRUE(acq.ok()) << acq.status().ToString();
  EXPECT_FALSE(acq->lease.has_value());
  EXPECT_EQ(acq->outcome.reason, SkipReason::kLostRace);
  ASSERT_TRUE(b_lease.has_value());
  auto rec = store_.ReadRequest("j", "exec-1", clock_.NowMs());
  ASSERT_TRUE(rec.ok() && rec->has_value());
  EXPECT_EQ((*rec)->owner, b_lease->run_id());
  EXPECT_EQ(State().owner, b_lease->run_id());
  ASSERT_TRUE(b.Commit(*b_lease, Ok()).ok());
  EXPECT_EQ(MustSkip(b, r), SkipReason::kDuplicate);
}

// Request record versions come from the fence, so a claim made afresh after
// the record expired never reuses a version an older run conditions on.
TEST_F(ControllerTest, RequestVersionsNeverRepeatAfterExpiry) {
  JobDefinition def;
  def.job = "j";
  def.request_ttl_ms = 5 * kSec;
  ASSERT_TRUE(store_.PutDefinition(def).ok());
  RunRequest r = Req();
  r.request_id = "exec-1";
  // The version of the claim a run holds, as stored (now 0: expired too).
  auto claim_version = [&] {
    auto rec = store_.ReadRequest("j", "exec-1", 0);
    return rec.ok() && *rec ? (*rec)->version : -1;
  };
  Lease first = MustAcquire(controller_, r);
  const int64_t first_claim = claim_version();
  ASSERT_TRUE(controller_.Commit(first, Ok()).ok());
  clock_.Advance(60 * kSec);  // the record expired
  Lease second = MustAcquire(controller_, r);
  const int64_t second_claim = claim_version();
  EXPECT_GT(second_claim, first_claim + 1);
  EXPECT_EQ(second_claim, 2 * second.fence());
}

// A request's record (and the commit naming it) expires by its writer's
// clock; another host allows max_clock_skew before it counts it expired, as
// it does for leases, so a clock ahead never runs a live request again.
TEST_F(ControllerTest, ARequestCountsAsExpiredOnlyAfterItsTtlPlusTheSkewAllowance) {
  JobDefinition def;
  def.job = "j";
  def.request_ttl_ms = 5 * kSec;
  def.max_clock_skew_ms = 2 * kSec;
  ASSERT_TRUE(store_.PutDefinition(def).ok());
  RunRequest r = Req();
  r.request_id = "exec-1";
  Lease first = MustAcquire(controller_, r);
  ASSERT_TRUE(controller_.Commit(first, Ok()).ok());
  clock_.Advance(5 * kSec + 2 * kSec - 1);  // past the ttl, within the allowance: still live
  ASSERT_EQ(MustSkip(controller_, r), SkipReason::kDuplicate);
  clock_.Advance(1);  // expired: expires_at + allowance <= now
  EXPECT_EQ(MustAcquire(controller_, r).fence(), 2);
}

TEST_F(ControllerTest, RateLimitHoldsInEverySlidingWindow) {
  JobDefinition def;
  def.job = "j";
  def.rate_limit_count = 2;
  def.rate_limit_window_ms = 60 * kSec;
  ASSERT_TRUE(store_.PutDefinition(def).ok());
  for (int i = 0; i < 2; ++i) {
    Lease lease = MustAcquire(controller_, Req());
    ASSERT_TRUE(controller_.Commit(lease, Ok()).ok());
    clock_.Advance(10 * kSec);
  }
  auto a = controller_.Acquire(Req());
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->outcome.reason, SkipReason::kRateLimited);
  EXPECT_EQ(a->outcome.next_allowed_run, clock_.NowMs() - 20 * kSec + 60 * kSec);
  clock_.Advance(40 * kSec);  // the first acquisition leaves the window
  MustAcquire(controller_, Req());
}

TEST_F(ControllerTest, PauseWhileRunningLetsHolderCommitAndStaysPaused) {
  Lease lease = MustAcquire(controller_, Req());
  ASSERT_TRUE(controller_.Pause("j", "maintenance").ok());
  EXPECT_EQ(State().status, JobStatus::kRunning);
  auto hb = controller_.Heartbeat(lease);  // the version moved; still ours
  ASSERT_TRUE(hb.ok());
  EXPECT_EQ(*hb, HeartbeatResult::kExtended);
  auto out = controller_.Commit(lease, Ok());
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->kind, RunOutcomeKind::kSucceeded);
  EXPECT_EQ(State().status, JobStatus::kPaused);
  EXPECT_EQ(State().paused_reason, "maintenance");
  EXPECT_EQ(MustSkip(controller_, Req()), SkipReason::kPaused);
  ASSERT_TRUE(controller_.Resume("j").ok());
  MustAcquire(controller_, Req());
}

TEST_F(ControllerTest, TriggerClearsTheWait) {
  RunRequest r = Req();
  r.overrides.cooldown_ms = 3600 * kSec;
  Lease lease = MustAcquire(controller_, r);
  ASSERT_TRUE(controller_.Commit(lease, Ok()).ok());
  ASSERT_TRUE(controller_.Trigger("j").ok());
  MustAcquire(controller_, r);
}

TEST_F(ControllerTest, UnlockFreesARunningJobAndCountsAbandoned) {
  Lease lease = MustAcquire(controller_, Req());
  ASSERT_TRUE(controller_.Unlock("j").ok());
  JobState s = State();
  EXPECT_EQ(s.status, JobStatus::kIdle);
  EXPECT_EQ(s.abandoned_count, 1);
  auto late = controller_.Commit(lease, Ok());
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(late->kind, RunOutcomeKind::kLeaseLost);
  EXPECT_EQ(State().success_count, 0);
  auto runs = store_.ListRuns("j", 10);
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0].outcome, RecordedOutcome::kAbandoned);
  EXPECT_NE((*runs)[0].error.find("jobgate unlock"), std::string::npos) << (*runs)[0].error;
}

// The unlock applies but its answer is lost, and another invocation acquires
// the freed job before the retry: the retry must not release that new run.
TEST_F(ControllerTest, UnlockRetryNeverReleasesTheNextRun) {
  FlakyStore flaky(store_);
  Controller op(flaky, clock_, random_);
  Lease first = MustAcquire(controller_, Req());
  Controller other(store_, clock_, random_);
  std::optional<Lease> second;
  flaky.fail_next_writes = 1;
  flaky.apply_before_failing = true;
  flaky.after_next_write = [&] { second = MustAcquire(other, Req()); };
  auto released = op.Unlock("j");
  ASSERT_TRUE(released.ok()) << released.status().ToString();
  EXPECT_EQ(*released, first.fence());
  ASSERT_TRUE(second.has_value());
  JobState s = State();
  EXPECT_EQ(s.status, JobStatus::kRunning);
  EXPECT_EQ(s.owner, second->run_id());
  EXPECT_EQ(s.abandoned_count, 1);
  // An explicit fence that no longer holds the job releases nothing.
  auto none = controller_.Unlock("j", first.fence());
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0);
  EXPECT_EQ(State().owner, second->run_id());
}

TEST_F(ControllerTest, OperatorCommandsOnUnknownJobSayNotFound) {
  EXPECT_EQ(controller_.Resume("nope").code(), StatusCode::kNotFound);
  EXPECT_EQ(controller_.Trigger("nope").code(), StatusCode::kNotFound);
  EXPECT_EQ(controller_.Unlock("nope").status().code(), StatusCode::kNotFound);
}

TEST_F(ControllerTest, AcquireWriteThatFailedButAppliedIsRecognised) {
  FlakyStore flaky(store_);
  Controller c(flaky, clock_, random_);
  flaky.fail_next_writes = 1;
  flaky.apply_before_failing = true;
  Lease lease = MustAcquire(c, Req());
  EXPECT_EQ(State().owner, lease.run_id());
  EXPECT_EQ(State().run_count, 1);
}

TEST_F(ControllerTest, AcquireResentByTheClientIsRecognisedAsOurs) {
  FlakyStore flaky(store_);
  Controller c(flaky, clock_, random_);
  flaky.resend_next_writes = 1;
  Lease lease = MustAcquire(c, Req());
  EXPECT_EQ(State().owner, lease.run_id());
  EXPECT_EQ(State().run_count, 1);
  ASSERT_TRUE(c.Commit(lease, Ok()).ok());
  EXPECT_EQ(State().success_count, 1);
}

TEST_F(ControllerTest, CommitResentByTheClientIsRecognisedAsOurs) {
  FlakyStore flaky(store_);
  Controller c(flaky, clock_, random_);
  Lease lease = MustAcquire(c, Req());
  flaky.resend_next_writes = 1;
  auto out = c.Commit(lease, Ok());
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->kind, RunOutcomeKind::kSucceeded);
  EXPECT_EQ(State().success_count, 1);
}

// The re-sent copy's conflict hides an applied commit, and before the
// re-read another run acquired and committed: last_fence no longer names
// ours. Sent within our lease, nobody could have taken the job from us, so
// the commit may well have applied: "unknown", never lease_lost ("not
// counted"). Found by the simulation (contention seed 3490).
TEST_F(ControllerTest, CommitAnsweredConflictByItsOwnResentCopyAfterALaterCommitIsUnknown) {
  FlakyStore flaky(store_);
  Controller c(flaky, clock_, random_);
  Lease lease = MustAcquire(c, Req());
  flaky.resend_next_writes = 1;
  flaky.after_next_write = [&] {
    Lease later = MustAcquire(controller_, Req());
    ASSERT_TRUE(controller_.Commit(later, Ok()).ok());
  };
  auto out = c.Commit(lease, Ok());
  ASSERT_FALSE(out.ok()) << RunOutcomeName(out->kind);
  EXPECT_EQ(out.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(out.status().message().find("unknown"), std::string::npos) << out.status().message();
  EXPECT_EQ(State().success_count, 2);  // ours and the later one: both counted
}

TEST_F(ControllerTest, CommitWriteThatFailedButAppliedIsRecognised) {
  FlakyStore flaky(store_);
  Controller c(flaky, clock_, random_);
  Lease lease = MustAcquire(c, Req());
  flaky.fail_next_writes = 1;
  flaky.apply_before_failing = true;
  auto out = c.Commit(lease, Ok());
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->kind, RunOutcomeKind::kSucceeded);
  EXPECT_EQ(State().success_count, 1);
}

// The commits above are recognised on the re-read. A store that writes the
// run record after the CAS (DynamoDB without transactions) never wrote it,
// as the CAS answered an error or a conflict: the history `jobgate history`
// shows must still hold the run, once.
TEST_F(ControllerTest, CommitRecognisedOnReReadWritesItsRunRecordOnce) {
  for (const bool atomic : {false, true}) {
    for (const bool resent : {false, true}) {
      MemoryStore store;
      FlakyStore flaky(store);
      flaky.atomic_commits = atomic;
      Controller c(flaky, clock_, random_);
      Lease lease = MustAcquire(c, Req());
      if (resent) {
        flaky.resend_next_writes = 1;  // applied, then the copy answers "condition failed"
      } else {
        flaky.fail_next_writes = 1;  // applied, then answered Unavailable
        flaky.apply_before_failing = true;
      }
      auto out = c.Commit(lease, Fail(3, "boom"));
      ASSERT_TRUE(out.ok()) << out.status().ToString();
      EXPECT_EQ(out->kind, RunOutcomeKind::kFailed);
      auto runs = store.ListRuns("j", 10);
      ASSERT_TRUE(runs.ok());
      ASSERT_EQ(runs->size(), 1u) << "atomic " << atomic << ", resent " << resent;
      EXPECT_EQ((*runs)[0].run_id, lease.run_id());
      EXPECT_EQ((*runs)[0].fence, lease.fence());
      EXPECT_EQ((*runs)[0].outcome, RecordedOutcome::kFailed);
      EXPECT_EQ((*runs)[0].exit_code, 3);
    }
  }
}

TEST_F(ControllerTest, StoreDownFailsClosed) {
  FlakyStore flaky(store_);
  Controller c(flaky, clock_, random_);
  flaky.fail_next_reads = 1;
  auto a = c.Acquire(Req());
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kUnavailable);
  EXPECT_FALSE(store_.ReadState("j")->has_value());
}

TEST_F(ControllerTest, PersistentWriteFailureReportsUnavailable) {
  FlakyStore flaky(store_);
  Controller c(flaky, clock_, random_);
  flaky.fail_next_writes = 100;
  auto a = c.Acquire(Req());
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kUnavailable);
}

// A store whose state CAS never applies although nobody writes (a version
// attribute of another type, a trigger, a read that is not strongly
// consistent), unless `interfere` is set: then another writer moves the
// version first and the CAS loses a real race.
class RefusingStore final : public StoreWrapper {
 public:
  using StoreWrapper::StoreWrapper;
  std::function<void()> interfere;

 protected:
  Result<WriteOutcome> DoCreateState(const JobState& s, std::optional<EpochMs>) override {
    return Refuse([&] { return target().CreateState(s); });
  }
  Result<WriteOutcome> DoReplaceState(const JobState& s, int64_t v, std::optional<EpochMs>) override {
    return Refuse([&] { return target().ReplaceState(s, v); });
  }

 private:
  template <typename F>
  Result<WriteOutcome> Refuse(F write) {
    if (!interfere) return WriteOutcome::kConditionFailed;
    interfere();
    return write();
  }
};

// Every CAS round lost while the item never changed: nobody won, so this is
// no race but a store or item that refuses the condition. The outcome says
// so (contended, with the cause) instead of passing for a normal skip.
TEST_F(ControllerTest, AcquireThatLosesEveryRoundToNobodyIsReportedContended) {
  Lease first = MustAcquire(controller_, Req());
  ASSERT_TRUE(controller_.Commit(first, Ok()).ok());
  clock_.Advance(kSec);
  RefusingStore refusing(store_);
  Controller c(refusing, clock_, random_);
  auto a = c.Acquire(Req());
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_FALSE(a->lease.has_value());
  EXPECT_EQ(a->outcome.reason, SkipReason::kLostRace);
  EXPECT_TRUE(a->outcome.contended);
  EXPECT_NE(a->outcome.error.find("every CAS round lost to nobody: 8 attempts, state version 2 never matched"),
            std::string::npos)
      << a->outcome.error;
  EXPECT_EQ(a->outcome.store_writes, 8 + 1);  // the eight CAS rounds, and the run record saying so
  auto runs = store_.ListRuns("j", 1);
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ(runs->front().outcome, RecordedOutcome::kContended);
  EXPECT_EQ(runs->front().error, a->outcome.error);
  // A job with no state item that can never be created: the same.
  auto fresh = c.Acquire(Req("new"));
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  EXPECT_TRUE(fresh->outcome.contended);
  EXPECT_NE(fresh->outcome.error.find("(no state item)"), std::string::npos) << fresh->outcome.error;
}

// Losing every round to writers that changed the item (here another writer
// moving the version before each CAS) is a race, and stays a normal
// lost_race skip.
TEST_F(ControllerTest, AcquireThatLosesEveryRoundToOtherWritersIsANormalLostRace) {
  Lease first = MustAcquire(controller_, Req());
  ASSERT_TRUE(controller_.Commit(first, Ok()).ok());
  RefusingStore racing(store_);
  racing.interfere = [&] {
    JobState s = State();
    s.version += 1;
    s.updated_at += 1;
    ASSERT_EQ(*store_.ReplaceState(s, s.version - 1), WriteOutcome::kApplied);
  };
  Controller c(racing, clock_, random_);
  auto a = c.Acquire(Req());
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_FALSE(a->lease.has_value());
  EXPECT_EQ(a->outcome.reason, SkipReason::kLostRace);
  EXPECT_FALSE(a->outcome.contended);
  EXPECT_TRUE(a->outcome.error.empty()) << a->outcome.error;
}

// A store whose state writes can be made to hang (a heartbeat stuck in a
// busy_timeout or a frozen connection) and that counts them. Thread-safe.
class HangingStore final : public StoreWrapper {
 public:
  using StoreWrapper::StoreWrapper;
  void Hang(bool on) {
    {
      std::lock_guard lock(mu_);
      hang_ = on;
    }
    cv_.notify_all();
  }
  // Waits (up to 10 s) until `n` state writes have been made; false if not.
  bool WaitForStateWrites(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return state_writes_ >= n; });
  }
  int hung() {
    std::lock_guard lock(mu_);
    return hung_;
  }

 protected:
  Result<WriteOutcome> DoReplaceState(const JobState& s, int64_t v, std::optional<EpochMs>) override {
    {
      std::unique_lock lock(mu_);
      ++state_writes_;
      if (hang_) {
        ++hung_;
        cv_.notify_all();
        cv_.wait(lock, [&] { return !hang_; });
      }
    }
    cv_.notify_all();
    return target().ReplaceState(s, v);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool hang_ = false;
  int state_writes_ = 0;
  int hung_ = 0;
};

TEST_F(ControllerTest, LibraryRunHeartbeatsAndCommits) {
  SystemClock real;
  HangingStore counting(store_);
  Controller c(counting, real, random_);
  RunRequest r = Req("lib");
  r.overrides.lease_ms = 1'200;  // a heartbeat every 400 ms
  auto out = c.Run(r, [&](const Lease& lease, const std::atomic<bool>& stop) {
    EXPECT_EQ(lease.fence(), 1);
    EXPECT_TRUE(counting.WaitForStateWrites(2)) << "two heartbeats within 10 s";
    EXPECT_FALSE(stop.load());
    return WorkResult{};
  });
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->kind, RunOutcomeKind::kSucceeded);
  JobState s = State("lib");
  EXPECT_GE(s.version, 4);  // acquire (a create), >= 2 heartbeats, commit
  EXPECT_EQ(s.success_count, 1);
}

// The library path has the CLI's guarantee: the work is told to stop by the
// end of the holder's own lease, even while a heartbeat hangs in the store.
TEST_F(ControllerTest, LibraryRunStopsTheWorkByTheLeaseEndWhileAHeartbeatHangs) {
  SystemClock real;
  HangingStore hanging(store_);
  Controller c(hanging, real, random_);
  RunRequest r = Req("lib");
  r.overrides.lease_ms = 1'500;  // beats every 500 ms; stop asked 250 ms before the end
  EpochMs lease_until = 0;
  EpochMs stopped_at = 0;
  int hung_at_stop = 0;
  auto out = c.Run(r, [&](const Lease& lease, const std::atomic<bool>& stop) {
    lease_until = lease.lease_until();
    hanging.Hang(true);  // every heartbeat from now on blocks in the store
    while (!stop.load() && real.NowMs() < lease_until + 10'000) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    stopped_at = real.NowMs();
    hung_at_stop = hanging.hung();
    hanging.Hang(false);  // let the beat return, so Run can commit
    return WorkResult{WorkResult::Kind::kFailed, 75, "stopped"};
  });
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_GE(hung_at_stop, 1) << "a heartbeat was hanging in the store when the work was stopped";
  EXPECT_LT(stopped_at, lease_until) << "told to stop " << stopped_at - lease_until << " ms after the lease end";
  EXPECT_EQ(out->kind, RunOutcomeKind::kFailed) << "nobody took over: the result still counts";
  EXPECT_EQ(State("lib").failure_count, 1);
}

TEST(Backoff, FullJitterWithinCeilingAndCapped) {
  SeededRandom random(7);
  for (int64_t n = 1; n < 70; ++n) {
    int64_t ceiling = n < 20 ? std::min<int64_t>(20'000, 1000LL << (n - 1)) : 20'000;
    for (int i = 0; i < 50; ++i) {
      int64_t b = BackoffMs(n, 1000, 20'000, random);
      EXPECT_GE(b, 0);
      EXPECT_LE(b, ceiling);
    }
  }
  EXPECT_EQ(BackoffMs(0, 1000, 20'000, random), 0);
}

TEST(Gate, TakeOverOnlyAfterLeasePlusSkew) {
  JobDefinition def;
  def.max_clock_skew_ms = 500;
  JobState s;
  s.status = JobStatus::kRunning;
  s.lease_until = 10'000;
  EXPECT_EQ(Gate(s, def, std::nullopt, 10'500).skip, SkipReason::kRunning);
  GateDecision g = Gate(s, def, std::nullopt, 10'501);
  EXPECT_EQ(g.skip, SkipReason::kNone);
  EXPECT_TRUE(g.takeover);
}

// ---- scheduled invocations (tick, serve): slots, catch-up, overlap ---------------

class ScheduledTest : public ControllerTest {
 protected:
  static constexpr int64_t kMin = 60 * kSec;
  static constexpr EpochMs kT = 30'000'000 * kMin;  // a fire time of rate(1 minute)

  void SetUp() override {
    clock_.Set(kT - 10 * kSec);
    JobDefinition def;
    def.job = "j";
    def.schedule = "rate(1 minute)";
    def.command = {"true"};
    ASSERT_OK_AND_ASSIGN(EpochMs next, controller_.Apply(def));
    EXPECT_EQ(next, kT);
  }
  void Define(const std::function<void(JobDefinition&)>& change) {
    ASSERT_OK_AND_ASSIGN(auto def, store_.ReadDefinition("j"));
    ASSERT_TRUE(def.has_value());
    change(*def);
    ASSERT_TRUE(controller_.Apply(*def).ok());
  }
  RunRequest Scheduled() {
    RunRequest r = Req();
    r.scheduled = true;
    return r;
  }
  std::vector<RunRecord> Runs() {
    auto runs = store_.ListRuns("j", 100);
    EXPECT_TRUE(runs.ok());
    return *runs;
  }
};

TEST_F(ScheduledTest, ApplyPlacesTheScheduleInTheDueIndex) {
  ASSERT_OK_AND_ASSIGN(auto due, store_.ListDue(kT, 10));
  EXPECT_EQ(due, (std::vector<DueJob>{{"j", kT}}));
  EXPECT_EQ(State().next_fire_ts, kT);
  // Applied again unchanged, it keeps its place; removed, it leaves the index.
  clock_.Set(kT + 5 * kMin);
  Define([](JobDefinition&) {});
  EXPECT_EQ(State().next_fire_ts, kT);
  Define([](JobDefinition& d) { d.schedule.clear(); });
  EXPECT_EQ(State().next_fire_ts, 0);
  ASSERT_OK_AND_ASSIGN(due, store_.ListDue(kT + 10 * kMin, 10));
  EXPECT_TRUE(due.empty());
}

TEST_F(ScheduledTest, TheDueSlotIsClaimedInTheAcquiringWrite) {
  EXPECT_EQ(MustSkip(controller_, Scheduled()), SkipReason::kSlotDone);  // not due yet: no write
  clock_.Set(kT + 2 * kSec);
  Lease lease = MustAcquire(controller_, Scheduled());
  EXPECT_EQ(lease.slot(), kT);
  JobState s = State();
  EXPECT_EQ(s.last_slot, kT);
  EXPECT_EQ(s.next_fire_ts, kT + kMin);
  EXPECT_EQ(s.version, 2);  // apply, then the acquisition: one write claims the slot
  ASSERT_TRUE(controller_.Commit(lease, Ok()).ok());
  ASSERT_OK_AND_ASSIGN(auto due, store_.ListDue(kT + 2 * kSec, 10));
  EXPECT_TRUE(due.empty());
}

TEST_F(ScheduledTest, ASecondFiringOfAClaimedSlotIsCountedDeduplicated) {
  clock_.Set(kT + 2 * kSec);
  SeededRandom other_random{7};
  Controller other(store_, clock_, other_random);
  Lease lease = MustAcquire(controller_, Scheduled());
  ASSERT_TRUE(controller_.Commit(lease, Ok()).ok());
  clock_.Set(kT + 3 * kSec);
  EXPECT_EQ(MustSkip(other, Scheduled()), SkipReason::kSlotDone);
  EXPECT_EQ(State().slots_deduplicated, 1);
  EXPECT_EQ(State().run_count, 1);
  EXPECT_EQ(Runs().front().outcome, RecordedOutcome::kDeduplicated);
  // A duplicate delivery of `run --slot` stays the one-read skip path.
  RunRequest dup = Req();
  dup.slot = kT;
  const int64_t version = State().version;
  auto skipped = other.Acquire(dup);
  ASSERT_TRUE(skipped.ok());
  EXPECT_EQ(skipped->outcome.reason, SkipReason::kSlotDone);
  EXPECT_EQ(skipped->outcome.store_writes, 0);
  EXPECT_EQ(State().version, version);
}

// Found by the simulation (schedules class, seed 8): a scheduler
// whose clock is ahead (or a store whose time this host places within an
// uncertainty) fires the next slot a moment before this host's earliest
// reading reaches it. That firing is early, not a second firing of the slot
// claimed before: it writes nothing and counts nothing, and the slot runs
// once it is due.
TEST_F(ScheduledTest, AnEarlyFiringOfTheNextSlotIsNotCountedDeduplicated) {
  clock_.Set(kT + 2 * kSec);
  Lease lease = MustAcquire(controller_, Scheduled());
  ASSERT_TRUE(controller_.Commit(lease, Ok()).ok());
  const JobState committed = State();
  clock_.Set(kT + kMin - kSec);  // fired by a scheduler 1 s ahead; max_clock_skew is 2 s
  SeededRandom other_random{7};
  Controller other(store_, clock_, other_random);
  EXPECT_EQ(MustSkip(other, Scheduled()), SkipReason::kSlotDone);
  EXPECT_EQ(State(), committed);  // slots_deduplicated 0, nothing written
  clock_.Set(kT + kMin);
  Lease next = MustAcquire(other, Scheduled());
  EXPECT_EQ(next.slot(), kT + kMin);
  EXPECT_EQ(State().slots_deduplicated, 0);
}

// A state write that times out unapplied and lands later, just before the
// caller's next write (a request delayed in the network); the re-read in
// between takes `advance_ms` of the caller's clock.
class LateFirstStateWrite final : public StoreWrapper {
 public:
  LateFirstStateWrite(Store& inner, ManualClock& clock, int64_t advance_ms)
      : StoreWrapper(inner), clock_(clock), advance_ms_(advance_ms) {}
  Result<std::optional<JobState>> ReadState(const std::string& j) override {
    if (late_) clock_.Set(clock_.NowMs() + std::exchange(advance_ms_, 0));
    return target().ReadState(j);
  }

 protected:
  Result<WriteOutcome> DoReplaceState(const JobState& s, int64_t v, std::optional<EpochMs>) override {
    if (!sent_) {
      sent_ = true;
      late_ = std::make_pair(s, v);
      return Status::Unavailable("timed out");
    }
    if (late_) (void)target().ReplaceState(late_->first, late_->second);
    late_.reset();
    return target().ReplaceState(s, v);
  }

 private:
  ManualClock& clock_;
  int64_t advance_ms_;
  bool sent_ = false;
  std::optional<std::pair<JobState, int64_t>> late_;
};

// Found by the simulation (schedules class, seed 491): the acquiring write
// times out and lands late, after the re-read; the next round, its clock
// now past the next fire time, plans that slot, and its write loses to the
// first one, which the re-read recognises as ours (our owner and fence).
// The lease named the second round's slot while the store had claimed the
// first round's: the run went under a slot still due (to be run again by
// the next scheduler), and the claimed one under another's name.
TEST_F(ScheduledTest, ALateAcquiringWriteGivesTheLeaseTheSlotTheStoreClaimed) {
  clock_.Set(kT + kMin - kSec / 2);  // kT is the latest due slot; after the re-read, kT + 1 min is
  LateFirstStateWrite late(store_, clock_, kSec);
  SeededRandom late_random{7};
  Controller c(late, clock_, late_random);
  Lease lease = MustAcquire(c, Scheduled());
  EXPECT_EQ(State().last_slot, kT);
  EXPECT_EQ(State().next_fire_ts, kT + kMin);
  EXPECT_EQ(lease.slot(), kT);
}

TEST_F(ScheduledTest, DowntimeRunsTheLatestSlotOnceAndRecordsTheMissed) {
  clock_.Set(kT + 5 * kMin + kSec);
  Lease lease = MustAcquire(controller_, Scheduled());
  EXPECT_EQ(lease.slot(), kT + 5 * kMin);
  JobState s = State();
  EXPECT_EQ(s.slots_missed, 5);
  EXPECT_EQ(s.next_fire_ts, kT + 6 * kMin);
  ASSERT_FALSE(Runs().empty());
  EXPECT_EQ(Runs().front().outcome, RecordedOutcome::kMissed);
  EXPECT_EQ(Runs().front().slot, kT);
}

TEST_F(ScheduledTest, SlotsPastTheStartingDeadlineAreMissedWithoutRunning) {
  Define([](JobDefinition& d) { d.starting_deadline_ms = 30 * kSec; });
  clock_.Set(kT + 45 * kSec);
  EXPECT_EQ(MustSkip(controller_, Scheduled()), SkipReason::kMissed);
  JobState s = State();
  EXPECT_EQ(s.slots_missed, 1);
  EXPECT_EQ(s.run_count, 0);
  EXPECT_EQ(s.next_fire_ts, kT + kMin);
}

TEST_F(ScheduledTest, OverlapSkipRecordsTheSlotAndLeavesTheRunAlone) {
  Define([](JobDefinition& d) { d.lease_ms = 10 * kMin; });
  clock_.Set(kT + kSec);
  Lease lease = MustAcquire(controller_, Scheduled());
  clock_.Set(kT + kMin + kSec);
  SeededRandom other_random{7};
  Controller other(store_, clock_, other_random);
  EXPECT_EQ(MustSkip(other, Scheduled()), SkipReason::kRunning);
  JobState s = State();
  EXPECT_EQ(s.slots_skipped, 1);
  EXPECT_EQ(s.next_fire_ts, kT + 2 * kMin);
  EXPECT_EQ(s.owner, lease.run_id());
  EXPECT_EQ(Runs().front().outcome, RecordedOutcome::kSkipped);
  ASSERT_OK_AND_ASSIGN(auto hb, controller_.Heartbeat(lease));
  EXPECT_EQ(hb, HeartbeatResult::kExtended);
  ASSERT_OK_AND_ASSIGN(auto done, controller_.Commit(lease, Ok()));
  EXPECT_EQ(done.kind, RunOutcomeKind::kSucceeded);
  EXPECT_EQ(State().slots_skipped, 1);
}

TEST_F(ScheduledTest, OverlapReplaceTakesTheJobFromTheLiveHolder) {
  Define([](JobDefinition& d) {
    d.lease_ms = 10 * kMin;
    d.overlap = Overlap::kReplace;
  });
  clock_.Set(kT + kSec);
  Lease old = MustAcquire(controller_, Scheduled());
  clock_.Set(kT + kMin + kSec);
  SeededRandom other_random{7};
  Controller other(store_, clock_, other_random);
  Lease lease = MustAcquire(other, Scheduled());
  EXPECT_EQ(lease.slot(), kT + kMin);
  EXPECT_GT(lease.fence(), old.fence());
  EXPECT_EQ(lease.took_over_fence(), old.fence());
  EXPECT_EQ(lease.took_over_cause(), TakeoverCause::kReplaced);
  EXPECT_EQ(State().abandoned_count, 1);
  ASSERT_OK_AND_ASSIGN(auto hb, controller_.Heartbeat(old));
  EXPECT_EQ(hb, HeartbeatResult::kLost);
  bool replaced = false;
  for (const RunRecord& r : Runs())
    replaced |= r.outcome == RecordedOutcome::kAbandoned && r.error.find("overlap = replace") != std::string::npos;
  EXPECT_TRUE(replaced);
}

TEST_F(ScheduledTest, AScheduledInvocationOfAJobWithoutScheduleIsABadRequest) {
  Define([](JobDefinition& d) { d.schedule.clear(); });
  auto a = controller_.Acquire(Scheduled());
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(a.status().message().find("no schedule"), std::string::npos);
}

}  // namespace
}  // namespace jobgate
