// The request (idempotency) records of DESIGN.md in one module: when a
// request id blocks a run, the claim a run makes, and the completion its
// commit leaves. See docs/design.md "Request records" for the protocol.
//
// A run claims its request (INPROGRESS) right after acquiring the job and
// completes it (COMPLETED) after committing the state. The state's commit
// names the request (last_request_id, last_fence), so until the completion
// lands the state alone says the request is done.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/store_clock.h"
#include "jobgate/clock.h"
#include "jobgate/controller.h"
#include "jobgate/job.h"
#include "jobgate/status.h"
#include "jobgate/store.h"

namespace jobgate {

struct CallCounts;

// The "now" request expiry is judged by: records expire by their writer's
// clock, so every host allows max_clock_skew, as with leases.
EpochMs RequestExpiryNow(const JobDefinition& def, EpochMs now);

// A committed run of a request, as the state names it: the last commit
// (last_request_id, last_fence, ...) or one kept in unsettled_requests.
struct CommittedRun {
  std::string key;
  int64_t fence = 0;
  std::optional<RecordedOutcome> outcome;
  int64_t exit_code = 0;
  EpochMs committed_ms = 0;  // on the committer's clock; the request lives request_ttl from here

  bool operator==(const CommittedRun&) const = default;
};

// JobState::unsettled_requests as text and back: one line per run,
// "<fence> <committed_ms> <exit_code> <outcome> <key length>:<key>" (the
// key is any bytes). Parsing stops at the first malformed line.
std::string FormatUnsettled(const std::vector<CommittedRun>& runs);
std::vector<CommittedRun> ParseUnsettled(const std::string& text);

// Every request the state names as done: the unsettled ones, then the last
// commit's (when it had one). Expired ones included.
std::vector<CommittedRun> CommittedRuns(const JobState& s);

// The committed run of request `key` the state names, if it is still within
// request_ttl at `now` (already an expiry now: RequestExpiryNow).
std::optional<CommittedRun> CommittedRunOf(const JobState& s, const std::string& key, int64_t ttl_ms, EpochMs now);

// Whether the state names a committed run of request `key` still within
// request_ttl at `now` (already an expiry now: RequestExpiryNow).
bool CommittedRequest(const JobState& s, const std::string& key, int64_t ttl_ms, EpochMs now);

// A request blocks a new run when the last commit ran it, when its record is
// COMPLETED, or when it is in progress under the job's live holder.
bool RequestBlocks(const std::string& key, const std::optional<RequestRecord>& r,
                   const std::optional<JobState>& state, const JobDefinition& def, EpochMs now);

// What a duplicate is told about the request it repeats.
std::optional<RequestRecord> PreviousOutcome(const std::string& key, const std::optional<RequestRecord>& r,
                                             const std::optional<JobState>& state, const JobDefinition& def,
                                             EpochMs now);

// Reads and writes request records for one invocation. Thread-compatible.
class RequestLedger {
 public:
  RequestLedger(Store& store, const StoreClock& clock, const ControllerOptions& opts, CallCounts& counts)
      : store_(store), clock_(clock), opts_(opts), counts_(counts) {}

  enum class Claim { kClaimed, kDone, kLost };
  // Claims the request for the run `lease` holds: kDone (`previous` set)
  // when it turned out completed, kLost when we may no longer hold the job.
  Result<Claim> ClaimFor(Lease& lease, std::optional<RequestRecord> current,
                         std::optional<RequestRecord>& previous);
  // Completes the records of the requests the state names as done (a run
  // that died between its state commit and its completion left one
  // INPROGRESS), before our commit replaces last_request_id. Never fails:
  // what it cannot settle now it returns, for our commit to keep in
  // unsettled_requests (the new value of that field), so committing this
  // run never depends on another run's record.
  std::string SettlePending(const JobState& s, const JobDefinition& def);
  // Completes this run's request after its commit. Best effort: until it
  // lands, the committed state says the request is done.
  void Complete(const Lease& lease, const WorkResult& work);

 private:
  // Completes one committed run's record; false when it could not.
  bool Settle(const std::string& job, const CommittedRun& run, const JobDefinition& def);

  Store& store_;
  const StoreClock& clock_;
  const ControllerOptions opts_;  // a copy: a reference could outlive what it was bound to
  CallCounts& counts_;
};

}  // namespace jobgate
