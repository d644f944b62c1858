// Store wrappers of the simulation, stacked per host like this:
//
//   Controller -> FaultyStore (one per host) -> RecordingStore (shared)
//              -> [BrokenCasStore, self-test only] -> MemoryStore or SqliteStore
//
// FaultyStore injects the failures a real backend has (an error before the
// write, a write that applied but whose response was lost, a write that
// applied but whose silent re-send answers "condition failed", a write that
// times out and lands later, failed reads, latency) and, at each call
// boundary, lets the simulation run other actors first: that is how one
// single-threaded seed reaches the interleavings of concurrent invocations.
// RecordingStore sits below the faults and reports every write that really
// applied, with the item it replaced and who wrote it, to the invariant
// checker. The bottom store is a MemoryStore or an in-memory SqliteStore
// (chosen per seed), so a backend whose conditions differ from the contract
// shows up as a violation.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "jobgate/store.h"
#include "sim/sim_world.h"

namespace jobgate::sim {

// Forwards every call to `inner` (StoreWrapper); the wrappers override
// what they change.
class ForwardingStore : public StoreWrapper {
 public:
  explicit ForwardingStore(Store& inner) : StoreWrapper(inner) {}
  // Deleted: a wrapper around another wrapper would otherwise silently pick
  // the copy constructor (a closer base than Store&) and skip a layer.
  ForwardingStore(const ForwardingStore&) = delete;
  ForwardingStore& operator=(const ForwardingStore&) = delete;

 protected:
  Store& inner() const { return target(); }
};

// A `now` before every expiry: ReadRequest with it returns the record as
// stored, expired or not.
inline constexpr EpochMs kReadExpiredToo = std::numeric_limits<EpochMs>::min();

// A state write that applied.
struct StateWrite {
  int actor = -1;
  int64_t delayed = 0;  // a late write landing: the token RecordingStore::DelayWrite gave it; 0 on time
  std::optional<JobState> before;  // the item it replaced; nullopt for a create
  JobState after;
};

// A request-record write that applied.
struct RequestWrite {
  int actor = -1;
  int64_t delayed = 0;  // as StateWrite::delayed
  std::optional<RequestRecord> before;  // as stored, expired or not
  RequestRecord after;
};

class WriteObserver {
 public:
  virtual ~WriteObserver() = default;
  virtual void OnStateWrite(const StateWrite& w) = 0;
  virtual void OnRequestWrite(const RequestWrite& w) = 0;
  // `actor` sent a write that will land late (if at all) as `token`: its
  // landing is to be judged as part of the call that sent it.
  virtual void OnWriteDelayed(int actor, int64_t token) = 0;
};

// Reports every applied state and request write to `observer`. Reading the
// item before the write and writing it are not one atomic step, which is
// fine: the simulation has no threads and no interleaving inside this layer.
class RecordingStore final : public ForwardingStore {
 public:
  RecordingStore(Store& inner, WriteObserver& observer) : ForwardingStore(inner), observer_(observer) {}

  // The actor the next writes belong to (set by its FaultyStore), and the
  // token of the late write they are, if they are one.
  void set_writer(int actor, int64_t delayed = 0) {
    writer_ = actor;
    delayed_ = delayed;
  }
  // A token for a write of `actor` that will land late, announced to the
  // observer now, while the call that sends it is still the actor's current one.
  int64_t DelayWrite(int actor);

  Result<WriteOutcome> CreateRequest(const RequestRecord& rec, EpochMs now_ms) override;
  Result<WriteOutcome> ReplaceRequest(const RequestRecord& rec, int64_t expected_version) override;

 protected:
  Result<WriteOutcome> DoCreateState(const JobState& s, std::optional<EpochMs> due_at) override;
  Result<WriteOutcome> DoReplaceState(const JobState& s, int64_t expected_version,
                                      std::optional<EpochMs> due_at) override;
  Result<WriteOutcome> DoReplaceStateAndAppendRun(const JobState& s, int64_t expected_version,
                                                  std::optional<EpochMs> due_at, const RunRecord& run) override;

 private:
  Result<WriteOutcome> RecordState(const std::string& job, const std::function<Result<WriteOutcome>()>& write);
  Result<WriteOutcome> RecordRequest(const RequestRecord& rec,
                                     const std::function<Result<WriteOutcome>()>& write);

