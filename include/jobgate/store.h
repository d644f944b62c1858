// The store contract (DESIGN.md "Store contract"): one small interface that
// every backend implements with the same semantics, checked by one
// conformance suite (tests/store/conformance.h).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "jobgate/clock.h"
#include "jobgate/job.h"
#include "jobgate/logger.h"
#include "jobgate/status.h"

namespace jobgate {

// The result of a conditional write that reached the store. Losing the
// condition is an outcome, not an error. A write that returns an error
// Status (kUnavailable) may or may not have been applied: callers re-read.
enum class WriteOutcome { kApplied, kConditionFailed };

// A job's state and definition, and the record of the request an
// invocation carries, read together (one round trip where the backend
// allows: the gate needs them all, and the skip path is one read).
struct JobRecord {
  std::optional<JobState> state;
  std::optional<JobDefinition> definition;
  // Asked for by key: as stored, expired or not (the caller judges expiry
  // against its own clock, as ReadRequest's now_ms would).
  std::optional<RequestRecord> request;
};

// A job in the due index and the time it is due from (DueAt).
struct DueJob {
  std::string job;
  EpochMs due_at = 0;
  bool operator==(const DueJob&) const = default;
};

// Thread-compatible: one Store per thread, or external locking. Every read
// is strongly consistent (sees every write that returned kApplied).
class Store {
 public:
  virtual ~Store() = default;

  // Creates tables / schema. Idempotent; never touches existing data.
  virtual Status Init() = 0;

  // --- job state ---
  // nullopt when the job has no state item.
  virtual Result<std::optional<JobState>> ReadState(const std::string& job) = 0;
  // The three state writes are not virtual: the contract's rules hold here,
  // once, for every backend (a write of any version but expected + 1 is
  // refused as kInternal: it would let two writers make the same version and
  // defeat every later CAS), and the due time every backend indexes for
  // ListDue is computed here, by one policy (DueAt). Backends implement the
  // Do* methods below.
  //
  // Writes `state` only if the job has no state item.
  Result<WriteOutcome> CreateState(const JobState& state);
  // Writes `state` (whose version must be expected_version + 1) only if the
  // stored item's version is `expected_version`. Version 0 also matches an
  // item that has no version attribute.
  Result<WriteOutcome> ReplaceState(const JobState& state, int64_t expected_version);
  // CreateState and ReplaceState that apply only once the store's own clock
  // reads at least `not_before` (epoch ms), checked by the store inside the
  // same conditional write, where the store has a clock of its own
  // (PostgreSQL); elsewhere the same as the calls above. The controller
  // passes the earliest it placed the store's clock at when it gated: every
  // "has this time passed" the gate answered (lease expired, cooldown over,
  // rate window moved, slot due) then also holds on the store's clock when
  // the acquisition applies, whatever the invoking host's clock says.
  Result<WriteOutcome> CreateState(const JobState& state, EpochMs not_before);
  Result<WriteOutcome> ReplaceState(const JobState& state, int64_t expected_version, EpochMs not_before);
  // ReplaceState and, only if it applied, AppendRun — atomically where the
  // backend can (one transaction), else the append follows the CAS. The
  // commit of a run uses it so history and counters agree.
  Result<WriteOutcome> ReplaceStateAndAppendRun(const JobState& state, int64_t expected_version,
                                                const RunRecord& run);
  // State and definition, and the request record `request_key` names
  // (none when empty), in one round trip. The default makes a call each;
  // backends override it with one (a join, a BatchGetItem).
  virtual Result<JobRecord> ReadJob(const std::string& job, const std::string& request_key);
  // Jobs whose DueAt() <= now_ms with their due times, at most `limit`,
  // soonest first (ties by name). Costs O(due jobs), not O(all jobs). A
  // scheduler asks with a `now_ms` ahead of its clock to learn how long it
  // may sleep.
  virtual Result<std::vector<DueJob>> ListDue(EpochMs now_ms, size_t limit) = 0;
  // Every state item, by job name (for `status`).
  virtual Result<std::vector<JobState>> ListStates() = 0;

  // --- definitions ---
  virtual Result<std::optional<JobDefinition>> ReadDefinition(const std::string& job) = 0;
  virtual Status PutDefinition(const JobDefinition& def) = 0;  // create or replace
  virtual Result<std::vector<JobDefinition>> ListDefinitions() = 0;

