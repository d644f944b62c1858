// The registry's exposition read back by an independent parser:
// parse-prometheus-text-format (npm, tools/prom/parse.mjs). A registry with
// every kind of family and label values full of what needs escaping is
// rendered, parsed, and every value and label value that comes back must be
// the one recorded.
//
// What the parser leaves unchecked is checked here (tools/prom/parse.mjs
// lists its gaps): it returns sample values as the strings written, so each
// must be a number as Prometheus' Go parser reads it; it folds labelled
// histograms, so their buckets are read from the `samples` that parse.mjs
// adds; it does not notice a family written twice or a sample line outside
// its family, so the family names are compared in order.
//
// Needs node and tools/prom/node_modules: the test installs the packages
// itself (scripts/npm-tools.sh tools/prom, a no-op when they are up to date)
// and fails, not skips, without node.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "metrics/metrics.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

namespace jobgate::metrics {
namespace {

using nlohmann::json;
using LabelMap = std::map<std::string, std::string>;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
const std::string kSource = JOBGATE_SOURCE_DIR;
const std::string kFffd = "\xef\xbf\xbd";  // U+FFFD

// Label values that need escaping or are otherwise awkward, as recorded
// (first) and as they must come back (second).
const std::vector<std::pair<std::string, std::string>> kJobs = {
    {"nightly \"backup\"", "nightly \"backup\""},
    {"C:\\jobs\\new\nline", "C:\\jobs\\new\nline"},
    {"trailing backslash\\", "trailing backslash\\"},
    {"bad\377bytes\300", "bad" + kFffd + "bytes" + kFffd},  // octal: bytes FF and C0
    {"caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80"},
    {"tab\tand\rcarriage", "tab\tand\rcarriage"},
    {"braces} commas, equals= #hash", "braces} commas, equals= #hash"},
    {"", ""},
};

// Prometheus' Go parser reads a sample value with strconv.ParseFloat; these
// are the forms it must accept that the registry writes.
double ParseSampleValue(const std::string& s) {
  static const std::regex kNumber(R"([+-]?(Inf|NaN|[0-9]+(\.[0-9]+)?(e[+-][0-9]+)?))");
  EXPECT_TRUE(std::regex_match(s, kNumber)) << "not a sample value: '" << s << "'";
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  EXPECT_EQ(*end, '\0') << s;
  return v;
}

// Exactly equal, or both NaN.
bool Same(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

class MetricsParse : public ::testing::Test {
 protected:
  std::string Tmp(const std::string& name) const { return tmp_.path() + "/" + name; }

  // node on PATH and tools/prom/node_modules, installed when missing.
  void EnsureTools() {
    const test::Proc node = test::RunToFiles({"node", "--version"}, Tmp("node.out"), Tmp("node.err"));
    ASSERT_EQ(node.exit_code, 0) << "the metrics parse test needs node on PATH (scripts/deps.sh installs it): "
                                 << node.err;
    const test::Proc npm =
        test::RunToFiles({"bash", kSource + "/scripts/npm-tools.sh", "tools/prom"}, Tmp("npm.out"), Tmp("npm.err"));
    ASSERT_EQ(npm.exit_code, 0) << "scripts/npm-tools.sh tools/prom failed: " << npm.out << npm.err;
  }

  // node tools/prom/parse.mjs < text.
  test::Proc RunParser(const std::string& text) {
    const std::string in = Tmp("in.txt");
    std::FILE* f = std::fopen(in.c_str(), "wb");
    if (f == nullptr) return test::Proc{};
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
    return test::RunToFiles({"/bin/sh", "-c", "exec node \"$0\" < \"$1\"", kSource + "/tools/prom/parse.mjs", in},
                            Tmp("parse.out"), Tmp("parse.err"));
  }

  // parse.mjs's JSON for `text`; null when it refuses it (a failure).
  json Parse(const std::string& text) {
    const test::Proc p = RunParser(text);
    EXPECT_EQ(p.exit_code, 0) << "parse.mjs refused the exposition: " << p.err << "\n" << text;
    if (p.exit_code != 0) return json();
    return json::parse(p.out);
  }

  test::TempDir tmp_{"jobgate-metrics-parse"};
};

using Samples = std::map<std::string, std::map<LabelMap, double>>;

// Sample name -> labels -> value, from parse.mjs's `samples`.
Samples SamplesOf(const json& parsed) {
  Samples out;
  for (const json& s : parsed.at("samples")) {
    const LabelMap labels = s.at("labels").get<LabelMap>();
    const auto [it, added] =
        out[s.at("name").get<std::string>()].emplace(labels, ParseSampleValue(s.at("value").get<std::string>()));
    EXPECT_TRUE(added) << "a series written twice: " << s.dump();
  }
  return out;
}

const std::map<std::string, double> kSpecial = {{"inf", kInf},      {"minus_inf", -kInf}, {"nan", kNaN},
                                                {"tiny", 5e-324},   {"huge", 1.5e300},    {"tenth", 0.1},
                                                {"negative", -0.5}, {"big_int", 1e15}};
const std::string kRunsHelp = "Runs, by job and outcome: a back\\slash\nand a newline.";

// Every kind of family; a cap of 50 series.
std::string RecordedText() {
  Registry r(50);
  Counter& runs = r.AddCounter("jobgate_runs_total", kRunsHelp, {"job", "outcome"});
  Gauge& values = r.AddGauge("jobgate_values", "Special values.", {"kind"});
  Histogram& durations = r.AddHistogram("jobgate_run_seconds", "Run durations.", {"job"}, {0.25, 1, 60});
  Histogram& lag = r.AddHistogram("jobgate_lag_seconds", "Tick lag.", {}, {0.001, 0.1});
  r.AddGauge("jobgate_nothing_yet", "No series.", {"job"});
  Gauge& flood = r.AddGauge("jobgate_flood", "More series than the cap.", {"job"});
  for (size_t i = 0; i < kJobs.size(); ++i) {
    runs.Add({kJobs[i].first, "ok"}, static_cast<double>(i + 1));
    runs.Add({kJobs[i].first, "failed"}, 0.5);
    for (size_t k = 0; k <= i; ++k) durations.Observe({kJobs[i].first}, static_cast<double>(k) * 0.5);
  }
  runs.Add({kJobs[0].first, "ok"}, 2);  // the first job: 1 + 2 = 3
  for (const auto& [kind, v] : kSpecial) values.Set({kind}, v);
  for (double v : {0.0005, 0.05, 0.05, 7.0}) lag.Observe({}, v);
  for (int i = 0; i < 52; ++i) flood.Set({"job" + std::to_string(i)}, i);  // 2 over the cap
  return r.Text();
}

// The families in order, with their types and help.
void CheckFamilies(const json& families) {
  const std::vector<std::pair<std::string, std::string>> want = {{"jobgate_metrics_series_dropped_total", "COUNTER"},
                                                                 {"jobgate_runs_total", "COUNTER"},
                                                                 {"jobgate_values", "GAUGE"},
                                                                 {"jobgate_run_seconds", "HISTOGRAM"},
                                                                 {"jobgate_lag_seconds", "HISTOGRAM"},
                                                                 {"jobgate_nothing_yet", "GAUGE"},
                                                                 {"jobgate_flood", "GAUGE"}};
  ASSERT_EQ(families.size(), want.size()) << families.dump(1);
  for (size_t i = 0; i < families.size(); ++i) {
    EXPECT_EQ(families[i].at("name"), want[i].first);
    EXPECT_EQ(families[i].at("type"), want[i].second) << want[i].first;
  }
  EXPECT_EQ(families[1].at("help"), kRunsHelp);
  EXPECT_EQ(families[5].at("metrics").size(), 0u);
}

// Every label value comes back as recorded (or with U+FFFD), every special
// value as set.
void CheckCounterAndGauge(const Samples& samples) {
  ASSERT_EQ(samples.at("jobgate_runs_total").size(), 2 * kJobs.size());
  for (size_t i = 0; i < kJobs.size(); ++i) {
    const std::string& job = kJobs[i].second;
    const double want_ok = i == 0 ? 3 : static_cast<double>(i + 1);
    EXPECT_EQ(samples.at("jobgate_runs_total").at({{"job", job}, {"outcome", "ok"}}), want_ok) << job;
    EXPECT_EQ(samples.at("jobgate_runs_total").at({{"job", job}, {"outcome", "failed"}}), 0.5) << job;
  }
  ASSERT_EQ(samples.at("jobgate_values").size(), kSpecial.size());
  for (const auto& [kind, v] : kSpecial) {
    EXPECT_TRUE(Same(samples.at("jobgate_values").at({{"kind", kind}}), v)) << kind;
  }
}

// Job i observed 0, 0.5, ..., i/2 (i + 1 values).
void CheckLabelledHistogram(const Samples& samples) {
  for (size_t i = 0; i < kJobs.size(); ++i) {
    const std::string& job = kJobs[i].second;
    const double n = static_cast<double>(i + 1);
    auto bucket = [&](const std::string& le) {
      return samples.at("jobgate_run_seconds_bucket").at({{"job", job}, {"le", le}});
    };
    auto at_most = [&](double bound) { return std::min(n, std::floor(bound / 0.5) + 1); };
    EXPECT_EQ(bucket("0.25"), at_most(0.25)) << job;
    EXPECT_EQ(bucket("1"), at_most(1)) << job;
    EXPECT_EQ(bucket("60"), at_most(60)) << job;
    EXPECT_EQ(bucket("+Inf"), n) << job;
    EXPECT_EQ(samples.at("jobgate_run_seconds_count").at({{"job", job}}), n) << job;
    EXPECT_EQ(samples.at("jobgate_run_seconds_sum").at({{"job", job}}), 0.5 * n * (n - 1) / 2) << job;
  }
  EXPECT_EQ(samples.at("jobgate_run_seconds_bucket").size(), 4 * kJobs.size());
}

// The histogram without labels comes out whole in the parser's own result.
void CheckUnlabelledHistogram(const json& families) {
  const json& lag = families[4].at("metrics");
  ASSERT_EQ(lag.size(), 1u) << lag.dump();
  EXPECT_EQ(lag[0].at("buckets"), json({{"0.001", "1"}, {"0.1", "3"}, {"+Inf", "4"}}));
  EXPECT_EQ(ParseSampleValue(lag[0].at("count").get<std::string>()), 4);
  EXPECT_EQ(ParseSampleValue(lag[0].at("sum").get<std::string>()), 0.0005 + 0.05 + 0.05 + 7.0);
}

TEST_F(MetricsParse, IndependentParserReadsBackWhatWasRecorded) {
  ASSERT_NO_FATAL_FAILURE(EnsureTools());
  const json parsed = Parse(RecordedText());
  ASSERT_TRUE(parsed.is_object());
  ASSERT_NO_FATAL_FAILURE(CheckFamilies(parsed.at("families")));
  const Samples samples = SamplesOf(parsed);
  CheckCounterAndGauge(samples);
  CheckLabelledHistogram(samples);
  CheckUnlabelledHistogram(parsed.at("families"));
  // The cap: 50 series kept, the 2 updates beyond counted.
  EXPECT_EQ(samples.at("jobgate_flood").size(), 50u);
  EXPECT_EQ(samples.at("jobgate_metrics_series_dropped_total"),
            (std::map<LabelMap, double>{{{{"family", "jobgate_flood"}}, 2}}));
}

// parse.mjs itself: it must refuse what is not the format or not UTF-8, or
// the test above would prove nothing.
TEST_F(MetricsParse, ParserRefusesBrokenInput) {
  ASSERT_NO_FATAL_FAILURE(EnsureTools());
  for (const std::string& bad : {std::string("a{b=unquoted} 1\n"), std::string("a{b=\"\377\"} 1\n")}) {
    const test::Proc p = RunParser(bad);
    EXPECT_EQ(p.exit_code, 1) << bad << p.out;
    EXPECT_NE(p.err.find("parse.mjs: "), std::string::npos) << p.err;
  }
}

}  // namespace
}  // namespace jobgate::metrics
