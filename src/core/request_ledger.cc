#include "core/request_ledger.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/controller_impl.h"
#include "core/gate.h"
#include "util/numbers.h"

namespace jobgate {

namespace {

// Unsettled requests a state keeps at most.
constexpr size_t kMaxUnsettled = 64;

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

// The COMPLETED record a committed run stands for. `claim` is the run's
// INPROGRESS record when it can still be read (it names the run).
RequestRecord CompletedRecord(const std::string& job, const CommittedRun& run,
                              const std::optional<RequestRecord>& claim, int64_t ttl_ms) {
  RequestRecord r;
  if (claim && claim->fence == run.fence) r = *claim;
  r.job = job;
  r.key = run.key;
  r.status = RequestStatus::kCompleted;
  r.version = std::max(r.version + 1, 2 * run.fence + 1);
  r.fence = run.fence;
  r.outcome = run.outcome;
  r.exit_code = run.exit_code;
  r.expires_at_ms = run.committed_ms + ttl_ms;
  return r;
}

// Reads a decimal number ending at `sep` from `pos` on, and moves past it.
bool ReadNumber(const std::string& text, size_t& pos, char sep, int64_t* out) {
  const size_t end = text.find(sep, pos);
  if (end == std::string::npos || !ParseInt64(text.substr(pos, end - pos), out)) return false;
  pos = end + 1;
  return true;
}

// One line of FormatUnsettled's, from `pos` on; false when malformed.
bool ReadUnsettled(const std::string& text, size_t& pos, CommittedRun& r) {
  int64_t key_bytes = 0;
  if (!ReadNumber(text, pos, ' ', &r.fence) || !ReadNumber(text, pos, ' ', &r.committed_ms) ||
      !ReadNumber(text, pos, ' ', &r.exit_code)) {
    return false;
  }
  const size_t outcome_end = text.find(' ', pos);
  if (outcome_end == std::string::npos) return false;
  const std::string outcome = text.substr(pos, outcome_end - pos);
  r.outcome = ParseRecordedOutcome(outcome);
  if (!outcome.empty() && !r.outcome) return false;
  pos = outcome_end + 1;
  if (!ReadNumber(text, pos, ':', &key_bytes) || key_bytes < 0) return false;
  const size_t key_end = pos + static_cast<size_t>(key_bytes);
  if (key_end >= text.size() || text[key_end] != '\n') return false;
  r.key = text.substr(pos, static_cast<size_t>(key_bytes));
  pos = key_end + 1;
  return true;
}

}  // namespace

EpochMs RequestExpiryNow(const JobDefinition& def, EpochMs now) { return now - def.max_clock_skew_ms; }

std::string FormatUnsettled(const std::vector<CommittedRun>& runs) {
  std::string text;
  for (const CommittedRun& r : runs) {
    text += fmt::format("{} {} {} {} {}:{}\n", r.fence, r.committed_ms, r.exit_code,
                        RecordedOutcomeName(r.outcome), r.key.size(), r.key);
  }
  return text;
}

std::vector<CommittedRun> ParseUnsettled(const std::string& text) {
  std::vector<CommittedRun> runs;
  size_t pos = 0;
  CommittedRun r;
  while (pos < text.size() && ReadUnsettled(text, pos, r)) runs.push_back(std::move(r));
  return runs;
}

std::vector<CommittedRun> CommittedRuns(const JobState& s) {
  std::vector<CommittedRun> runs = ParseUnsettled(s.unsettled_requests);
  if (!s.last_request_id.empty() && s.last_fence > 0) {
    runs.push_back({s.last_request_id, s.last_fence, s.last_outcome, s.last_exit_code, LastCommitMs(s)});
  }
  return runs;
}

std::optional<CommittedRun> CommittedRunOf(const JobState& s, const std::string& key, int64_t ttl_ms, EpochMs now) {
  if (key.empty()) return std::nullopt;
  const std::vector<CommittedRun> runs = CommittedRuns(s);
  for (auto r = runs.rbegin(); r != runs.rend(); ++r) {  // newest first
    if (r->key == key && r->committed_ms + ttl_ms > now) return *r;
  }
  return std::nullopt;
}

// A committed run completes its request record after its state commit, and
// the commit names the request in the state (last_request_id, last_fence),
// so the state alone says the request is done until the next commit,
// whether or not the record's completion has landed (or was lost with a
// crash), and even when the claim expired mid-run. The next commit settles
// the record first, or keeps naming the request (unsettled_requests).
bool CommittedRequest(const JobState& s, const std::string& key, int64_t ttl_ms, EpochMs now) {
  return CommittedRunOf(s, key, ttl_ms, now).has_value();
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
  if (r && r->status == RequestStatus::kCompleted) return r;
  if (!state) return r;
  auto run = CommittedRunOf(*state, key, def.request_ttl_ms, RequestExpiryNow(def, now));
  return run ? std::optional<RequestRecord>(CompletedRecord(state->job, *run, r, def.request_ttl_ms)) : r;
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

// One read per request the state names as done (usually one: the last
// commit's, when it had a request id), and a write only when its
// completion is missing. Nothing here can stop our commit: a record that
// cannot be read or written is kept named by the state instead.
std::string RequestLedger::SettlePending(const JobState& s, const JobDefinition& def) {
  const EpochMs now = RequestExpiryNow(def, clock_.Now().earliest);
  std::vector<CommittedRun> keep;
  for (const CommittedRun& run : CommittedRuns(s)) {
    if (run.committed_ms + def.request_ttl_ms <= now) continue;  // expired: invariant 6 holds it no more
    if (!Settle(s.job, run, def)) keep.push_back(run);
  }
  // Bounded, so a store that refuses every record cannot grow the state
  // item without end: past the bound the oldest goes (docs/design.md).
  if (keep.size() > kMaxUnsettled) keep.erase(keep.begin(), keep.end() - kMaxUnsettled);
  return FormatUnsettled(keep);
}

bool RequestLedger::Settle(const std::string& job, const CommittedRun& run, const JobDefinition& def) {
  for (int attempt = 0; attempt < opts_.store_error_attempts; ++attempt) {
    const EpochMs now = RequestExpiryNow(def, clock_.Now().earliest);
    ++counts_.reads;
    auto rec = store_.ReadRequest(job, run.key, now);
    if (!rec.ok()) {
      if (!IsUnavailable(rec.status())) return false;  // corrupt or refused: no retry helps
      continue;
    }
    if (*rec && (*rec)->status == RequestStatus::kCompleted) return true;
    // Another run's claim cannot be newer than the commit (the state blocks
    // claims of this request), so a claim of a different fence is a dead
    // one's from before it. Never overwrite a newer one all the same.
    if (*rec && (*rec)->fence > run.fence) return true;
    RequestRecord done = CompletedRecord(job, run, *rec, def.request_ttl_ms);
    ++counts_.writes;
    auto w = *rec ? store_.ReplaceRequest(done, (*rec)->version) : store_.CreateRequest(done, now);
    if (w.ok() && *w == WriteOutcome::kApplied) return true;
    if (!w.ok() && !IsUnavailable(w.status())) return false;
    // A conflict (somebody else wrote it) or an answer lost: look again.
  }
  return false;
}

void RequestLedger::Complete(const Lease& lease, const WorkResult& work) {
  const LeaseAccess::Fields& f = LeaseAccess::Of(lease);
  RequestRecord done = RecordOf(lease, RequestStatus::kCompleted, f.request_version + 1);
  done.outcome = OutcomeOf(work.kind);
  done.exit_code = work.exit_code;
  done.created_at = f.started_ms;
  done.expires_at_ms = clock_.Now().latest + f.def.request_ttl_ms;
  ++counts_.writes;
  (void)store_.ReplaceRequest(done, f.request_version);
}

}  // namespace jobgate