  // --- run records ---
  virtual Status AppendRun(const RunRecord& run) = 0;
  // Newest first, at most `limit`.
  virtual Result<std::vector<RunRecord>> ListRuns(const std::string& job, size_t limit) = 0;
  // Deletes all but the newest `keep` run records of the job.
  virtual Status TrimRuns(const std::string& job, size_t keep) = 0;

  // --- request (idempotency) records ---
  // nullopt when absent or expired (expires_at_ms <= now_ms).
  virtual Result<std::optional<RequestRecord>> ReadRequest(const std::string& job, const std::string& key,
                                                           EpochMs now_ms) = 0;
  // Only if absent or expired (an expired record counts as absent). A
  // backend that does not expire records by itself (all but DynamoDB,
  // whose TTL does) also deletes, with each record it creates, up to
  // kRequestSweepBatch records that expired more than kRequestSweepMarginMs
  // before now_ms, never the one it writes: records go at least as fast as
  // they come, and the hour leaves any host's clock allowance far behind.
  virtual Result<WriteOutcome> CreateRequest(const RequestRecord& rec, EpochMs now_ms) = 0;
  static constexpr int64_t kRequestSweepBatch = 16;
  static constexpr int64_t kRequestSweepMarginMs = 3'600'000;
  // Only if the stored record's version is `expected_version`.
  virtual Result<WriteOutcome> ReplaceRequest(const RequestRecord& rec, int64_t expected_version) = 0;
  // Deletes request records expired at now_ms; returns how many. Callers
  // pass a now that allows the clock skew (the controller's
  // RequestExpiryNow), or records still live for other hosts go.
  virtual Result<int64_t> ExpireRequests(EpochMs now_ms) = 0;

  // --- clock ---
  // Whether the backend's answers carry the store's own time (a remote
  // store's HTTP Date header). Hosts of such a store work in its time, their
  // uncertainty counted, and refuse to act while they cannot place it; hosts
  // of a store that does not (an embedded store shares the host's clock)
  // rely on NTP keeping them within max_clock_skew of each other
  // (docs/operations.md, "Clocks").
  virtual bool ReportsTime() const { return false; }
  // This host's clock against the store's, from the answers so far; nullopt
  // before the first one, or when the backend does not report time.
  virtual std::optional<ClockEstimate> ObservedClock() const { return std::nullopt; }

  // After a state write (CreateState, ReplaceState) that returned
  // kConditionFailed: the state item that failed the condition, when the
  // backend's answer carried it (DynamoDB, ReturnValuesOnConditionCheckFailure
  // = ALL_OLD), so that the writer need not read it again; nullopt when not
  // known: re-read. Reset by every state write.
  const std::optional<JobState>& ConflictingState() const { return conflicting_; }

 protected:
  void SetConflictingState(std::optional<JobState> state) { conflicting_ = std::move(state); }

  // The backend's side of the state writes above, called with the checks
  // done. `due_at`: when the job is next due for a scheduler pass, for the
  // backend's due index (nullopt: not due on its own, out of the index).
  virtual Result<WriteOutcome> DoCreateState(const JobState& state, std::optional<EpochMs> due_at) = 0;
  virtual Result<WriteOutcome> DoReplaceState(const JobState& state, int64_t expected_version,
                                              std::optional<EpochMs> due_at) = 0;
  // The time-guarded writes; the default ignores the guard (the store has
  // no clock of its own to check it against).
  virtual Result<WriteOutcome> DoCreateStateNotBefore(const JobState& state, std::optional<EpochMs> due_at,
                                                      EpochMs /*not_before*/) {
    return DoCreateState(state, due_at);
  }
  virtual Result<WriteOutcome> DoReplaceStateNotBefore(const JobState& state, int64_t expected_version,
                                                       std::optional<EpochMs> due_at, EpochMs /*not_before*/) {
    return DoReplaceState(state, expected_version, due_at);
  }
  // The default: DoReplaceState, then AppendRun (best effort).
  virtual Result<WriteOutcome> DoReplaceStateAndAppendRun(const JobState& state, int64_t expected_version,
                                                          std::optional<EpochMs> due_at, const RunRecord& run);

 private:
  std::optional<JobState> conflicting_;
};

// A Store that forwards every call to another one, as LevelDB's EnvWrapper
// does for Env: tests, fault injectors and instrumentation override only the
// calls they change. Thread-safety is the target's.
class StoreWrapper : public Store {
 public:
  explicit StoreWrapper(Store& target) : target_(target) {}
  Store& target() const { return target_; }

