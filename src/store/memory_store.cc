#include "store/memory_store.h"

#include <fmt/format.h>

namespace jobgate {

namespace {

bool Expired(const RequestRecord& rec, EpochMs now_ms) { return rec.expires_at_ms <= now_ms; }

}  // namespace

Result<std::optional<JobState>> MemoryStore::ReadState(const std::string& job) {
  std::lock_guard lock(mu_);
  auto it = states_.find(job);
  if (it == states_.end()) return std::optional<JobState>();
  return std::optional<JobState>(it->second);
}

void MemoryStore::PutStateLocked(const JobState& state, std::optional<EpochMs> due_at) {
  if (auto old = due_of_.find(state.job); old != due_of_.end()) {
    due_.erase({old->second, state.job});
    due_of_.erase(old);
  }
  if (due_at) {
    due_.insert({*due_at, state.job});
    due_of_[state.job] = *due_at;
  }
  states_[state.job] = state;
}

Result<WriteOutcome> MemoryStore::DoCreateState(const JobState& state, std::optional<EpochMs> due_at) {
  std::lock_guard lock(mu_);
  if (states_.contains(state.job)) return WriteOutcome::kConditionFailed;
  PutStateLocked(state, due_at);
  return WriteOutcome::kApplied;
}

Result<WriteOutcome> MemoryStore::DoReplaceState(const JobState& state, int64_t expected_version,
                                                 std::optional<EpochMs> due_at) {
  std::lock_guard lock(mu_);
  return ReplaceStateLocked(state, expected_version, due_at);
}

Result<WriteOutcome> MemoryStore::DoReplaceStateAndAppendRun(const JobState& state, int64_t expected_version,
                                                             std::optional<EpochMs> due_at, const RunRecord& run) {
  std::lock_guard lock(mu_);
  auto outcome = ReplaceStateLocked(state, expected_version, due_at);
  if (outcome.ok() && *outcome == WriteOutcome::kApplied) runs_[run.job][{run.start_ms, run.run_id}] = run;
  return outcome;
}

Result<JobRecord> MemoryStore::ReadJob(const std::string& job, const std::string& request_key) {
  std::lock_guard lock(mu_);
  JobRecord record;
  if (auto it = states_.find(job); it != states_.end()) record.state = it->second;
  if (auto it = definitions_.find(job); it != definitions_.end()) record.definition = it->second;
  if (!request_key.empty()) {
    if (auto it = requests_.find({job, request_key}); it != requests_.end()) record.request = it->second;
  }
  return record;
}

Result<WriteOutcome> MemoryStore::ReplaceStateLocked(const JobState& state, int64_t expected_version,
                                                     std::optional<EpochMs> due_at) {
  auto it = states_.find(state.job);
  if (it == states_.end() || it->second.version != expected_version) return WriteOutcome::kConditionFailed;
  PutStateLocked(state, due_at);
  return WriteOutcome::kApplied;
}

Result<std::vector<DueJob>> MemoryStore::ListDue(EpochMs now_ms, size_t limit) {
  std::lock_guard lock(mu_);
  std::vector<DueJob> out;
  for (auto it = due_.begin(); it != due_.end() && it->first <= now_ms && out.size() < limit; ++it) {
    out.push_back(DueJob{it->second, it->first});
  }
  return out;
}

Result<std::vector<JobState>> MemoryStore::ListStates() {
  std::lock_guard lock(mu_);
  std::vector<JobState> out;
  out.reserve(states_.size());
  for (const auto& [job, state] : states_) out.push_back(state);
  return out;
}

Result<std::optional<JobDefinition>> MemoryStore::ReadDefinition(const std::string& job) {
  std::lock_guard lock(mu_);
  auto it = definitions_.find(job);
  if (it == definitions_.end()) return std::optional<JobDefinition>();
  return std::optional<JobDefinition>(it->second);
}

Status MemoryStore::PutDefinition(const JobDefinition& def) {
  std::lock_guard lock(mu_);
  definitions_[def.job] = def;
  return Status::Ok();
}

Result<std::vector<JobDefinition>> MemoryStore::ListDefinitions() {
  std::lock_guard lock(mu_);
  std::vector<JobDefinition> out;
  out.reserve(definitions_.size());
  for (const auto& [job, def] : definitions_) out.push_back(def);
  return out;
}

Status MemoryStore::AppendRun(const RunRecord& run) {
  std::lock_guard lock(mu_);
  // Same key as the other backends: re-appending a run replaces it, so a
  // retried append after an unknown outcome does not duplicate it.
  runs_[run.job][{run.start_ms, run.run_id}] = run;
  return Status::Ok();
}

Result<std::vector<RunRecord>> MemoryStore::ListRuns(const std::string& job, size_t limit) {
  std::lock_guard lock(mu_);
  std::vector<RunRecord> out;
  auto it = runs_.find(job);
  if (it == runs_.end()) return out;
  for (auto r = it->second.rbegin(); r != it->second.rend() && out.size() < limit; ++r) out.push_back(r->second);
  return out;
}

Status MemoryStore::TrimRuns(const std::string& job, size_t keep) {
  std::lock_guard lock(mu_);
  auto it = runs_.find(job);
  if (it == runs_.end()) return Status::Ok();
  auto& runs = it->second;
  while (runs.size() > keep) runs.erase(runs.begin());
  if (runs.empty()) runs_.erase(it);
  return Status::Ok();
}

Result<std::optional<RequestRecord>> MemoryStore::ReadRequest(const std::string& job, const std::string& key,
                                                              EpochMs now_ms) {
  std::lock_guard lock(mu_);
  auto it = requests_.find({job, key});
  if (it == requests_.end() || Expired(it->second, now_ms)) return std::optional<RequestRecord>();
  return std::optional<RequestRecord>(it->second);
}

Result<WriteOutcome> MemoryStore::CreateRequest(const RequestRecord& rec, EpochMs now_ms) {
  std::lock_guard lock(mu_);
  auto [it, inserted] = requests_.try_emplace({rec.job, rec.key}, rec);
  if (!inserted) {
    if (!Expired(it->second, now_ms)) return WriteOutcome::kConditionFailed;
    it->second = rec;
  }
  SweepRequestsLocked(rec, now_ms);
  return WriteOutcome::kApplied;
}

void MemoryStore::SweepRequestsLocked(const RequestRecord& written, EpochMs now_ms) {
  int64_t left = kRequestSweepBatch;
  for (auto it = requests_.begin(); it != requests_.end() && left > 0;) {
    const bool sweep = it->second.expires_at_ms < now_ms - kRequestSweepMarginMs &&
                       !(it->first.first == written.job && it->first.second == written.key);
    if (sweep) {
      it = requests_.erase(it);
      --left;
    } else {
      ++it;
    }
  }
}

Result<WriteOutcome> MemoryStore::ReplaceRequest(const RequestRecord& rec, int64_t expected_version) {
  std::lock_guard lock(mu_);
  auto it = requests_.find({rec.job, rec.key});
  if (it == requests_.end() || it->second.version != expected_version) return WriteOutcome::kConditionFailed;
  it->second = rec;
  return WriteOutcome::kApplied;
}

Result<int64_t> MemoryStore::ExpireRequests(EpochMs now_ms) {
  std::lock_guard lock(mu_);
  return static_cast<int64_t>(std::erase_if(requests_, [&](const auto& kv) { return Expired(kv.second, now_ms); }));
}

}  // namespace jobgate
