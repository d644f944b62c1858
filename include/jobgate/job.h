// The items jobgate keeps in a store: a job's state (one per job), its
// definition, run records and request (idempotency) records. Field names
// are the ones in DESIGN.md and are the same in every backend.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "jobgate/clock.h"
#include "jobgate/status.h"

namespace jobgate {

enum class JobStatus { kIdle, kRunning, kPaused };
const char* JobStatusName(JobStatus s);  // "IDLE", "RUNNING", "PAUSED"
Result<JobStatus> ParseJobStatus(const std::string& text);

// What a run came to, as run records, request records and last_outcome
// store it (by name).
enum class RecordedOutcome {
  kSucceeded, kFailed, kTimedOut,  // what the workload did: the only ones a commit stores
  kLeaseLost,                      // stopped when its lease was lost
  kAbandoned,                      // never committed: taken over, replaced or released
  // Invocations that did not run: every CAS round lost to nobody, due
  // slots passed over, a slot skipped or fired again.
  kContended, kMissed, kSkipped, kDeduplicated,
};
const char* RecordedOutcomeName(RecordedOutcome o);  // "succeeded", ... "deduplicated"
const char* RecordedOutcomeName(const std::optional<RecordedOutcome>& o);  // "" for none
std::optional<RecordedOutcome> ParseRecordedOutcome(std::string_view name);  // nullopt: not a name

// The state item of one job. Everything another invocation needs is here.
// Missing fields in a store mean their zero values (a hand-made row with only
// a name and a status is a valid IDLE job at version 0).
struct JobState {
  std::string job;
  JobStatus status = JobStatus::kIdle;
  int64_t version = 0;            // CAS condition of every write
  std::string owner;              // run id of the lease holder; empty when not RUNNING
  std::string holder;             // "host:pid" or "lambda:function/request" (for people)
  int64_t fence = 0;              // strictly increasing per acquisition
  EpochMs lease_until = 0;
  EpochMs last_run_ts = 0;
  EpochMs last_success_ts = 0;
  EpochMs last_failure_ts = 0;
  std::string last_error;         // UTF-8 clean, at most kMaxErrorBytes
  int64_t last_exit_code = 0;
  int64_t last_duration_ms = 0;
  // The last run that committed its result (not abandoned ones): its
  // outcome, its fence and its request id. A request's completion follows
  // the state commit; until it lands, these fields are what says the
  // request is done (see docs/design.md "Request records").
  std::optional<RecordedOutcome> last_outcome;  // succeeded, failed or timed_out; none before the first commit
  int64_t last_fence = 0;
  std::string last_request_id;    // empty when that run had none
  // Requests of earlier commits that a later commit replaced in
  // last_request_id before their COMPLETED record could be written (the
  // record was unreadable or the store failed): the state keeps saying they
  // are done until a commit settles them or they expire. Empty almost
  // always. Encoded by core/request_ledger.h (FormatUnsettled).
  std::string unsettled_requests;
  int64_t run_count = 0;
  int64_t success_count = 0;
  int64_t failure_count = 0;
  int64_t abandoned_count = 0;
  int64_t consecutive_failures = 0;
  EpochMs next_allowed_run = 0;
  EpochMs last_slot = 0;          // schedule slot (fire time, ms) last claimed; 0 = none
  // Rate limiter: the latest acquisition times, oldest first, at most
  // rate_limit_count of them. Stored as their comma-separated decimals.
  std::vector<EpochMs> rate_history;
  std::string paused_reason;      // non-empty while PAUSED, or pause requested while RUNNING
  EpochMs next_fire_ts = 0;       // next schedule fire time kept by the scheduler; 0 = unscheduled
  // Schedule slots that did not run (docs/schedules.md): passed over by the
  // catch-up policy or the starting deadline, skipped because a run was
  // still going (overlap = skip) or the rate limit was reached, and fired
  // again after they had been claimed (a second scheduler, a duplicate
  // delivery).
  int64_t slots_missed = 0;
  int64_t slots_skipped = 0;
  int64_t slots_deduplicated = 0;
  EpochMs updated_at = 0;

