// The invariant checker of the simulation (DESIGN.md "Invariants"). It sees
// three things and cross-checks them:
//   - every store write that applied, with the item it replaced
//     (RecordingStore), validated as one of the DESIGN.md transitions
//     computed from the item really stored (checker_writes.cc): a write
//     computed from a stale read is a lost update;
//   - what each controller call reported, with the store as it was before
//     the call and the host's clock around it (checker.cc);
//   - the holders: who believes it holds which lease, and whether it is
//     working (acquired, not stopped, own clock < its lease_until).
// Where each invariant is checked:
//   1 one holder:  CheckExclusion after every step, EvictOwner at each
//                  takeover, OnResourceWrite (the fenced resource),
//                  CheckInvokerWrite (a stale holder's write never applies)
//   2 no lost update: CheckCommonWrite and the transition checks, OnCommit
//   3 one run per slot: CheckAcquisition, CheckGrant; for scheduled
//                  invocations (checker_slots.cc) CheckScheduledClaim,
//                  CheckBookkeeping and CheckSlotAdvance at each write,
//                  OnListDue (the due index), CheckSlotsAccounted at the end
//   4 the gate: CheckAcquisition, CheckRateLimit
//   5 liveness: CheckSkipJustified (no skip the stored state does not
//               justify, e.g. "running" past lease_until + max_clock_skew),
//               OnCrash
//   6 requests: OnRequestWrite, CheckGrant
//   7 reported only once persisted: CheckGrant, OnHeartbeat, OnCommit, and
//     errors only when a store fault was injected
// The first violation stops the run; kBeyondSkew runs may keep going after
// mutual-exclusion violations (they are the expected result there).
// Single-threaded, like the whole simulation.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "jobgate/controller.h"
#include "jobgate/job.h"
#include "jobgate/store.h"
#include "schedule/schedule.h"
#include "sim/sim_store.h"
#include "sim/sim_world.h"

namespace jobgate::sim {

enum class ActorKind { kInvoker, kOperator };
enum class OperatorOp { kNone, kPause, kResume, kTrigger, kUnlock, kApply };
const char* OperatorOpName(OperatorOp op);

// One controller call as the checker needs to judge it.
struct CallContext {
  int actor = -1;
  int job = -1;
  EpochMs clock_start = 0;         // the host's clock when the call began ...
  EpochMs clock_end = 0;           // ... and when it returned
  bool interleaved = false;        // other actors acted during the call
  bool faulted = false;            // a store fault was injected into this call
  bool resent_conflict = false;    // ... and one was a write that applied but was answered kConditionFailed
  std::optional<JobState> state_before;        // the stored state before the call
  std::optional<RequestRecord> request_before; // the stored request record before the call
  int64_t interleave_mark = 0;
  int64_t fault_mark = 0;
  int64_t resent_mark = 0;
};

struct Violation {
  int invariant = 0;  // DESIGN.md invariant number; 0 = the harness itself
  std::string what;
};

// Controller bugs this checker has found are named here while they are
// open (none is now; each fixed one is held in place by a SimRegression
// test). With CheckerOptions::tolerate_known_bugs a named bug is counted (and
// its first example kept) instead of stopping the run, so the suite can stay
// green while a newly found bug waits for its fix; its SimRegression test
// replays the seed strictly meanwhile.

struct CheckerOptions {
  bool tolerate_exclusion = false;   // kBeyondSkew: count invariant-1 violations and go on
  bool tolerate_known_bugs = false;
};

struct KnownBugExample {
  Violation violation;
  std::string trace;
  int64_t step = 0;  // steps (nested ones too) before it showed: smaller is a shorter reproduction
};

class Checker final : public WriteObserver {
 public:
  Checker(const SimTime& time, Store& truth, Trace& trace, std::vector<JobDefinition> defs,
          CheckerOptions options);

  // `clock`: set when the store reports its time to this actor; says what
  // the actor's controller last used (FaultyStore::last_view), and what an
  // honest estimate would say.
  struct ClockSource {
    std::function<std::optional<ClockEstimate>()> last_view;
    std::function<std::optional<ClockEstimate>()> honest;
  };
  void AddActor(int actor, ActorKind kind, int64_t skew_ms, std::optional<ClockSource> clock = std::nullopt);

  // Writes that applied (from RecordingStore).
  void OnStateWrite(const StateWrite& w) override;
  void OnRequestWrite(const RequestWrite& w) override;
  void OnWriteDelayed(int actor, int64_t token) override;

