// The JSON of DESIGN.md: the --json outcome (what `jobgate run --json`
// prints and what a Lambda invocation answers), and the state and run
// records as `status --json`, `history --json` and the HTTP API show them.
// Times are RFC 3339 UTC strings, null when unset.
#pragma once

#include <nlohmann/json.hpp>

#include "jobgate/controller.h"

namespace jobgate {

nlohmann::ordered_json OutcomeJson(const Outcome& o);
// Keys are the state field names of DESIGN.md.
nlohmann::ordered_json StateJson(const JobState& s);
nlohmann::ordered_json RunJson(const RunRecord& r);

}  // namespace jobgate
