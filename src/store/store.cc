#include "jobgate/store.h"

namespace jobgate {

Result<JobRecord> Store::ReadJob(const std::string& job) {
  auto state = ReadState(job);
  if (!state.ok()) return state.status();
  auto def = ReadDefinition(job);
  if (!def.ok()) return def.status();
  return JobRecord{std::move(*state), std::move(*def)};
}

Result<WriteOutcome> Store::ReplaceStateAndAppendRun(const JobState& state, int64_t expected_version,
                                                     const RunRecord& run) {
  auto outcome = ReplaceState(state, expected_version);
  if (!outcome.ok() || *outcome != WriteOutcome::kApplied) return outcome;
  // The state is committed; history is best effort from here on. Reporting
  // an error now would make the caller re-read and find its own write, so a
  // lost run record only costs a history row.
  (void)AppendRun(run);
  return outcome;
}

}  // namespace jobgate