  Status Init() override { return target_.Init(); }
  Result<std::optional<JobState>> ReadState(const std::string& job) override { return target_.ReadState(job); }
  Result<JobRecord> ReadJob(const std::string& job, const std::string& request_key) override {
    return target_.ReadJob(job, request_key);
  }
  Result<std::vector<DueJob>> ListDue(EpochMs now_ms, size_t limit) override {
    return target_.ListDue(now_ms, limit);
  }
  Result<std::vector<JobState>> ListStates() override { return target_.ListStates(); }
  Result<std::optional<JobDefinition>> ReadDefinition(const std::string& job) override {
    return target_.ReadDefinition(job);
  }
  Status PutDefinition(const JobDefinition& def) override { return target_.PutDefinition(def); }
  Result<std::vector<JobDefinition>> ListDefinitions() override { return target_.ListDefinitions(); }
  Status AppendRun(const RunRecord& run) override { return target_.AppendRun(run); }
  Result<std::vector<RunRecord>> ListRuns(const std::string& job, size_t limit) override {
    return target_.ListRuns(job, limit);
  }
  Status TrimRuns(const std::string& job, size_t keep) override { return target_.TrimRuns(job, keep); }
  Result<std::optional<RequestRecord>> ReadRequest(const std::string& job, const std::string& key,
                                                   EpochMs now_ms) override {
    return target_.ReadRequest(job, key, now_ms);
  }
  Result<WriteOutcome> CreateRequest(const RequestRecord& rec, EpochMs now_ms) override {
    return target_.CreateRequest(rec, now_ms);
  }
  Result<WriteOutcome> ReplaceRequest(const RequestRecord& rec, int64_t expected_version) override {
    return target_.ReplaceRequest(rec, expected_version);
  }
  Result<int64_t> ExpireRequests(EpochMs now_ms) override { return target_.ExpireRequests(now_ms); }
  bool ReportsTime() const override { return target_.ReportsTime(); }
  std::optional<ClockEstimate> ObservedClock() const override { return target_.ObservedClock(); }

 protected:
  // Through the target's own checks and due policy; what the target learnt
  // of a conflict passes on.
  Result<WriteOutcome> DoCreateState(const JobState& state, std::optional<EpochMs>) override {
    auto outcome = target_.CreateState(state);
    SetConflictingState(target_.ConflictingState());
    return outcome;
  }
  Result<WriteOutcome> DoReplaceState(const JobState& state, int64_t expected_version,
                                      std::optional<EpochMs>) override {
    auto outcome = target_.ReplaceState(state, expected_version);
    SetConflictingState(target_.ConflictingState());
    return outcome;
  }
  Result<WriteOutcome> DoReplaceStateAndAppendRun(const JobState& state, int64_t expected_version,
                                                  std::optional<EpochMs>, const RunRecord& run) override {
    return target_.ReplaceStateAndAppendRun(state, expected_version, run);
  }
  // The time-guarded writes go through DoCreateState / DoReplaceState, so
  // that a wrapper changing those (faults, recording) changes these too;
  // the guard reaches the target only through a wrapper that overrides
  // these as well.

 private:
  Store& target_;
};

// What a store takes from its host instead of reaching for the process's
// own, as LevelDB's Options carry Env* and Logger*: tests and embedders pass
// a fake clock, a fixed environment and their logger.
struct StoreOptions {
  Clock* clock = nullptr;    // nullptr: the system clock
  Logger* logger = nullptr;  // nullptr: DefaultLogger()
  // Environment variables a backend reads (AWS_REGION, AWS credentials,
  // AWS_ENDPOINT_URL_DYNAMODB, ...); nullopt: a snapshot of the process's
  // environment, taken when the store is opened.
  std::optional<std::map<std::string, std::string, std::less<>>> environment;
};

// Opens a store from a URL: "memory:", "sqlite:PATH", "postgres://…"
// and "dynamodb://TABLE?…". kInvalidArgument for a malformed URL or unknown
// scheme, kUnavailable when the backend cannot be opened or reached.
Result<std::unique_ptr<Store>> OpenStore(const std::string& url, const StoreOptions& options = {});

// The URL as messages may show it: a password in it (postgres://u:PW@...,
// ?password=PW) replaced by "***".
std::string RedactStoreUrl(const std::string& url);

// The URL used when neither --store nor JOBGATE_STORE says one.
inline constexpr const char* kDefaultStoreUrl = "sqlite:jobgate.db";

}  // namespace jobgate