  bool operator==(const JobState&) const = default;
};

inline constexpr size_t kMaxErrorBytes = 1024;

// The counter invariant of DESIGN.md; every test checks it.
bool CountersConsistent(const JobState& s);

// The time from which the job is due for a scheduler pass, or nullopt when it
// is not due on its own: unscheduled (next_fire_ts 0) or PAUSED. An IDLE job
// is due at its next fire time or, later, when its cooldown or backoff
// ends; a RUNNING one at its next fire time (its overlap policy decides).
std::optional<EpochMs> DueAt(const JobState& s);

// Which due slots run after downtime (docs/schedules.md): the latest only,
// every one (up to catch_up_limit), or none that is late.
enum class CatchUp { kLatest, kAll, kNone };
const char* CatchUpName(CatchUp c);  // "latest", "all", "none"
std::optional<CatchUp> ParseCatchUp(std::string_view name);  // nullopt: not one of the names

// What a slot due while a run goes on does: nothing, or stop that run and
// take the job.
enum class Overlap { kSkip, kReplace };
const char* OverlapName(Overlap o);  // "skip", "replace"
std::optional<Overlap> ParseOverlap(std::string_view name);  // nullopt: not one of the names

// How a job behaves. Durations in milliseconds; 0 means "none" where noted.
struct JobDefinition {
  std::string job;
  std::string schedule;           // EventBridge or crontab expression; empty = on demand
  std::string time_zone = "UTC";
  std::vector<std::string> command;
  int64_t cooldown_ms = 0;        // after a success
  int64_t timeout_ms = 0;         // 0 = no timeout
  int64_t lease_ms = 60'000;
  int64_t max_clock_skew_ms = 2'000;
  int64_t backoff_base_ms = 10'000;
  int64_t backoff_cap_ms = 3'600'000;
  int64_t park_after = 0;         // consecutive failures that park (PAUSE) the job; 0 = never
  int64_t rate_limit_count = 0;   // at most this many acquisitions ...
  int64_t rate_limit_window_ms = 0;  // ... in any window of this length; 0 = no limit
  int64_t starting_deadline_ms = 0;  // a slot older than this is not started; 0 = no limit
  CatchUp catch_up = CatchUp::kLatest;  // due slots after downtime
  int64_t catch_up_limit = 100;     // catch_up = all: at most this many past slots run
  Overlap overlap = Overlap::kSkip;     // a slot due while a run goes on
  int64_t kill_grace_ms = 10'000; // SIGTERM -> SIGKILL on timeout/stop
  int64_t request_ttl_ms = 7LL * 24 * 3600 * 1000;  // how long request records live
  int64_t keep_runs = 100;        // run records kept per job

  bool operator==(const JobDefinition&) const = default;
};

Status ValidateDefinition(const JobDefinition& def);

enum class RunOutcomeKind { kSucceeded, kFailed, kTimedOut, kSkipped, kLeaseLost };
const char* RunOutcomeName(RunOutcomeKind k);  // "succeeded", ... "lease_lost"

// Why a run took the job from another holder: its lease had expired (the
// holder crashed, hung or lost the store), or overlap = replace stopped it.
enum class TakeoverCause { kNone, kLeaseExpired, kReplaced };
const char* TakeoverCauseName(TakeoverCause c);  // "", "lease_expired", "replaced"
Result<RunOutcomeKind> ParseRunOutcome(const std::string& text);

// Why an invocation did not run (RunOutcomeKind::kSkipped).
enum class SkipReason {
  kNone, kRunning, kPaused, kCooldown, kRateLimited, kSlotDone, kDuplicate, kLostRace,
  kMissed,  // a scheduled invocation whose due slots were all passed over (starting_deadline, catch_up)
};
const char* SkipReasonName(SkipReason r);  // "running", ... ; "" for kNone

// What the workload did.
struct WorkResult {
  enum class Kind { kSucceeded, kFailed, kTimedOut };
  Kind kind = Kind::kSucceeded;
  int64_t exit_code = 0;
  std::string error;                // stderr tail or message; cleaned to UTF-8, 1 KiB
};

// One finished (or abandoned) run, kept for history.
struct RunRecord {
  std::string job;
  std::string run_id;
  int64_t fence = 0;
  EpochMs slot = 0;
  EpochMs start_ms = 0;
  EpochMs end_ms = 0;
  RecordedOutcome outcome = RecordedOutcome::kSucceeded;
  int64_t exit_code = 0;
  std::string error;
  std::string holder;

  bool operator==(const RunRecord&) const = default;
};

enum class RequestStatus { kInProgress, kCompleted };
const char* RequestStatusName(RequestStatus s);  // "INPROGRESS", "COMPLETED"
Result<RequestStatus> ParseRequestStatus(const std::string& text);

// Idempotency record of one request id (e.g. a scheduler execution id).
// INPROGRESS is live only while the job's state is RUNNING under `owner`
// with a live lease; COMPLETED stores the outcome and blocks re-runs until
// `expires_at_ms`.
struct RequestRecord {
  std::string job;
  std::string key;
  RequestStatus status = RequestStatus::kInProgress;
  int64_t version = 0;
  std::string owner;              // run id
  EpochMs lease_until = 0;        // the holder's lease when claimed (informational)
  std::optional<RecordedOutcome> outcome;  // the workload's when COMPLETED
  int64_t exit_code = 0;
  int64_t fence = 0;
  EpochMs created_at = 0;
  EpochMs expires_at_ms = 0;      // the record is ignored (and may be deleted) after this

  bool operator==(const RequestRecord&) const = default;
};

}  // namespace jobgate