  WriteObserver& observer_;
  int writer_ = -1;
  int64_t delayed_ = 0;
  int64_t last_token_ = 0;
};

// What a seed's store does wrong, and how often.
struct FaultPlan {
  double write_fail_before = 0;  // error, nothing applied
  double write_fail_after = 0;   // applied, then the response is lost (DynamoDB 500 / timeout)
  // Conditional writes only (state and request records). Applied, then the
  // connection died before the response and the HTTP client (libcurl, on a
  // reused connection) silently re-sent the request, whose copy lost the
  // condition against the first: the caller sees kConditionFailed.
  double write_applied_then_conflict = 0;
  // Sent but delayed in the network: the caller times out (kUnavailable)
  // with nothing applied, re-reads and goes on, and the write lands later,
  // its condition judged against the store as it is then.
  double write_late = 0;
  int64_t late_ms = 0;  // a late write lands within this much true time (or a few call boundaries)
  double read_fail = 0;
  int64_t max_latency_ms = 0;    // each call takes 0..this much true time
  double interleave = 0;         // chance, per call boundary, that another actor acts first
  double slow_call = 0;          // chance, per call boundary, that the caller freezes for a while ...
  int64_t slow_call_ms = 0;      // ... of up to this long, while the rest of the world goes on
};

// Decides, from the seed, what happens to each store call; shared by all
// hosts' FaultyStores so the order of draws is the order of calls.
class FaultInjector {
 public:
  // `extra` draws what the faults added later need (kAppliedThenConflict,
  // kLate), so that a seed replays as before until one of them first fires.
  FaultInjector(SimTime& time, Rng& rng, Rng& extra, Trace& trace, FaultPlan plan)
      : time_(time), rng_(rng), extra_(extra), trace_(trace), plan_(plan) {}

  enum class WriteFault { kNone, kFailBefore, kFailAfter, kAppliedThenConflict, kLate };

  // Run at call boundaries: other actors' steps (interleaving), or the
  // whole world for a while as the caller freezes mid-call.
  std::function<void(int actor)> on_boundary;
  std::function<void(int actor, int64_t pause_ms)> on_freeze;
  // A late write landed: for the calls under way, somebody else acted.
  std::function<void()> on_land;

  void Boundary(int actor);
  // A time drawn in [from, to]: when a store stamps its answer.
  EpochMs Between(EpochMs from, EpochMs to) { return rng_.Uniform(from, to); }
  const SimTime& time() const { return time_; }
  // `conditional`: a CAS or conditional create, which may also be answered
  // by a re-sent copy or land late.
  WriteFault ForWrite(int actor, const char* call, bool conditional);
  bool ReadFails(int actor, const char* call);
  // The re-sent copy of `actor`'s applied write answered kConditionFailed.
  void NoteAppliedThenConflict(int actor, const char* call);
  // Queues `actor`'s late write: `land` applies it (through the recorder)
  // after a few call boundaries of anybody, or once its delay has passed.
  void Delay(int actor, const char* call, std::function<Result<WriteOutcome>()> land);
  // Lands the late writes that are due; `boundary`: at a call boundary
  // (counted), else between steps (by time only).
  void LandDue(bool boundary);

  // Faults injected into `actor`'s calls so far (the checker asks whether
  // an error Status was earned).
  int64_t faults_for(int actor) const;
  int64_t total_faults() const { return total_; }
  // Of those, writes that applied and were answered kConditionFailed.
  int64_t resent_for(int actor) const;
  const FaultPlan& plan() const { return plan_; }
  // What the faults added later did, by name (applied_then_conflict,
  // late_writes_sent, late_writes_landed, ...), for the self-tests.
  const std::map<std::string, int64_t>& counters() const { return counters_; }

 private:
  struct Late {
    int actor = -1;
    std::string call;
    int boundaries_left = 0;  // lands at the boundary that brings this to 0 ...
    EpochMs land_by = 0;      // ... or once true time reaches this
    int64_t reads_at_send = 0;
    std::function<Result<WriteOutcome>()> land;
  };
  void Count(int actor, const char* call, const char* what);
  void Land(Late late);

  SimTime& time_;
  Rng& rng_;
  Rng& extra_;
  Trace& trace_;
  FaultPlan plan_;
  std::map<int, int64_t> per_actor_;
  std::map<int, int64_t> reads_;  // per actor
  std::map<int, int64_t> resent_;  // per actor
  std::vector<Late> late_;        // in the order sent
  std::map<std::string, int64_t> counters_;
  int64_t total_ = 0;
};

// One host's view of the store: every call may be delayed, interleaved
// with other actors, or fail as FaultPlan says.
class FaultyStore final : public ForwardingStore {
 public:
  FaultyStore(RecordingStore& recorder, FaultInjector& faults, int actor)
      : ForwardingStore(static_cast<Store&>(recorder)), recorder_(recorder), faults_(faults), actor_(actor) {}

