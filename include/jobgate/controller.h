// The controller: Read -> Gate -> Lock -> Execute -> Commit (DESIGN.md).
// It is split into steps (Acquire, Heartbeat, Commit) so that the process
// runner, the library convenience Run(), the scheduler and the deterministic
// simulation can each drive the Execute step their own way.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <atomic>
#include <memory>
#include <string>

#include "jobgate/clock.h"
#include "jobgate/job.h"
#include "jobgate/status.h"
#include "jobgate/store.h"

namespace jobgate {

// Per-invocation overrides of the job's definition (CLI flags).
struct RunOverrides {
  std::optional<int64_t> cooldown_ms;
  std::optional<int64_t> timeout_ms;
  std::optional<int64_t> lease_ms;
  std::optional<int64_t> max_clock_skew_ms;
};

// One invocation's request.
struct RunRequest {
  std::string job;
  std::string request_id;           // idempotency key; empty = none
  std::optional<EpochMs> slot;      // schedule slot this invocation claims
  // Claim the slot the job's schedule has due now (`tick`, `serve`): the
  // controller picks it by the job's catch_up policy, records the slots it
  // passes over and keeps next_fire_ts, all in the acquiring CAS. `slot`
  // must be unset; the definition must have a schedule.
  bool scheduled = false;
  std::string holder;               // who we are, for people (host:pid, ...)
  RunOverrides overrides;
};

// What the controller reports for an invocation (the --json outcome).
struct Outcome {
  std::string job;
  RunOutcomeKind kind = RunOutcomeKind::kSkipped;
  SkipReason reason = SkipReason::kNone;
  std::string run_id;
  int64_t fence = 0;
  EpochMs slot = 0;
  int64_t duration_ms = 0;
  int64_t exit_code = 0;
  EpochMs next_allowed_run = 0;
  int64_t store_reads = 0;
  int64_t store_writes = 0;
  std::string error;                // why the run failed (stderr tail, signal, ...)
  // This host's clock minus the store's, and how closely it is known,
  // when the backend reports its time (remote stores).
  std::optional<int64_t> clock_offset_ms;
  std::optional<int64_t> clock_uncertainty_ms;
  // |offset| > max_clock_skew / 2: this host's clock is off by more than
  // NTP should allow. It is worked around (the host works in the store's
  // time), and reported so that someone fixes the clock.
  bool clock_skew_exceeded = false;
  std::optional<RequestRecord> previous;  // for reason kDuplicate: the stored outcome, if completed
  // For reason kLostRace: every CAS round was lost while the state item
  // never changed, so nobody won. A store or item problem, not a race:
  // `error` names it, and the CLI exits 75 (docs/operations.md).
  bool contended = false;
  // For a run that took the job from another holder: whose lease it took
  // (0 = none) and why. Counted by serve's jobgate_lease_takeovers_total.
  int64_t took_over_fence = 0;
  TakeoverCause took_over_cause = TakeoverCause::kNone;
};

// A lease this invocation holds: a handle only the controller makes and
// changes (Acquire, Heartbeat, Commit), so no caller can forge a fence, a
// deadline or the version a commit's CAS is based on. A copy is a snapshot
// (what the work reads); pass the one Acquire returned back to Heartbeat
// and Commit.
class Lease {
 public:
  const std::string& job() const { return f_.job; }
  const std::string& run_id() const { return f_.run_id; }
  const std::string& holder() const { return f_.holder; }
  int64_t fence() const { return f_.fence; }
  EpochMs slot() const { return f_.slot; }  // 0 = none
  EpochMs started_ms() const { return f_.started_ms; }
  // This holder's own deadline, by its own clock: it works only while its
  // clock is before this. The lease_until it publishes in the state item is
  // in the store's time where the store reports one, counted from the latest
  // the store's clock could read, so it is never before this in true time.
  EpochMs lease_until() const { return f_.lease_until; }
  int64_t lease_ms() const { return f_.lease_ms; }
  int64_t timeout_ms() const { return f_.timeout_ms; }
  int64_t kill_grace_ms() const { return f_.kill_grace_ms; }
  const std::string& request_id() const { return f_.request_id; }
  // The effective definition (overrides applied).
  const JobDefinition& definition() const { return f_.def; }
  // The fence of the holder this lease was taken from (0 = none), and why.
  int64_t took_over_fence() const { return f_.took_over_fence; }
  TakeoverCause took_over_cause() const { return f_.took_over_cause; }

