// The run records (history) the controller appends.
#pragma once

#include <string>

#include "jobgate/controller.h"
#include "jobgate/job.h"

namespace jobgate {

// The record of a run that committed `outcome`.
RunRecord FinishedRunRecord(const Lease& lease, EpochMs now, const std::string& outcome, int64_t exit_code,
                            const std::string& error);

// The record of a run that never committed: `why` says who ended it.
RunRecord AbandonedRunRecord(const JobState& dead, EpochMs now, std::string why);

}  // namespace jobgate
