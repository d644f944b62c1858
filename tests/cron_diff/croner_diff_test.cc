// jobgate's crontab engine against croner (npm, tools/cron/next.mjs), an
// independent cron library written by other hands: thousands of random
// crontab lines and start instants, the next kFires fire times of each
// compared. croner is given Vixie/cronie semantics where it has an option
// for them (next.mjs says which); the cases where the two still differ by
// design are cut out below, each with its reason, and nothing else is.
//
// Deterministic: one seed (kSeed, or JOBGATE_CRON_DIFF_SEED) draws every
// line, zone and instant; a mismatch
// prints `expr<TAB>tz<TAB>start_ms<TAB>count`, a line to pipe into
// `node tools/cron/next.mjs` for a one-line reproduction.
//
// Needs node and tools/cron/node_modules (scripts/npm-tools.sh tools/cron,
// which scripts/test.sh runs); skipped without them unless
// JOBGATE_REQUIRE_NODE_TOOLS=1 (set by scripts/test.sh, so CI cannot
// silently skip it).
#include <stdlib.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "cron_diff/cron_lines.h"
#include "schedule/schedule.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

namespace jobgate {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kSeed = 20261202;
constexpr int kCases = 4000;
constexpr int kFires = 5;

struct Case {
  std::string expr;
  std::string tz;
  int64_t start_ms = 0;
};

// JOBGATE_CRON_DIFF_SEED=N draws another set (to explore; CI uses kSeed).
uint64_t Seed() {
  const char* seed = getenv("JOBGATE_CRON_DIFF_SEED");
  return seed != nullptr && *seed != '\0' ? std::strtoull(seed, nullptr, 10) : kSeed;
}

std::vector<Case> DrawCases() {
  cron_diff::Rng rng(Seed());
  std::vector<Case> cases;
  cases.reserve(kCases);
  for (int i = 0; i < kCases; ++i) {
    Case c;
    c.expr = cron_diff::RandomCrontabLine(rng);
    c.tz = cron_diff::RandomZone(rng);
    const auto tz = TimeZone::Load(c.tz);
    EXPECT_TRUE(tz.ok()) << c.tz;
    c.start_ms = cron_diff::RandomStartMs(rng, tz.ok() ? *tz : TimeZone::Utc());
    cases.push_back(std::move(c));
  }
  return cases;
}

std::string InputLine(const Case& c) { return fmt::format("{}\t{}\t{}\t{}", c.expr, c.tz, c.start_ms, kFires); }

// jobgate's next kFires fire times, or an error text.
std::vector<int64_t> JobgateFires(const Case& c, std::string* error) {
  auto schedule = Schedule::Parse(c.expr, c.tz);
  if (!schedule.ok()) {
    *error = schedule.status().message();
    return {};
  }
  std::vector<int64_t> fires;
  int64_t after = c.start_ms;
  for (int i = 0; i < kFires; ++i) {
    const auto next = schedule->NextAfter(after);
    if (!next) break;
    fires.push_back(*next);
    after = *next;
  }
  return fires;
}

std::vector<int64_t> ParseFires(const std::string& line, std::string* error) {
  if (line.rfind("error:", 0) == 0) {
    *error = line;
    return {};
  }
  std::vector<int64_t> fires;
  std::istringstream in(line);
  int64_t ms = 0;
  while (in >> ms) fires.push_back(ms);
  return fires;
}

class NodeTools : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path tools = JOBGATE_CRON_TOOLS_DIR;
    script_ = (tools / "next.mjs").string();
    const char* require = getenv("JOBGATE_REQUIRE_NODE_TOOLS");
    const bool required = require != nullptr && std::string(require) == "1";
    std::string missing;
    if (!fs::exists(tools / "node_modules" / "croner" / "package.json")) {
      missing = "tools/cron/node_modules (scripts/npm-tools.sh tools/cron installs it)";
    } else if (test::RunToFiles({"node", "--version"}, Tmp("v.out"), Tmp("v.err")).exit_code != 0) {
      missing = "node on PATH";
    }
    if (missing.empty()) return;
    if (required) FAIL() << "missing " << missing << " and JOBGATE_REQUIRE_NODE_TOOLS=1";
    GTEST_SKIP() << "missing " << missing;
  }
  std::string Tmp(const std::string& name) const { return (fs::path(dir_.path()) / name).string(); }

  // croner's answer to each case, one line each (next.mjs's output format).
  std::vector<std::string> Croner(const std::vector<Case>& cases) {
    const std::string in = Tmp("in.tsv");
    {
      std::ofstream f(in);
      for (const Case& c : cases) f << InputLine(c) << '\n';
    }
    // Spawn gives the child /dev/null as stdin; the shell redirects the file.
    const auto proc = test::RunToFiles({"/bin/sh", "-c", "exec node \"$0\" < \"$1\"", script_, in}, Tmp("out"),
                                       Tmp("err"));
    EXPECT_EQ(proc.exit_code, 0) << proc.err;
    std::vector<std::string> lines;
    std::istringstream out(proc.out);
    for (std::string line; std::getline(out, line);) lines.push_back(line);
    return lines;
  }

  test::TempDir dir_{"jobgate-crondiff"};
  std::string script_;
};

std::string Show(const std::vector<int64_t>& fires, const TimeZone& tz) {
  std::string s;
  for (int64_t ms : fires) s += (s.empty() ? "" : " ") + FormatLocalRfc3339(ms, tz);
  return s.empty() ? "(none)" : s;
}

// Counts what the comparison did, for the log and the docs.
struct Tally {
  int compared = 0;
  int through_transitions = 0;  // DST zone, compared across >= 1 transition
  int cut_at_transition = 0;    // compared only up to a transition
  int mismatched = 0;
};

TEST_F(NodeTools, CrontabLinesAgreeWithCroner) {
  const std::vector<Case> cases = DrawCases();
  const std::vector<std::string> croner = Croner(cases);
  ASSERT_EQ(croner.size(), cases.size());
  Tally tally;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    std::string jobgate_error, croner_error;
    std::vector<int64_t> ours = JobgateFires(c, &jobgate_error);
    std::vector<int64_t> theirs = ParseFires(croner[i], &croner_error);
    // Every drawn line is valid in both: a refusal is a disagreement too.
    if (!jobgate_error.empty() || !croner_error.empty()) {
      ++tally.mismatched;
      ADD_FAILURE() << "refused: " << InputLine(c) << "\n  jobgate: " << jobgate_error << "\n  croner: " << croner_error;
      continue;
    }
    const auto tz = TimeZone::Load(c.tz);
    ASSERT_TRUE(tz.ok()) << c.tz;
    const cron_diff::Window window = cron_diff::Comparable(c.expr, *tz, c.start_ms, &ours, &theirs);
    ++tally.compared;
    if (window == cron_diff::Window::kThroughTransitions) ++tally.through_transitions;
    if (window == cron_diff::Window::kCutAtTransition) ++tally.cut_at_transition;
    if (ours == theirs) continue;
    if (++tally.mismatched <= 25) {
      ADD_FAILURE() << "mismatch: " << InputLine(c) << "\n  jobgate: " << Show(ours, *tz)
                    << "\n  croner:  " << Show(theirs, *tz);
    }
  }
  std::cout << fmt::format("{} crontab lines x {} fire times against croner: {} mismatched; {} in DST zones "
                           "compared through transitions, {} compared up to a transition only\n",
                           tally.compared, kFires, tally.mismatched, tally.through_transitions,
                           tally.cut_at_transition);
  EXPECT_EQ(tally.mismatched, 0);
}

}  // namespace
}  // namespace jobgate
