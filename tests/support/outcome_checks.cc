#include "support/outcome_checks.h"

namespace jobgate::test {

int CountLines(const std::string& text) {
  int n = 0;
  for (char c : text) n += c == '\n';
  if (!text.empty() && text.back() != '\n') ++n;
  return n;
}

nlohmann::json LastJsonLine(const std::string& text) {
  std::string t = text;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  const size_t nl = t.rfind('\n');
  return nlohmann::json::parse(nl == std::string::npos ? t : t.substr(nl + 1), nullptr, false);
}

::testing::AssertionResult CountersIntact(const nlohmann::json& s) {
  if (!s.is_object() || !s.contains("run_count")) return ::testing::AssertionFailure() << "not a state: " << s;
  const int64_t finished = s["success_count"].get<int64_t>() + s["failure_count"].get<int64_t>() +
                           s["abandoned_count"].get<int64_t>() + (s["status"] == "RUNNING" ? 1 : 0);
  if (finished == s["run_count"].get<int64_t>()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "success + failure + abandoned + running = " << finished
                                       << " but run_count = " << s["run_count"] << " in " << s.dump();
}

}  // namespace jobgate::test
