// Numbers as text: stored fields, URL options and jobs-file values.
#pragma once

#include <cstdint>
#include <string>

namespace jobgate {

// Parses a decimal integer exactly (no trailing junk, no overflow).
bool ParseInt64(const std::string& text, int64_t* out);

}  // namespace jobgate