  // What hosts did and what the controller told them.
  // `scheduled`: a scheduled invocation (RunRequest::scheduled).
  void BeginInvocation(int actor, int job, bool scheduled = false);
  void EndInvocation(int actor);
  void BeginOperatorOp(int actor, OperatorOp op, int job);
  void OnAcquire(const CallContext& c, const RunRequest& req, const Result<Acquisition>& r);
  void OnHeartbeat(const CallContext& c, const Lease& lease, const Result<HeartbeatResult>& r);
  void OnCommit(const CallContext& c, const Lease& lease, const WorkResult& work, const Result<Outcome>& r);
  void OnOperator(const CallContext& c, OperatorOp op, const Status& s);
  // A ticker's ListDue(now_ms, limit) answered `got`, with nobody acting
  // since: it must be the due index DueAt() computes from the states.
  void OnListDue(EpochMs now_ms, size_t limit, const std::vector<DueJob>& got);
  void OnStopped(int actor);  // the holder stopped working (self-fenced, lost, done)
  void OnCrash(int actor);
  // The holder writes to the downstream fenced resource with its fence.
  void OnResourceWrite(int actor);
  // After every step, top level or interleaved.
  void AfterStep();
  // Once the run is over: the store holds exactly what the recorded writes say.
  void AtEnd();
  void set_step(int64_t step) { step_ = step; }

  bool stopped() const { return first_.has_value(); }
  const std::optional<Violation>& first() const { return first_; }
  const std::optional<Violation>& first_exclusion() const { return first_exclusion_; }
  int64_t exclusion_violations() const { return exclusion_violations_; }
  const std::map<std::string, int64_t>& counters() const { return counters_; }
  std::string trace_at_violation() const { return trace_at_violation_; }
  std::string trace_at_exclusion() const { return trace_at_exclusion_; }
  const std::map<std::string, KnownBugExample>& known_bugs() const { return known_bugs_; }

 private:
  struct Holder {
    int job = -1;
    std::string run_id;
    int64_t fence = 0;
    EpochMs lease_until = 0;  // as the holder knows it (Lease::lease_until)
    bool stopped = false;
    bool evicted = false;     // force-unlocked by the operator: fenced out by design
  };
  // An actor's placing of the store's clock: its store time reads its own
  // clock minus `offset`, within +-`u`. {0, 0} for an actor whose store
  // does not report time (it uses its own clock).
  struct ClockView {
    int64_t offset = 0;
    int64_t u = 0;
  };
  struct ActorTrack {
    ActorKind kind = ActorKind::kInvoker;
    int64_t skew_ms = 0;
    std::optional<ClockSource> clock;
    ClockView write_view;  // the view behind its last state write
    int job = -1;
    bool scheduled = false;  // its current invocation is a scheduled one
    // The last acquisition this invoker's current invocation wrote (it may
    // not know yet: a lost response).
    std::string log_run;
    int64_t log_fence = 0;
    std::optional<Holder> holder;
    OperatorOp op = OperatorOp::kNone;
    int op_job = -1;
    int op_writes = 0;
    // Bumped whenever an invocation or operator action begins or ends: a
    // late write is judged by the call that sent it.
    int64_t epoch = 0;
  };
  // A late write on its way: the track of its sender as of sending it.
  struct DelayedWrite {
    int64_t epoch = 0;
    ActorTrack sender;
    ClockView view;  // its clock view when it sent the write
  };
  struct RunTrack {
    int job = -1;
    int actor = -1;
    int64_t fence = 0;
    std::optional<std::string> committed;  // "succeeded" / "failed" once its commit applied
    bool evicted = false;          // unlocked by the operator
    bool taken_over_live = false;  // taken over while its own clock said its lease was live
    std::string request_id;        // the request it was granted for, if any
    int64_t claim_version = 0;     // version of its INPROGRESS request record
    EpochMs local_start = 0;       // its acquirer's own clock when it stamped the acquisition
    EpochMs rate_stamp = 0;        // the rate limiter's stamp its acquisition wrote
    bool request_completed = false;  // its COMPLETED request record was written
    EpochMs slot = 0;              // the schedule slot its (scheduled) acquisition claimed
  };
  struct JobTrack {
    JobDefinition def;
    std::optional<JobState> last;              // as of the last recorded write
    int64_t logged_success = 0;
    int64_t logged_failure = 0;
    std::map<int64_t, JobState> acquired_from;  // fence -> the state its acquisition replaced
    std::set<EpochMs> granted_slots;
    std::multiset<EpochMs> granted_stamps;     // start times (acquirer's clock) of granted leases
    int64_t resource_fence = 0;                // highest fence the fenced resource has seen
    std::map<std::string, RequestRecord> completed;  // request key -> COMPLETED record
    // request key -> (fence, end) of a counted run of it: that request is done
    std::map<std::string, std::pair<int64_t, EpochMs>> counted_requests;
    bool rate_evicted_newer = false;      // the limiter dropped a stamp newer than one it kept
    std::optional<Schedule> schedule;     // a scheduled job's
    EpochMs placed = 0;                   // the first fire time `apply` placed: owed from here on
    std::set<EpochMs> claimed_slots;      // slots claimed by acquisitions in the store (net of rollbacks)
  };

