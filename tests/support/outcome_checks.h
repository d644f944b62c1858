// What the end-to-end suites read back from the jobgate binary: its output
// as lines and JSON, and the counter invariant of a state item.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace jobgate::test {

// Lines of text (a last line without '\n' counts).
int CountLines(const std::string& text);
// The last line of `text` parsed as JSON; discarded() when it is not JSON.
nlohmann::json LastJsonLine(const std::string& text);
// Our own counter invariant (DESIGN.md "State item"), on `status --json`:
// success + failure + abandoned (+ 1 while RUNNING) = run_count.
::testing::AssertionResult CountersIntact(const nlohmann::json& state);

}  // namespace jobgate::test
