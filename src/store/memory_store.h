// In-process store for unit tests, the simulation and the `memory:` URL.
// Nothing survives the object. Thread-safe: one mutex guards everything.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include "jobgate/store.h"

namespace jobgate {

// Implements the store contract exactly, including ListDue in O(due jobs)
// through an ordered (due time, job) index kept beside the states.
class MemoryStore final : public Store {
 public:
  MemoryStore() = default;
  MemoryStore(const MemoryStore&) = delete;
  MemoryStore& operator=(const MemoryStore&) = delete;

  Status Init() override { return Status::Ok(); }

  Result<std::optional<JobState>> ReadState(const std::string& job) override;
  Result<JobRecord> ReadJob(const std::string& job, const std::string& request_key) override;  // one consistent snapshot
  Result<std::vector<DueJob>> ListDue(EpochMs now_ms, size_t limit) override;
  Result<std::vector<JobState>> ListStates() override;

  Result<std::optional<JobDefinition>> ReadDefinition(const std::string& job) override;
  Status PutDefinition(const JobDefinition& def) override;
  Result<std::vector<JobDefinition>> ListDefinitions() override;

  Status AppendRun(const RunRecord& run) override;
  Result<std::vector<RunRecord>> ListRuns(const std::string& job, size_t limit) override;
  Status TrimRuns(const std::string& job, size_t keep) override;

  Result<std::optional<RequestRecord>> ReadRequest(const std::string& job, const std::string& key,
                                                   EpochMs now_ms) override;
  Result<WriteOutcome> CreateRequest(const RequestRecord& rec, EpochMs now_ms) override;
  Result<WriteOutcome> ReplaceRequest(const RequestRecord& rec, int64_t expected_version) override;
  Result<int64_t> ExpireRequests(EpochMs now_ms) override;

 protected:
  Result<WriteOutcome> DoCreateState(const JobState& state, std::optional<EpochMs> due_at) override;
  Result<WriteOutcome> DoReplaceState(const JobState& state, int64_t expected_version,
                                      std::optional<EpochMs> due_at) override;
  Result<WriteOutcome> DoReplaceStateAndAppendRun(const JobState& state, int64_t expected_version,
                                                  std::optional<EpochMs> due_at,
                                                  const RunRecord& run) override;  // atomic

 private:
  using RunKey = std::pair<EpochMs, std::string>;      // (start_ms, run_id): newest last
  using RequestKey = std::pair<std::string, std::string>;  // (job, key)

  // Stores `state` and keeps the due index in step with it. Requires mu_.
  void PutStateLocked(const JobState& state, std::optional<EpochMs> due_at);
  // CreateRequest's cleanup of long-expired records. Requires mu_.
  void SweepRequestsLocked(const RequestRecord& written, EpochMs now_ms);
  // ReplaceState's condition and write. Requires mu_.
  Result<WriteOutcome> ReplaceStateLocked(const JobState& state, int64_t expected_version,
                                          std::optional<EpochMs> due_at);

  std::mutex mu_;
  std::map<std::string, JobState> states_;
  std::set<std::pair<EpochMs, std::string>> due_;  // (due_at, job) of every state that has one
  std::map<std::string, EpochMs> due_of_;         // job -> its entry in due_
  std::map<std::string, JobDefinition> definitions_;
  std::map<std::string, std::map<RunKey, RunRecord>> runs_;
  std::map<RequestKey, RequestRecord> requests_;
};

}  // namespace jobgate
