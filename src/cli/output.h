// Rendering of outcomes, states and run records for people (tables) and
// programs (JSON). Times are RFC 3339 UTC strings in both, null when unset.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "jobgate/controller.h"
#include "jobgate/job.h"
#include "run/outcome_json.h"

namespace jobgate::cli {

// A table like `systemctl list-timers`: one job a line.
std::string StatusTable(const std::vector<JobState>& states, EpochMs now);
// One job in detail, a field a line.
std::string StatusDetail(const JobState& s, EpochMs now);
std::string HistoryTable(const std::vector<RunRecord>& runs);
// "in 5m", "3h ago", "-".
std::string Relative(EpochMs t, EpochMs now);

}  // namespace jobgate::cli
