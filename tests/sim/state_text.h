// How the simulation reads and prints a job's state: the rate limiter's
// log parsed independently of src/core/gate.cc, and compact one-line
// descriptions for traces and violation messages.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "jobgate/job.h"

namespace jobgate::sim {

// The acquisition stamps in a rate_history field (malformed entries skipped).
std::vector<EpochMs> ParseStamps(const std::string& text);
// How many of them are after `after`.
int64_t StampsAfter(const std::string& history, EpochMs after);
// "field: want A, got B; ..." for the fields two states disagree on.
std::string Diff(const JobState& want, const JobState& got);
// One line: status, version, owner, fence, lease, counters, rate log.
std::string Brief(const std::optional<JobState>& s);

}  // namespace jobgate::sim
