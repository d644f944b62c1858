// The controller behind include/jobgate/controller.h (as LevelDB keeps
// DBImpl out of db.h). Files: controller.cc (acquire, heartbeat, commit,
// the library Run), request_ledger.cc (idempotency records),
// operator_ops.cc (pause, resume, trigger, unlock), store_clock.cc (the
// store's time as this host places it).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/gate.h"
#include "core/request_ledger.h"
#include "core/slots.h"
#include "core/store_clock.h"
#include "jobgate/controller.h"

namespace jobgate {

// The controller's way into a Lease's fields (Lease befriends it).
struct LeaseAccess {
  using Fields = Lease::Fields;
  static Fields& Of(Lease& lease) { return lease.f_; }
  static const Fields& Of(const Lease& lease) { return lease.f_; }
  static Lease Make(Fields fields) {
    Lease lease;
    lease.f_ = std::move(fields);
    return lease;
  }
};

// Store calls made by one invocation, for the outcome.
struct CallCounts {
  int64_t reads = 0;
  int64_t writes = 0;
};

class ControllerImpl {
 public:
  ControllerImpl(Store& store, Clock& clock, Random& random, ControllerOptions opts)
      : store_(store), clock_(clock), random_(random), opts_(opts), clocks_(store, clock),
        ledger_(store, clocks_, opts_, counts_) {}

  Result<Acquisition> Acquire(const RunRequest& req);
  Result<HeartbeatResult> Heartbeat(Lease& lease);
  Result<Outcome> Commit(Lease& lease, const WorkResult& work);
  Result<Outcome> Run(const RunRequest& req, const Controller::Work& work);

  Status Pause(const std::string& job, const std::string& reason);
  Status Resume(const std::string& job);
  Status Trigger(const std::string& job);
  Result<int64_t> Unlock(const std::string& job, std::optional<int64_t> fence);
  Result<EpochMs> Apply(const JobDefinition& def);
  Result<JobDefinition> EffectiveDefinition(const std::string& job, const RunOverrides& o);

  const CallCounts& counts() const { return counts_; }

 private:
  // The state our acquiring CAS replaced and the one it wrote.
  struct Won {
    std::optional<JobState> before;
    JobState acquired;
    GateDecision gate;
    EpochMs local_ms = 0;  // our own clock when the acquired state was stamped
  };
  // One invocation's context through Acquire.
  struct Attempt {
    const RunRequest& req;
    JobDefinition def;
    std::optional<JobState> state;
    std::optional<RequestRecord> request;
    std::string run_id;
    Outcome out;
    std::optional<Schedule> schedule;  // req.scheduled: the definition's
    SlotPlan plan;                     // req.scheduled: this round's plan
    std::optional<EpochMs> slot;       // the slot this round claims
    bool replacing = false;            // overlap = replace, taking the job from a live holder
    bool claimed_already = false;      // req.scheduled: nothing due, the latest slot claimed by another
  };
  // Loses or errs: the Acquisition to return; wins: nullopt.
  using Verdict = std::optional<Result<Acquisition>>;
  Verdict GateRequest(Attempt& a);
  Verdict Lock(Attempt& a, Won& won);
  Verdict LostToNobody(Attempt& a, int errors);
  GateDecision GateRound(Attempt& a, const StoreTime& now);
  std::optional<JobState> SlotBookkeeping(const Attempt& a, const GateDecision& gate, const StoreTime& now,
                                          std::vector<RunRecord>& history) const;
  void AppendHistory(const std::vector<RunRecord>& history);
  Verdict Skip(const Attempt& a, SkipReason reason, EpochMs next_allowed_run) const;
  Lease MakeLease(const Attempt& a, const Won& won) const;
  Verdict HoldOrGiveBack(Attempt& a, const Won& won, Lease& lease);

  // Commit's CAS loop: the state written, or nullopt when the lease was lost.
  // `unsettled`: the requests the state keeps naming (SettlePending).
  Result<std::optional<JobState>> WriteCommit(Lease& lease, const WorkResult& work, const std::string& unsettled);
  Outcome Committed(Lease& lease, const WorkResult& work, const JobState& next);
  Result<std::optional<JobState>> LaterCommitOver(const LeaseAccess::Fields& f, const JobState& s,
                                                  const JobState& next, bool unanswered);
  std::optional<RunRecord> FindOwnRun(const LeaseAccess::Fields& f, int64_t later);

  // A mutation of the state by an operator, retried on conflicts. `history`
  // is appended once the write applied.
  using Mutation = std::function<Status(std::optional<JobState>&, EpochMs now, std::optional<RunRecord>& history)>;
  Status Mutate(const std::string& job, const Mutation& change);

  Outcome Skipped(Outcome o, SkipReason reason, EpochMs next_allowed_run) const;
  Result<std::optional<JobState>> ReRead(const std::string& job);
  Result<std::optional<JobState>> AfterWrite(const Result<WriteOutcome>& w, const JobState& ours,
                                             const std::string& job);
  void Rollback(const Lease& lease, const std::optional<JobState>& before);

  Store& store_;
  Clock& clock_;
  Random& random_;
  const ControllerOptions opts_;
  CallCounts counts_;
  StoreClock clocks_;
  RequestLedger ledger_;
};

// The effective definition: the stored one (or defaults) with the
// invocation's overrides.
JobDefinition ApplyOverrides(std::optional<JobDefinition> stored, const std::string& job, const RunOverrides& o);

bool IsUnavailable(const Status& s);

}  // namespace jobgate
