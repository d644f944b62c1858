// Text hygiene for things users and workloads hand us.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace jobgate {

// Replaces invalid UTF-8 with U+FFFD and control characters other than
// newline and tab with a space.
std::string CleanUtf8(std::string_view in);

// Whether `in` is well-formed UTF-8 (what ReplaceInvalidUtf8 leaves as is).
bool IsWellFormedUtf8(std::string_view in);

// Replaces invalid UTF-8 with U+FFFD as CleanUtf8 does, and changes nothing
// else: for values that must stay exactly as given (controls included) yet
// be valid UTF-8, such as the label values of the metrics exposition.
std::string ReplaceInvalidUtf8(std::string_view in);

// CleanUtf8, then keeps at most the last `max_bytes` bytes, cut at a
// character boundary, with surrounding whitespace trimmed.
std::string CleanTail(std::string_view in, size_t max_bytes);

// A printable, quoted rendering of a user-supplied value for error messages.
std::string Quote(std::string_view in);

// ASCII letters to lower / upper case, every other byte as it is (header
// names, URL schemes, enum spellings: never locale-dependent).
std::string AsciiLower(std::string_view in);
std::string AsciiUpper(std::string_view in);
// Whether `a` and `b` are equal but for the case of ASCII letters.
bool EqualsIgnoringAsciiCase(std::string_view a, std::string_view b);
// `in` without leading and trailing blanks (space, tab, CR, LF).
std::string_view TrimBlanks(std::string_view in);

}  // namespace jobgate
