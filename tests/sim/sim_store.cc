#include "sim/sim_store.h"

#include <fmt/format.h>

namespace jobgate::sim {

// ---------------------------------------------------------------- Recording

Result<WriteOutcome> RecordingStore::RecordState(const std::string& job,
                                                 const std::function<Result<WriteOutcome>()>& write) {
  auto before = inner().ReadState(job);
  if (!before.ok()) return before.status();
  auto outcome = write();
  if (!outcome.ok() || *outcome != WriteOutcome::kApplied) return outcome;
  auto after = inner().ReadState(job);
  if (!after.ok()) return after.status();
  if (*after) observer_.OnStateWrite(StateWrite{writer_, delayed_, std::move(*before), **after});
  return outcome;
}

Result<WriteOutcome> RecordingStore::RecordRequest(const RequestRecord& rec,
                                                   const std::function<Result<WriteOutcome>()>& write) {
  auto before = inner().ReadRequest(rec.job, rec.key, kReadExpiredToo);
  if (!before.ok()) return before.status();
  auto outcome = write();
  if (!outcome.ok() || *outcome != WriteOutcome::kApplied) return outcome;
  auto after = inner().ReadRequest(rec.job, rec.key, kReadExpiredToo);
  if (!after.ok()) return after.status();
  if (*after) observer_.OnRequestWrite(RequestWrite{writer_, delayed_, std::move(*before), **after});
  return outcome;
}

int64_t RecordingStore::DelayWrite(int actor) {
  observer_.OnWriteDelayed(actor, ++last_token_);
  return last_token_;
}

Result<WriteOutcome> RecordingStore::DoCreateState(const JobState& s, std::optional<EpochMs>) {
  return RecordState(s.job, [&] { return inner().CreateState(s); });
}

Result<WriteOutcome> RecordingStore::DoReplaceState(const JobState& s, int64_t expected_version,
                                                    std::optional<EpochMs>) {
  return RecordState(s.job, [&] { return inner().ReplaceState(s, expected_version); });
}

Result<WriteOutcome> RecordingStore::DoReplaceStateAndAppendRun(const JobState& s, int64_t expected_version,
                                                                std::optional<EpochMs>, const RunRecord& run) {
  return RecordState(s.job, [&] { return inner().ReplaceStateAndAppendRun(s, expected_version, run); });
}

Result<WriteOutcome> RecordingStore::CreateRequest(const RequestRecord& rec, EpochMs now_ms) {
  return RecordRequest(rec, [&] { return inner().CreateRequest(rec, now_ms); });
}

Result<WriteOutcome> RecordingStore::ReplaceRequest(const RequestRecord& rec, int64_t expected_version) {
  return RecordRequest(rec, [&] { return inner().ReplaceRequest(rec, expected_version); });
}

// ---------------------------------------------------------------- Faults

void FaultInjector::Boundary(int actor) {
  if (plan_.max_latency_ms > 0) time_.Advance(rng_.Uniform(0, plan_.max_latency_ms));
  LandDue(/*boundary=*/true);
  if (on_freeze && rng_.Chance(plan_.slow_call)) {
    int64_t pause = rng_.Uniform(plan_.slow_call_ms / 4, plan_.slow_call_ms);
    trace_.Add(time_.now(), [&] { return fmt::format("a{} FREEZES mid-call for {} ms", actor, pause); });
    on_freeze(actor, pause);
  }
  if (on_boundary && rng_.Chance(plan_.interleave)) on_boundary(actor);
}

FaultInjector::WriteFault FaultInjector::ForWrite(int actor, const char* call, bool conditional) {
  double r = rng_.Real();
  if (r < plan_.write_fail_before) {
    Count(actor, call, "fails before applying");
    return WriteFault::kFailBefore;
  }
  if (r < plan_.write_fail_before + plan_.write_fail_after) {
    Count(actor, call, "applies, response lost");
    return WriteFault::kFailAfter;
  }
  if (!conditional || (plan_.write_applied_then_conflict <= 0 && plan_.write_late <= 0)) return WriteFault::kNone;
  double e = extra_.Real();
  // Counted by NoteAppliedThenConflict, once it is known to have applied.
  if (e < plan_.write_applied_then_conflict) return WriteFault::kAppliedThenConflict;
  if (e < plan_.write_applied_then_conflict + plan_.write_late) {
    Count(actor, call, "times out; the request is still on its way");
    return WriteFault::kLate;
  }
  return WriteFault::kNone;
}

void FaultInjector::NoteAppliedThenConflict(int actor, const char* call) {
  ++counters_["applied_then_conflict"];
  ++resent_[actor];
  Count(actor, call, "applied; its silent re-send answers 'condition failed'");
}

void FaultInjector::Delay(int actor, const char* call, std::function<Result<WriteOutcome>()> land) {
  Late late;
  late.actor = actor;
  late.call = call;
  // 2: lands at the boundary of the caller's re-read, just before it (as a
  // lost response); more: after it, when the caller has decided on what it
  // read (the dangerous case).
  late.boundaries_left = static_cast<int>(extra_.Uniform(2, 6));
  late.land_by = time_.now() + extra_.Uniform(0, plan_.late_ms);
  late.reads_at_send = reads_[actor];
  late.land = std::move(land);
  late_.push_back(std::move(late));
  ++counters_["late_writes_sent"];
}

void FaultInjector::LandDue(bool boundary) {
  for (size_t i = 0; i < late_.size();) {
    Late& late = late_[i];
    if (boundary) --late.boundaries_left;
    if (late.boundaries_left > 0 && time_.now() < late.land_by) {
      ++i;
      continue;
    }
    Late due = std::move(late);
    late_.erase(late_.begin() + static_cast<std::ptrdiff_t>(i));
    Land(std::move(due));
  }
}

void FaultInjector::Land(Late late) {
  auto r = late.land();
  const bool applied = r.ok() && *r == WriteOutcome::kApplied;
  const bool after_reread = reads_[late.actor] > late.reads_at_send;
  ++counters_[applied ? "late_writes_landed" : "late_writes_refused"];
  if (applied) ++counters_[fmt::format("late_{}_landed", late.call)];
  if (applied && after_reread) ++counters_["late_writes_landed_after_a_reread"];
  trace_.Add(time_.now(), [&] {
    return fmt::format("a{}'s late {} lands{}: {}", late.actor, late.call, after_reread ? " after its re-read" : "",
                       !r.ok() ? r.status().message() : applied ? "applied" : "condition failed");
  });
  if (applied && on_land) on_land();
}

bool FaultInjector::ReadFails(int actor, const char* call) {
  ++reads_[actor];
  if (!rng_.Chance(plan_.read_fail)) return false;
  Count(actor, call, "fails");
  return true;
}

int64_t FaultInjector::faults_for(int actor) const {
  auto it = per_actor_.find(actor);
  return it == per_actor_.end() ? 0 : it->second;
}

int64_t FaultInjector::resent_for(int actor) const {
  auto it = resent_.find(actor);
  return it == resent_.end() ? 0 : it->second;
}

void FaultInjector::Count(int actor, const char* call, const char* what) {
  ++per_actor_[actor];
  ++total_;
  trace_.Add(time_.now(), [&] { return fmt::format("a{} fault: {} {}", actor, call, what); });
}

std::optional<ClockEstimate> FaultyStore::honest_estimate() const {
  if (host_clock_ == nullptr) return std::nullopt;
  return estimator_.Estimate(host_clock_->NowMs(), host_clock_->MonotonicMs());
}

std::optional<ClockEstimate> FaultyStore::ObservedClock() const {
  std::optional<ClockEstimate> e = honest_estimate();
  if (e && understate_) e->uncertainty_ms = 0;
  last_view_ = e;
  return e;
}

void FaultyStore::StampAnswer(EpochMs sent_true, int64_t sent_mono) {
  if (host_clock_ == nullptr) return;
  const EpochMs at = faults_.Between(sent_true, faults_.time().now());
  estimator_.AddSample(sent_mono, host_clock_->MonotonicMs(), at - at % 1000, 1000);
}

template <typename T>
Result<T> FaultyStore::Read(const char* call, const std::function<Result<T>()>& read) {
  const EpochMs sent_true = faults_.time().now();
  const int64_t sent_mono = host_clock_ ? host_clock_->MonotonicMs() : 0;
  faults_.Boundary(actor_);
  if (faults_.ReadFails(actor_, call)) return Status::Unavailable(fmt::format("sim: {} failed", call));
  Result<T> result = read();
  StampAnswer(sent_true, sent_mono);
  return result;
}

template <typename T>
Result<T> FaultyStore::Write(const char* call, const std::function<Result<T>()>& write) {
  const EpochMs sent_true = faults_.time().now();
  const int64_t sent_mono = host_clock_ ? host_clock_->MonotonicMs() : 0;
  faults_.Boundary(actor_);
  Result<T> result = Apply<T>(call, faults_.ForWrite(actor_, call, /*conditional=*/false), write);
  if (result.ok()) StampAnswer(sent_true, sent_mono);
  return result;
}

template <typename T>
Result<T> FaultyStore::Apply(const char* call, FaultInjector::WriteFault fault,
                             const std::function<Result<T>()>& write) {
  if (fault == FaultInjector::WriteFault::kFailBefore) {
    return Status::Unavailable(fmt::format("sim: {} failed before applying", call));
  }
  recorder_.set_writer(actor_);
  Result<T> result = write();
  // Others may act between the write landing and its response arriving:
  // exactly the window in which a lost response misleads the writer.
  faults_.Boundary(actor_);
  if (fault == FaultInjector::WriteFault::kFailAfter) {
    return Status::Unavailable(fmt::format("sim: {} response lost", call));
  }
  return result;
}

Result<WriteOutcome> FaultyStore::ConditionalWrite(const char* call, std::function<Result<WriteOutcome>()> write) {
  const EpochMs sent_true = faults_.time().now();
  const int64_t sent_mono = host_clock_ ? host_clock_->MonotonicMs() : 0;
  faults_.Boundary(actor_);
  const auto fault = faults_.ForWrite(actor_, call, /*conditional=*/true);
  if (fault == FaultInjector::WriteFault::kLate) return SendLate(call, std::move(write));
  auto result = Apply<WriteOutcome>(call, fault, write);
  if (result.ok()) StampAnswer(sent_true, sent_mono);
  if (fault == FaultInjector::WriteFault::kAppliedThenConflict && result.ok() &&
      *result == WriteOutcome::kApplied) {
    // The re-sent copy met the item the first copy wrote: "already exists"
    // for a create, a version mismatch for a replace.
    faults_.NoteAppliedThenConflict(actor_, call);
    return WriteOutcome::kConditionFailed;
  }
  return result;
}

Result<WriteOutcome> FaultyStore::SendLate(const char* call, std::function<Result<WriteOutcome>()> write) {
  const int64_t token = recorder_.DelayWrite(actor_);
  faults_.Delay(actor_, call, [this, token, write = std::move(write)] {
    recorder_.set_writer(actor_, token);
    auto landed = write();
    recorder_.set_writer(actor_);
    return landed;
  });
  faults_.Boundary(actor_);  // the world goes on while the caller waits for its timeout
  return Status::Unavailable(fmt::format("sim: {} timed out", call));
}

Status FaultyStore::WriteStatus(const char* call, const std::function<Status()>& write) {
  auto r = Write<bool>(call, [&]() -> Result<bool> {
    Status s = write();
    if (!s.ok()) return s;
    return true;
  });
  return r.status();
}

Result<std::optional<JobState>> FaultyStore::ReadState(const std::string& job) {
  return Read<std::optional<JobState>>("ReadState", [&] { return inner().ReadState(job); });
}

Result<WriteOutcome> FaultyStore::DoCreateState(const JobState& s, std::optional<EpochMs>) {
  return ConditionalWrite("CreateState", [this, s] { return inner().CreateState(s); });
}

Result<WriteOutcome> FaultyStore::DoReplaceState(const JobState& s, int64_t expected_version, std::optional<EpochMs>) {
  return ConditionalWrite("ReplaceState",
                          [this, s, expected_version] { return inner().ReplaceState(s, expected_version); });
}

Result<JobRecord> FaultyStore::ReadJob(const std::string& job, const std::string& request_key) {
  return Read<JobRecord>("ReadJob", [&] { return inner().ReadJob(job, request_key); });
}

Result<WriteOutcome> FaultyStore::DoReplaceStateAndAppendRun(const JobState& s, int64_t expected_version,
                                                             std::optional<EpochMs>, const RunRecord& run) {
  return ConditionalWrite("ReplaceStateAndAppendRun", [this, s, expected_version, run] {
    return inner().ReplaceStateAndAppendRun(s, expected_version, run);
  });
}

Result<std::optional<JobDefinition>> FaultyStore::ReadDefinition(const std::string& job) {
  return Read<std::optional<JobDefinition>>("ReadDefinition", [&] { return inner().ReadDefinition(job); });
}

Status FaultyStore::AppendRun(const RunRecord& run) {
  return WriteStatus("AppendRun", [&] { return inner().AppendRun(run); });
}

Status FaultyStore::TrimRuns(const std::string& job, size_t keep) {
  return WriteStatus("TrimRuns", [&] { return inner().TrimRuns(job, keep); });
}

Result<std::optional<RequestRecord>> FaultyStore::ReadRequest(const std::string& job, const std::string& key,
                                                              EpochMs now_ms) {
  return Read<std::optional<RequestRecord>>("ReadRequest", [&] { return inner().ReadRequest(job, key, now_ms); });
}

Result<std::vector<DueJob>> FaultyStore::ListDue(EpochMs now_ms, size_t limit) {
  return Read<std::vector<DueJob>>("ListDue", [&] { return inner().ListDue(now_ms, limit); });
}

// A late create keeps the `now` it was sent with: the condition "absent or
// expired by then" travels in the request (as DynamoDB's :now does).
Result<WriteOutcome> FaultyStore::CreateRequest(const RequestRecord& rec, EpochMs now_ms) {
  return ConditionalWrite("CreateRequest", [this, rec, now_ms] { return inner().CreateRequest(rec, now_ms); });
}

Result<WriteOutcome> FaultyStore::ReplaceRequest(const RequestRecord& rec, int64_t expected_version) {
  return ConditionalWrite("ReplaceRequest",
                          [this, rec, expected_version] { return inner().ReplaceRequest(rec, expected_version); });
}

// ---------------------------------------------------------------- Broken CAS

// Like an UPDATE that bumps the version but forgot `WHERE version = ?`:
// the versions still look right, so only the checker's semantic checks
// (fences, holders, counters) can notice.
Result<WriteOutcome> BrokenCasStore::DoReplaceState(const JobState& s, int64_t /*expected_version*/,
                                                    std::optional<EpochMs>) {
  auto current = inner().ReadState(s.job);
  if (!current.ok()) return current.status();
  if (!*current) return inner().CreateState(s);
  JobState blind = s;
  blind.version = (*current)->version + 1;
  return inner().ReplaceState(blind, (*current)->version);
}

Result<WriteOutcome> BrokenCasStore::DoReplaceStateAndAppendRun(const JobState& s, int64_t expected_version,
                                                                std::optional<EpochMs> due_at, const RunRecord& run) {
  auto outcome = DoReplaceState(s, expected_version, due_at);
  if (outcome.ok() && *outcome == WriteOutcome::kApplied) (void)inner().AppendRun(run);
  return outcome;
}

}  // namespace jobgate::sim
