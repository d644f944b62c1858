// How the simulation reads and prints a job's state: the rate limiter's
// log counted, and compact one-line descriptions for traces and violation
// messages.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "jobgate/job.h"

namespace jobgate::sim {

// How many of the rate limiter's stamps are after `after`.
int64_t StampsAfter(const std::vector<EpochMs>& history, EpochMs after);
// "field: want A, got B; ..." for the fields two states disagree on.
std::string Diff(const JobState& want, const JobState& got);
// One line: status, version, owner, fence, lease, counters, rate log.
std::string Brief(const std::optional<JobState>& s);

}  // namespace jobgate::sim