  Result<std::optional<JobState>> ReadState(const std::string& job) override;
  Result<JobRecord> ReadJob(const std::string& job, const std::string& request_key) override;
  Result<std::optional<JobDefinition>> ReadDefinition(const std::string& job) override;
  Status AppendRun(const RunRecord& run) override;
  Status TrimRuns(const std::string& job, size_t keep) override;
  Result<std::optional<RequestRecord>> ReadRequest(const std::string& job, const std::string& key,
                                                   EpochMs now_ms) override;
  Result<WriteOutcome> CreateRequest(const RequestRecord& rec, EpochMs now_ms) override;
  Result<WriteOutcome> ReplaceRequest(const RequestRecord& rec, int64_t expected_version) override;
  Result<std::vector<DueJob>> ListDue(EpochMs now_ms, size_t limit) override;
  // When the scenario lets the store report its time, every answer carries
  // a Date-like stamp: the store's clock (true time) read at a moment drawn
  // within the call, truncated to whole seconds. The host places its clock
  // with the same ClockEstimator the DynamoDB client uses.
  bool ReportsTime() const override { return host_clock_ != nullptr; }
  std::optional<ClockEstimate> ObservedClock() const override;
  // `clock`: the host's; `understate`: the self-test's lie, every estimate
  // reported as exact (the controller then counts no uncertainty).
  void ReportTime(Clock* clock, bool understate = false) {
    host_clock_ = clock;
    understate_ = understate;
  }
  // The estimate last handed to the controller (what its last `now` used),
  // nullopt before any.
  const std::optional<ClockEstimate>& last_view() const { return last_view_; }
  // The estimate as computed, whatever is reported (for the checker).
  std::optional<ClockEstimate> honest_estimate() const;

 protected:
  Result<WriteOutcome> DoCreateState(const JobState& s, std::optional<EpochMs> due_at) override;
  Result<WriteOutcome> DoReplaceState(const JobState& s, int64_t expected_version,
                                      std::optional<EpochMs> due_at) override;
  Result<WriteOutcome> DoReplaceStateAndAppendRun(const JobState& s, int64_t expected_version,
                                                  std::optional<EpochMs> due_at, const RunRecord& run) override;

 private:
  template <typename T>
  Result<T> Read(const char* call, const std::function<Result<T>()>& read);
  template <typename T>
  Result<T> Write(const char* call, const std::function<Result<T>()>& write);
  // A write as `fault` says: not at all, or applied and then maybe answered
  // with an error.
  template <typename T>
  Result<T> Apply(const char* call, FaultInjector::WriteFault fault, const std::function<Result<T>()>& write);
  // A conditional write; `write` owns copies of its arguments, since a late
  // one runs after the call returned.
  Result<WriteOutcome> ConditionalWrite(const char* call, std::function<Result<WriteOutcome>()> write);
  // Hands `write` to the injector to land later and answers a timeout.
  Result<WriteOutcome> SendLate(const char* call, std::function<Result<WriteOutcome>()> write);
  Status WriteStatus(const char* call, const std::function<Status()>& write);

  // A Date-like stamp of the answer to a call that began at true `sent`.
  void StampAnswer(EpochMs sent_true, int64_t sent_mono);

  RecordingStore& recorder_;
  FaultInjector& faults_;
  int actor_;
  Clock* host_clock_ = nullptr;
  bool understate_ = false;
  ClockEstimator estimator_;
  mutable std::optional<ClockEstimate> last_view_;
};

// The self-test's saboteur: a "CAS" that ignores the expected version and
// always writes (the blind read-modify-write every lost update comes from).
class BrokenCasStore final : public ForwardingStore {
 public:
  explicit BrokenCasStore(Store& inner) : ForwardingStore(inner) {}

 protected:
  Result<WriteOutcome> DoReplaceState(const JobState& s, int64_t expected_version,
                                      std::optional<EpochMs> due_at) override;
  Result<WriteOutcome> DoReplaceStateAndAppendRun(const JobState& s, int64_t expected_version,
                                                  std::optional<EpochMs> due_at, const RunRecord& run) override;
};

}  // namespace jobgate::sim
