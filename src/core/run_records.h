// The run records (history) the controller appends.
#pragma once

#include <string>

#include "jobgate/controller.h"
#include "jobgate/job.h"

namespace jobgate {

// The record of a run that committed `outcome`.
RunRecord FinishedRunRecord(const Lease& lease, EpochMs now, RecordedOutcome outcome, int64_t exit_code,
                            const std::string& error);

// The record of a run that never committed: `why` says who ended it.
RunRecord AbandonedRunRecord(const JobState& dead, EpochMs now, std::string why);

// The record of an invocation that could not acquire the job at all (every
// CAS round lost to nobody): `why` says how.
// A record of an invocation that did not run (outcome kContended, kMissed,
// kSkipped, kDeduplicated): start and end are `now`.
RunRecord NotRunRecord(const std::string& job, const std::string& run_id, const std::string& holder, int64_t fence,
                       EpochMs slot, EpochMs now, RecordedOutcome outcome, std::string why);

RunRecord ContendedRunRecord(const std::string& job, const std::string& run_id, const std::string& holder,
                             int64_t fence, EpochMs now, std::string why);

}  // namespace jobgate