 private:
  friend struct LeaseAccess;  // src/core/controller_impl.h: the controller's way in
  struct Fields {
    std::string job;
    std::string run_id;
    std::string holder;
    int64_t fence = 0;
    EpochMs slot = 0;
    EpochMs started_ms = 0;
    EpochMs lease_until = 0;
    int64_t lease_ms = 0;
    int64_t timeout_ms = 0;
    int64_t kill_grace_ms = 0;
    std::string request_id;
    int64_t request_version = 0;  // version of our INPROGRESS request record
    JobState last_written;        // the state item as we last wrote it (version included)
    JobDefinition def;
    int64_t took_over_fence = 0;
    TakeoverCause took_over_cause = TakeoverCause::kNone;
  };
  Fields f_;
};

// The result of the Read-Gate-Lock step: either we hold a lease, or the
// invocation is over (skipped, or an error) and `outcome` says why.
struct Acquisition {
  std::optional<Lease> lease;
  Outcome outcome;                  // filled in either case (counts, job, ...)
};

enum class HeartbeatResult { kExtended, kLost };

// Source of randomness (backoff jitter, run ids); injected for determinism.
class Random {
 public:
  virtual ~Random() = default;
  virtual uint64_t Next() = 0;
};

// Seeded from the OS (std::random_device) once.
std::unique_ptr<Random> MakeOsRandom();

struct ControllerOptions {
  int cas_attempts = 8;             // re-read/re-decide rounds before giving up with lost_race
  int store_error_attempts = 3;     // attempts for a write that failed with kUnavailable
};

class ControllerImpl;

// Read, Gate, Lock, (Execute), Commit against one store. Thread-compatible;
// one Controller per invocation thread. Holds no state another invocation
// needs: everything is read from and written to Store.
class Controller {
 public:
  Controller(Store& store, Clock& clock, Random& random, ControllerOptions opts = {});
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Read, Gate, Lock.
  Result<Acquisition> Acquire(const RunRequest& req);
  // Extends the lease (lease_until = now + lease). kLost when another owner
  // holds the job now: the caller must stop the workload.
  Result<HeartbeatResult> Heartbeat(Lease& lease);
  // Commit: moves the job back to IDLE (or PAUSED) with counters. A lease
  // that was lost yields kind kLeaseLost and counts nothing.
  Result<Outcome> Commit(Lease& lease, const WorkResult& work);

  // Library convenience: Acquire, run `work` on this thread while a
  // heartbeat thread extends the lease, Commit. `work` gets the lease and a
  // flag that turns true when it must stop as soon as it can: the lease was
  // lost, or it could not be renewed in time. The flag turns true before
  // this holder's own lease ends (by min(kill_grace, lease / 6)), even while
  // a heartbeat hangs in the store: the same keeper as `jobgate run`'s.
  // Run returns once a beat in progress has returned.
  using Work = std::function<WorkResult(const Lease&, const std::atomic<bool>& stop)>;
  Result<Outcome> Run(const RunRequest& req, const Work& work);

  // Operator transitions (DESIGN.md table). kNotFound for an unknown job.
  Status Pause(const std::string& job, const std::string& reason);
  Status Resume(const std::string& job);
  Status Trigger(const std::string& job);
  // Releases the RUNNING run with `fence` (default: the run found on the
  // first read, so a retry after a lost answer never releases the run that
  // acquired the job since). Returns the fence released; 0 when nothing was
  // RUNNING under it.
  Result<int64_t> Unlock(const std::string& job, std::optional<int64_t> fence = std::nullopt);

  // Writes a job's definition (create or replace) and places its schedule:
  // a new or changed schedule's next fire time after now becomes the
  // state's next_fire_ts (the due index); an unchanged one keeps its place;
  // none takes the job out of the index. Returns the next fire time (0:
  // unscheduled, or no more fire times). kInvalidArgument for a bad
  // definition or schedule, before anything is written.
  Result<EpochMs> Apply(const JobDefinition& def);

  // The effective definition of a job: the stored one, or defaults.
  Result<JobDefinition> EffectiveDefinition(const std::string& job, const RunOverrides& o);

  // Store calls made by the current invocation (Outcome::store_reads, ...).
  int64_t reads() const;
  int64_t writes() const;

 private:
  std::unique_ptr<ControllerImpl> impl_;
};

// Full-jitter exponential backoff: uniform in [0, min(cap, base * 2^(n-1))].
int64_t BackoffMs(int64_t consecutive_failures, int64_t base_ms, int64_t cap_ms, Random& random);

// A new run id (time-ordered, unique per invocation).
std::string NewRunId(Clock& clock, Random& random);

}  // namespace jobgate