  // Records a violation; `known_bug` names it when it is one of the above.
  void Fail(int invariant, std::string what, const char* known_bug = nullptr);
  EpochMs ClockOf(int actor) const { return time_.now() + actors_.at(actor).skew_ms; }
  // The view the actor's controller last used.
  ClockView ViewOf(int actor) const;
  // An actor's clock reading `local`, as the earliest / latest store time
  // its current view allows.
  EpochMs EarliestAt(int actor, EpochMs local) const;
  EpochMs LatestAt(int actor, EpochMs local) const;
  // How far the view a controller gated with may differ from the one the
  // actor's store shows now (answers during the call refine it): 0 for an
  // actor on its own clock.
  int64_t ViewSlack(int actor) const;
  bool Working(const ActorTrack& a) const;
  int JobIndex(const std::string& name) const;
  std::optional<JobState> TrueState(int job) const;
  std::optional<RequestRecord> TrueRequest(int job, const std::string& key) const;

  // The track a write is judged by: the writer's own, or for a late write
  // whose call is over, the track its call had (its run, its operator action).
  ActorTrack& WriterTrack(int actor, int64_t delayed);

  // Transition validation (one DESIGN.md row each).
  void CheckCommonWrite(const JobTrack& j, const StateWrite& w, const JobState& before);
  void CheckInvokerWrite(int job, ActorTrack& a, const StateWrite& w, const JobState& before);
  void CheckAcquisition(int job, ActorTrack& a, const StateWrite& w, const JobState& before);
  void NoteAcquisition(int job, ActorTrack& a, const StateWrite& w, const JobState& before, EpochMs slot);
  void CheckStoreTimeAcquisition(const ActorTrack& a, const StateWrite& w, const JobState& before);
  void NoteRateEviction(JobTrack& j, const JobState& before, const JobState& after, EpochMs stamp);
  void CheckHeartbeatWrite(const JobTrack& j, const ClockView& view, const StateWrite& w, const JobState& before);
  void CheckCommitWrite(JobTrack& j, const ClockView& view, const StateWrite& w, const JobState& before);
  void CheckRollback(JobTrack& j, const StateWrite& w, const JobState& before);
  void CheckOperatorWrite(int job, ActorTrack& a, const StateWrite& w, const std::optional<JobState>& before);
  // `by_design`: taken by the operator (unlock) or by a scheduled run of
  // an overlap = replace job: the holder is fenced out on purpose.
  void EvictOwner(int job, const JobState& before, bool by_design, const char* why = "unlock");

  // Scheduled jobs (checker_slots.cc).
  bool IsFireTime(const JobTrack& j, EpochMs t) const;
  // Fire times in [from, to), counting at most `cap`.
  int64_t FiresIn(const JobTrack& j, EpochMs from, EpochMs to, int64_t cap) const;
  void CheckScheduledClaim(int job, const ActorTrack& a, const StateWrite& w, const JobState& before, EpochMs earliest);
  void CheckClaimPolicy(const JobTrack& j, const JobState& before, EpochMs slot, EpochMs earliest);
  void CheckBookkeeping(int job, const ActorTrack& a, const StateWrite& w, const JobState& before);
  void CheckSlotAdvance(JobTrack& j, const JobState& before, const JobState& after, std::optional<EpochMs> claimed,
                        EpochMs earliest);
  void CheckPlacement(JobTrack& j, const ActorTrack& a, const JobState& after);
  bool ScheduledSkipJustified(const CallContext& c, const Outcome& out);
  void CheckSlotsAccounted();

  // Report validation.
  void CheckGrant(const CallContext& c, const RunRequest& req, const Lease& lease);
  void CheckSkipJustified(const CallContext& c, const RunRequest& req, const Outcome& out);
  void CheckLeaseLostReport(const CallContext& c, const Lease& lease, const RunTrack& run);
  void CheckRateLimit(int job, EpochMs stamp);
  void CheckExclusion();
  void CheckStoreMatchesLog();

  const SimTime& time_;
  Store& truth_;
  Trace& trace_;
  CheckerOptions options_;
  std::vector<JobTrack> jobs_;
  std::map<int, ActorTrack> actors_;
  std::map<std::string, RunTrack> runs_;
  std::map<int64_t, DelayedWrite> delayed_;  // by RecordingStore::DelayWrite token
  std::map<std::string, int> job_index_;
  std::optional<Violation> first_;
  std::optional<Violation> first_exclusion_;
  int64_t exclusion_violations_ = 0;
  std::string trace_at_violation_;
  std::string trace_at_exclusion_;
  std::map<std::string, int64_t> counters_;
  std::map<std::string, KnownBugExample> known_bugs_;
  int64_t step_ = 0;
};

}  // namespace jobgate::sim
