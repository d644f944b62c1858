// Text hygiene for things users and workloads hand us.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace jobgate {

// Replaces invalid UTF-8 with U+FFFD and control characters other than
// newline and tab with a space.
std::string CleanUtf8(std::string_view in);

// CleanUtf8, then keeps at most the last `max_bytes` bytes, cut at a
// character boundary, with surrounding whitespace trimmed.
std::string CleanTail(std::string_view in, size_t max_bytes);

// A printable, quoted rendering of a user-supplied value for error messages.
std::string Quote(std::string_view in);

}  // namespace jobgate
