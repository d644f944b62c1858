// JobDefinition <-> JSON text, the form in which table-shaped backends store
// a definition (one text column / attribute), so every backend agrees on it.
#pragma once

#include <string>
#include <string_view>

#include "jobgate/job.h"
#include "jobgate/status.h"

namespace jobgate {

// Compact JSON object whose keys are the JobDefinition member names. Invalid
// UTF-8 in strings is replaced by U+FFFD (JSON cannot carry it), so this never
// fails.
std::string DefinitionToJson(const JobDefinition& def);

// Parses DefinitionToJson's output. Missing keys keep JobDefinition's
// defaults and unknown keys are ignored (a newer jobgate may add fields). A
// value of the wrong type gives kCorrupt naming `where`, the field and the
// value. Does not validate (see ValidateDefinition).
Result<JobDefinition> DefinitionFromJson(std::string_view json, const std::string& where = "definition");

}  // namespace jobgate
