#include "core/request_ledger.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/controller_impl.h"
#include "core/gate.h"

namespace jobgate {

namespace {

// When the state's last commit happened (on the committer's clock).
EpochMs LastCommitMs(const JobState& s) { return std::max(s.last_success_ts, s.last_failure_ts); }

// Request record versions come from the claiming run's fence (2 x fence for
// the claim, + 1 for its completion), so they never repeat for a key, even
// after a record expired and was claimed afresh: a stale run's conditional
// completion can never land on another run's claim.
int64_t ClaimVersion(int64_t fence, const std::optional<RequestRecord>& current) {
  return std::max(2 * fence, current ? current->version + 1 : 1);
}

// The fields every record of the run `lease` holds has.
RequestRecord RecordOf(const Lease& lease, RequestStatus status, int64_t version) {
  RequestRecord r;
  r.job = lease.job();
  r.key = lease.request_id();
  r.status = status;
  r.version = version;
  r.owner = lease.run_id();
  r.lease_until = LeaseAccess::Of(lease).last_written.lease_until;  // as published
  r.fence = lease.fence();
  return r;
}

RequestRecord ClaimRecord(const Lease& lease, const std::optional<RequestRecord>& current, const StoreTime& now) {
  RequestRecord claim = RecordOf(lease, RequestStatus::kInProgress, ClaimVersion(lease.fence(), current));
  claim.created_at = current ? current->created_at : now.best;
  claim.expires_at_ms = now.latest + lease.definition().request_ttl_ms;
  return claim;
}

// The COMPLETED record the state's last commit stands for. `claim` is the
// run's INPROGRESS record when it can still be read (it names the run).
RequestRecord CompletedFromState(const JobState& s, const std::optional<RequestRecord>& claim, int64_t ttl_ms) {
  RequestRecord r;
  if (claim && claim->fence == s.last_fence) r = *claim;
  r.job = s.job;
  r.key = s.last_request_id;
  r.status = RequestStatus::kCompleted;
  r.version = std::max(r.version + 1, 2 * s.last_fence + 1);
  r.fence = s.last_fence;
  r.outcome = s.last_outcome;
  r.exit_code = s.last_exit_code;
  r.expires_at_ms = LastCommitMs(s) + ttl_ms;
  return r;
}

}  // namespace

EpochMs RequestExpiryNow(const JobDefinition& def, EpochMs now) { return now - def.max_clock_skew_ms; }

// A committed run completes its request record after its state commit, and
// the commit names the request in the state (last_request_id, last_fence),
// so the state alone says the request is done until the next commit,
// whether or not the record's completion has landed (or was lost with a
// crash), and even when the claim expired mid-run.
bool CommittedRequest(const JobState& s, const std::string& key, int64_t ttl_ms, EpochMs now) {
  return !key.empty() && s.last_request_id == key && s.last_fence > 0 && LastCommitMs(s) + ttl_ms > now;
}

// An INPROGRESS record whose owner no longer holds the job belongs to a run
// that died (or lost its lease) before committing: it may be taken over.
bool RequestBlocks(const std::string& key, const std::optional<RequestRecord>& r,
                   const std::optional<JobState>& state, const JobDefinition& def, EpochMs now) {
  if (state && CommittedRequest(*state, key, def.request_ttl_ms, RequestExpiryNow(def, now))) return true;
  if (!r) return false;
  if (r->status == RequestStatus::kCompleted) return true;
  return state && state->status == JobStatus::kRunning && state->owner == r->owner && !LeaseExpired(*state, def, now);
}

std::optional<RequestRecord> PreviousOutcome(const std::string& key, const std::optional<RequestRecord>& r,
                                             const std::optional<JobState>& state, const JobDefinition& def,
                                             EpochMs now) {
  if (state && CommittedRequest(*state, key, def.request_ttl_ms, RequestExpiryNow(def, now)) &&
      !(r && r->status == RequestStatus::kCompleted)) {
    return CompletedFromState(*state, r, def.request_ttl_ms);
  }
  return r;
}

// The claim is a separate item from the state, written after the
// acquisition, so a claimant that stalled in between may have been taken
// over: it never claims once its own lease has run out, and never
// overwrites a claim made under a newer fence (a later acquisition's).
Result<RequestLedger::Claim> RequestLedger::ClaimFor(Lease& lease, std::optional<RequestRecord> current,
                                                     std::optional<RequestRecord>& previous) {
  LeaseAccess::Fields& f = LeaseAccess::Of(lease);
  int errors = 0;
  for (int attempt = 0; attempt < opts_.cas_attempts; ++attempt) {
    const StoreTime clock = clock_.Now();
    const EpochMs now = clock.earliest;
    if (current && current->owner == f.run_id && current->status == RequestStatus::kInProgress) {
      f.request_version = current->version;  // our claim landed; its response was lost
      return Claim::kClaimed;
    }
    // Our acquisition kept the last commit's fields, so they still tell
    // whether the last commit ran this request.
    if (RequestBlocks(f.request_id, current, f.last_written, f.def, now)) {
      previous = PreviousOutcome(f.request_id, current, f.last_written, f.def, now);
      return Claim::kDone;
    }
    if (current && current->fence >= f.fence) return Claim::kLost;
    if (clock.local >= f.lease_until) return Claim::kLost;  // our own deadline, by our own clock
    const RequestRecord claim = ClaimRecord(lease, current, clock);
    ++counts_.writes;
    auto w = current ? store_.ReplaceRequest(claim, current->version)
                     : store_.CreateRequest(claim, RequestExpiryNow(f.def, now));
    if (w.ok() && *w == WriteOutcome::kApplied) {
      f.request_version = claim.version;
      return Claim::kClaimed;
    }
    if (!w.ok() && !IsUnavailable(w.status())) return w.status();
    ++counts_.reads;
    JOBGATE_ASSIGN_OR_RETURN(current, store_.ReadRequest(f.job, f.request_id, RequestExpiryNow(f.def, now)));
    bool ours = current && current->owner == f.run_id;  // checked at the top of the next round
    if (!w.ok() && !ours && ++errors >= opts_.store_error_attempts) return w.status();
  }
  return Status::Contended(fmt::format("job '{}': request '{}' kept changing under us", f.job, f.request_id));
}

// One read when the previous run had a request id, and a write only when
// the completion is missing.
Status RequestLedger::SettlePending(const JobState& s, const JobDefinition& def) {
  const int64_t ttl_ms = def.request_ttl_ms;
  Status last = Status::Ok();
  for (int attempt = 0; attempt < opts_.store_error_attempts; ++attempt) {
    const EpochMs now = RequestExpiryNow(def, clock_.Now().earliest);
    if (!CommittedRequest(s, s.last_request_id, ttl_ms, now)) return Status::Ok();
    ++counts_.reads;
    auto rec = store_.ReadRequest(s.job, s.last_request_id, now);
    if (!rec.ok()) {
      if (!IsUnavailable(rec.status())) return rec.status();
      last = rec.status();
      continue;
    }
    if (*rec && (*rec)->status == RequestStatus::kCompleted) return Status::Ok();
    // Another run's claim cannot be newer than the commit (the state blocks
    // claims of this request), so a claim of a different fence is a dead
    // one's from before it. Never overwrite a newer one all the same.
    if (*rec && (*rec)->fence > s.last_fence) return Status::Ok();
    RequestRecord done = CompletedFromState(s, *rec, ttl_ms);
    ++counts_.writes;
    auto w = *rec ? store_.ReplaceRequest(done, (*rec)->version) : store_.CreateRequest(done, now);
    if (w.ok() && *w == WriteOutcome::kApplied) return Status::Ok();
    if (!w.ok() && !IsUnavailable(w.status())) return w.status();
    last = w.ok() ? Status::Ok() : w.status();  // a conflict: somebody else wrote it; look again
  }
  return last;
}

void RequestLedger::Complete(const Lease& lease, const WorkResult& work) {
  const LeaseAccess::Fields& f = LeaseAccess::Of(lease);
  RequestRecord done = RecordOf(lease, RequestStatus::kCompleted, f.request_version + 1);
  done.outcome = WorkOutcomeName(work.kind);
  done.exit_code = work.exit_code;
  done.created_at = f.started_ms;
  done.expires_at_ms = clock_.Now().latest + f.def.request_ttl_ms;
  ++counts_.writes;
  (void)store_.ReplaceRequest(done, f.request_version);
}

}  // namespace jobgate
