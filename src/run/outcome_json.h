// The --json outcome of DESIGN.md: what `jobgate run --json` prints and
// what a Lambda invocation answers. Times are RFC 3339 UTC strings, null
// when unset.
#pragma once

#include <nlohmann/json.hpp>

#include "jobgate/controller.h"

namespace jobgate {

nlohmann::ordered_json OutcomeJson(const Outcome& o);

}  // namespace jobgate
