#include "jobgate/store.h"

#include <limits>

#include <fmt/format.h>

namespace jobgate {

Result<JobRecord> Store::ReadJob(const std::string& job, const std::string& request_key) {
  auto state = ReadState(job);
  if (!state.ok()) return state.status();
  auto def = ReadDefinition(job);
  if (!def.ok()) return def.status();
  JobRecord record{std::move(*state), std::move(*def), std::nullopt};
  if (request_key.empty()) return record;
  // The earliest time there is: nothing counts as expired.
  auto request = ReadRequest(job, request_key, std::numeric_limits<EpochMs>::min());
  if (!request.ok()) return request.status();
  record.request = std::move(*request);
  return record;
}

namespace {

Status CheckNextVersion(const JobState& state, int64_t expected_version) {
  if (state.version == expected_version + 1) return Status::Ok();
  return Status::Internal(fmt::format("job '{}': a state write of version {} over expected version {}", state.job,
                                      state.version, expected_version));
}

}  // namespace

Result<WriteOutcome> Store::CreateState(const JobState& state) {
  conflicting_.reset();
  return DoCreateState(state, DueAt(state));
}

Result<WriteOutcome> Store::ReplaceState(const JobState& state, int64_t expected_version) {
  conflicting_.reset();
  JOBGATE_RETURN_IF_ERROR(CheckNextVersion(state, expected_version));
  return DoReplaceState(state, expected_version, DueAt(state));
}

Result<WriteOutcome> Store::CreateState(const JobState& state, EpochMs not_before) {
  conflicting_.reset();
  return DoCreateStateNotBefore(state, DueAt(state), not_before);
}

Result<WriteOutcome> Store::ReplaceState(const JobState& state, int64_t expected_version, EpochMs not_before) {
  conflicting_.reset();
  JOBGATE_RETURN_IF_ERROR(CheckNextVersion(state, expected_version));
  return DoReplaceStateNotBefore(state, expected_version, DueAt(state), not_before);
}

Result<WriteOutcome> Store::ReplaceStateAndAppendRun(const JobState& state, int64_t expected_version,
                                                     const RunRecord& run) {
  conflicting_.reset();
  JOBGATE_RETURN_IF_ERROR(CheckNextVersion(state, expected_version));
  return DoReplaceStateAndAppendRun(state, expected_version, DueAt(state), run);
}

Result<WriteOutcome> Store::DoReplaceStateAndAppendRun(const JobState& state, int64_t expected_version,
                                                       std::optional<EpochMs> due_at, const RunRecord& run) {
  auto outcome = DoReplaceState(state, expected_version, due_at);
  if (!outcome.ok() || *outcome != WriteOutcome::kApplied) return outcome;
  // The state is committed; history is best effort from here on. Reporting
  // an error now would make the caller re-read and find its own write, so a
  // lost run record only costs a history row.
  (void)AppendRun(run);
  return outcome;
}

}  // namespace jobgate
