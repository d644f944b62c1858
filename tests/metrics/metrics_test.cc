// The metrics registry's exposition text, byte for byte: counters, gauges,
// histograms, escaping, invalid UTF-8, special values, sorting, the series
// cap, the programming errors it aborts on, and updates from several threads
// while it renders. tests/metrics/metrics_parse_test.cc reads the text with
// an independent parser.
#include "metrics/metrics.h"

#include <gtest/gtest.h>

#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace jobgate::metrics {
namespace {

using namespace std::string_literals;  // "..."s keeps embedded NULs

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// What every registry starts with.
const std::string kDroppedHead =
    "# HELP jobgate_metrics_series_dropped_total Metric updates dropped because their family had reached its maximum "
    "number of series.\n"
    "# TYPE jobgate_metrics_series_dropped_total counter\n";

// The text after the dropped-series family (when it has no series).
std::string Body(const Registry& r) {
  const std::string text = r.Text();
  EXPECT_EQ(text.substr(0, kDroppedHead.size()), kDroppedHead);
  return text.substr(kDroppedHead.size());
}

// One gauge sample as rendered, to check number formatting.
std::string Rendered(double v) {
  Registry r;
  r.AddGauge("g", "", {}).Set({}, v);
  std::string body = Body(r);
  const std::string head = "# HELP g \n# TYPE g gauge\ng ";
  EXPECT_EQ(body.substr(0, head.size()), head);
  EXPECT_EQ(body.back(), '\n');
  return body.substr(head.size(), body.size() - head.size() - 1);
}

TEST(MetricsText, EmptyRegistryHasOnlyTheDroppedSeriesCounter) {
  Registry r;
  EXPECT_EQ(r.Text(), kDroppedHead);
  EXPECT_STREQ(Registry::kContentType, "text/plain; version=0.0.4; charset=utf-8");
}

TEST(MetricsText, CounterSeriesSortedByLabelValues) {
  Registry r;
  Counter& c = r.AddCounter("jobgate_runs_total", "Runs started.", {"job", "outcome"});
  c.Add({"b", "ok"});
  c.Add({"a", "failed"}, 2);
  c.Add({"a", "ok"}, 0.5);
  c.Add({"b", "ok"});
  c.Add({"b", "ok"}, -5);    // ignored: a counter never goes down
  c.Add({"b", "ok"}, kNaN);  // ignored too
  EXPECT_EQ(Body(r),
            "# HELP jobgate_runs_total Runs started.\n"
            "# TYPE jobgate_runs_total counter\n"
            "jobgate_runs_total{job=\"a\",outcome=\"failed\"} 2\n"
            "jobgate_runs_total{job=\"a\",outcome=\"ok\"} 0.5\n"
            "jobgate_runs_total{job=\"b\",outcome=\"ok\"} 2\n");
  EXPECT_EQ(c.Value({"b", "ok"}), 2);
  EXPECT_EQ(c.Value({"c", "ok"}), 0);
  EXPECT_EQ(c.SeriesCount(), 3u);  // Value does not create series
}

TEST(MetricsText, FamiliesInRegistrationOrderAndWithoutLabels) {
  Registry r;
  Gauge& up = r.AddGauge("jobgate_up", "1 when serving.", {});
  Counter& ticks = r.AddCounter("jobgate_ticks_total", "Ticks.", {});
  r.AddGauge("jobgate_empty", "No series yet.", {"job"});
  ticks.Add({}, 3);
  up.Set({}, 1);
  EXPECT_EQ(Body(r),
            "# HELP jobgate_up 1 when serving.\n"
            "# TYPE jobgate_up gauge\n"
            "jobgate_up 1\n"
            "# HELP jobgate_ticks_total Ticks.\n"
            "# TYPE jobgate_ticks_total counter\n"
            "jobgate_ticks_total 3\n"
            "# HELP jobgate_empty No series yet.\n"
            "# TYPE jobgate_empty gauge\n");
}

TEST(MetricsText, GaugeSetAddAndClear) {
  Registry r;
  Gauge& g = r.AddGauge("jobgate_jobs", "Jobs by state.", {"state"});
  g.Set({"running"}, 4);
  g.Add({"running"}, -1.5);
  g.Add({"idle"}, 2);
  EXPECT_EQ(Body(r),
            "# HELP jobgate_jobs Jobs by state.\n"
            "# TYPE jobgate_jobs gauge\n"
            "jobgate_jobs{state=\"idle\"} 2\n"
            "jobgate_jobs{state=\"running\"} 2.5\n");
  EXPECT_EQ(g.Value({"running"}), 2.5);
  g.Clear();
  EXPECT_EQ(g.SeriesCount(), 0u);
  EXPECT_EQ(Body(r), "# HELP jobgate_jobs Jobs by state.\n# TYPE jobgate_jobs gauge\n");
  g.Set({"paused"}, 1);
  EXPECT_EQ(Body(r),
            "# HELP jobgate_jobs Jobs by state.\n# TYPE jobgate_jobs gauge\njobgate_jobs{state=\"paused\"} 1\n");
}

TEST(MetricsText, CounterSetCopiesATotalKeptElsewhere) {
  Registry r;
  Counter& c = r.AddCounter("jobgate_job_runs_total", "Runs, from the store.", {"job"});
  c.Set({"a"}, 7);
  c.Set({"b"}, 2);
  c.Set({"a"}, 9);
  c.Set({"b"}, -1);  // ignored: never negative
  EXPECT_EQ(c.Value({"a"}), 9);
  EXPECT_EQ(c.Value({"b"}), 2);
  c.Clear();
  c.Set({"b"}, 3);
  EXPECT_EQ(Body(r),
            "# HELP jobgate_job_runs_total Runs, from the store.\n"
            "# TYPE jobgate_job_runs_total counter\n"
            "jobgate_job_runs_total{job=\"b\"} 3\n");
}

TEST(MetricsText, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Registry r;
  Histogram& h = r.AddHistogram("jobgate_run_seconds", "Run durations.", {"job"}, {0.5, 1, 2.5});
  // 0.5 goes to le="0.5": the bound is inclusive.
  for (double v : {0.25, 0.5, 1.5, 3.0, 100.0}) h.Observe({"backup"}, v);
  h.Observe({"audit"}, 1);
  EXPECT_EQ(Body(r),
            "# HELP jobgate_run_seconds Run durations.\n"
            "# TYPE jobgate_run_seconds histogram\n"
            "jobgate_run_seconds_bucket{job=\"audit\",le=\"0.5\"} 0\n"
            "jobgate_run_seconds_bucket{job=\"audit\",le=\"1\"} 1\n"
            "jobgate_run_seconds_bucket{job=\"audit\",le=\"2.5\"} 1\n"
            "jobgate_run_seconds_bucket{job=\"audit\",le=\"+Inf\"} 1\n"
            "jobgate_run_seconds_sum{job=\"audit\"} 1\n"
            "jobgate_run_seconds_count{job=\"audit\"} 1\n"
            "jobgate_run_seconds_bucket{job=\"backup\",le=\"0.5\"} 2\n"
            "jobgate_run_seconds_bucket{job=\"backup\",le=\"1\"} 2\n"
            "jobgate_run_seconds_bucket{job=\"backup\",le=\"2.5\"} 3\n"
            "jobgate_run_seconds_bucket{job=\"backup\",le=\"+Inf\"} 5\n"
            "jobgate_run_seconds_sum{job=\"backup\"} 105.25\n"
            "jobgate_run_seconds_count{job=\"backup\"} 5\n");
}

TEST(MetricsText, HistogramWithoutLabelsAndWithAGivenInfBound) {
  Registry r;
  // A last +Inf bound is the one always there, not a second one.
  Histogram& h = r.AddHistogram("lag_seconds", "Lag.", {}, {0.001, 1e6, kInf});
  h.Observe({}, 0.001);
  h.Observe({}, 2e6);
  h.Observe({}, kNaN);  // counted in +Inf; the sum becomes NaN
  EXPECT_EQ(Body(r),
            "# HELP lag_seconds Lag.\n"
            "# TYPE lag_seconds histogram\n"
            "lag_seconds_bucket{le=\"0.001\"} 1\n"
            "lag_seconds_bucket{le=\"1000000\"} 1\n"
            "lag_seconds_bucket{le=\"+Inf\"} 3\n"
            "lag_seconds_sum NaN\n"
            "lag_seconds_count 3\n");
}

TEST(MetricsText, HistogramWithNoBoundsHasOnlyInf) {
  Registry r;
  r.AddHistogram("h", "", {}, {}).Observe({}, -2);
  EXPECT_EQ(Body(r), "# HELP h \n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum -2\nh_count 1\n");
}

TEST(MetricsText, EscapesHelpAndLabelValues) {
  Registry r;
  Counter& c = r.AddCounter("x_total", "A back\\slash, a \"quote\" and\na newline.", {"job"});
  c.Add({"a\"b\\c\nd"});
  c.Add({"tab\tcr\rnul\0end"s});  // kept as they are: the format escapes only \ " and newline
  EXPECT_EQ(Body(r),
            "# HELP x_total A back\\\\slash, a \"quote\" and\\na newline.\n"
            "# TYPE x_total counter\n"
            "x_total{job=\"a\\\"b\\\\c\\nd\"} 1\n"
            "x_total{job=\"tab\tcr\rnul\0end\"} 1\n"s);
}

TEST(MetricsText, InvalidUtf8InLabelValuesBecomesReplacementCharacters) {
  Registry r;
  Counter& c = r.AddCounter("x_total", "", {"job"});
  // Octal escapes (\377 is byte FF): they end after three digits, where \x runs on through any hex digit.
  c.Add({"bad\377name"});
  c.Add({"bad\376name"});  // the same value once replaced: the same series
  c.Add({"caf\xc3\xa9"});  // valid UTF-8 is kept
  c.Add({"cut\xe2\x82"});  // a truncated sequence is one U+FFFD
  EXPECT_EQ(Body(r),
            "# HELP x_total \n"
            "# TYPE x_total counter\n"
            "x_total{job=\"bad\xef\xbf\xbdname\"} 2\n"
            "x_total{job=\"caf\xc3\xa9\"} 1\n"
            "x_total{job=\"cut\xef\xbf\xbd\"} 1\n");
  EXPECT_EQ(c.Value({"bad\x80name"}), 2);
}

TEST(MetricsText, SortsByteWiseOnEveryLabelInTurn) {
  Registry r;
  Gauge& g = r.AddGauge("g", "", {"a", "b"});
  for (const char* a : {"b", "a", "B", "aa", ""}) g.Set({a, "2"}, 1);
  g.Set({"a", "10"}, 2);
  g.Set({"a", "1"}, 3);
  EXPECT_EQ(Body(r),
            "# HELP g \n# TYPE g gauge\n"
            "g{a=\"\",b=\"2\"} 1\n"
            "g{a=\"B\",b=\"2\"} 1\n"
            "g{a=\"a\",b=\"1\"} 3\n"
            "g{a=\"a\",b=\"10\"} 2\n"
            "g{a=\"a\",b=\"2\"} 1\n"
            "g{a=\"aa\",b=\"2\"} 1\n"
            "g{a=\"b\",b=\"2\"} 1\n");
}

TEST(MetricsText, NumbersIntegralPlainOthersShortestAndSpecialSpellings) {
  EXPECT_EQ(Rendered(0), "0");
  EXPECT_EQ(Rendered(-0.0), "-0");
  EXPECT_EQ(Rendered(3), "3");
  EXPECT_EQ(Rendered(-42), "-42");
  EXPECT_EQ(Rendered(1e6), "1000000");
  EXPECT_EQ(Rendered(123456789012), "123456789012");
  EXPECT_EQ(Rendered(9007199254740993.0), "9007199254740992");
  EXPECT_EQ(Rendered(1e20), "100000000000000000000");
  EXPECT_EQ(Rendered(1e21), "1e+21");
  EXPECT_EQ(Rendered(0.1), "0.1");
  EXPECT_EQ(Rendered(2.5), "2.5");
  EXPECT_EQ(Rendered(1.5e-7), "1.5e-07");
  EXPECT_EQ(Rendered(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(Rendered(std::numeric_limits<double>::max()), "1.7976931348623157e+308");
  EXPECT_EQ(Rendered(std::numeric_limits<double>::denorm_min()), "5e-324");
  EXPECT_EQ(Rendered(kInf), "+Inf");
  EXPECT_EQ(Rendered(-kInf), "-Inf");
  EXPECT_EQ(Rendered(kNaN), "NaN");
}

// Every finite double comes back bit for bit from its text (strtod reads as
// Go's ParseFloat does for these forms).
TEST(MetricsText, NumbersRoundTrip) {
  std::mt19937_64 rng(20261202);  // fixed seed: a failure replays exactly
  Registry r;
  Gauge& g = r.AddGauge("g", "", {"i"});
  std::vector<double> values;
  for (int i = 0; i < 2000; ++i) {
    double v = std::bit_cast<double>(rng());
    if (!std::isfinite(v)) v = static_cast<double>(static_cast<int64_t>(rng() >> 11)) / 8;  // a few exact ones
    values.push_back(v);
    g.Set({std::to_string(1000000 + i)}, v);
  }
  const std::string text = Body(r);
  size_t pos = 0;
  for (int i = 0; i < 2000; ++i) {
    const std::string prefix = "g{i=\"" + std::to_string(1000000 + i) + "\"} ";
    pos = text.find(prefix, pos);
    ASSERT_NE(pos, std::string::npos) << i;
    const size_t start = pos + prefix.size();
    const std::string number = text.substr(start, text.find('\n', start) - start);
    EXPECT_EQ(std::bit_cast<uint64_t>(std::strtod(number.c_str(), nullptr)), std::bit_cast<uint64_t>(values[i]))
        << number;
  }
}

TEST(MetricsCap, NewSeriesBeyondTheCapAreDroppedAndCounted) {
  Registry r(3);
  Counter& c = r.AddCounter("runs_total", "", {"job"});
  Gauge& g = r.AddGauge("jobs", "", {"job"});
  for (const char* job : {"e", "d", "c", "b", "a"}) c.Add({job});
  c.Add({"d"}, 10);  // an existing series is still updated
  for (const char* job : {"x", "y", "z", "w"}) g.Set({job}, 1);
  EXPECT_EQ(c.SeriesCount(), 3u);
  EXPECT_EQ(r.series_dropped().Value({"runs_total"}), 2);
  EXPECT_EQ(r.series_dropped().Value({"jobs"}), 1);
  EXPECT_EQ(r.Text(), kDroppedHead +
                          "jobgate_metrics_series_dropped_total{family=\"jobs\"} 1\n"
                          "jobgate_metrics_series_dropped_total{family=\"runs_total\"} 2\n"
                          "# HELP runs_total \n# TYPE runs_total counter\n"
                          "runs_total{job=\"c\"} 1\n"
                          "runs_total{job=\"d\"} 11\n"
                          "runs_total{job=\"e\"} 1\n"
                          "# HELP jobs \n# TYPE jobs gauge\n"
                          "jobs{job=\"x\"} 1\n"
                          "jobs{job=\"y\"} 1\n"
                          "jobs{job=\"z\"} 1\n");
  // Clear makes room again.
  g.Clear();
  g.Set({"w"}, 2);
  EXPECT_EQ(g.Value({"w"}), 2);
}

TEST(MetricsCap, DefaultCapHoldsAFloodOfJobNames) {
  Registry r;
  Histogram& h = r.AddHistogram("run_seconds", "", {"job"}, {1, 10});
  for (int i = 0; i < 12'000; ++i) h.Observe({"job-" + std::to_string(i)}, 1);
  EXPECT_EQ(h.SeriesCount(), kDefaultMaxSeriesPerFamily);
  EXPECT_EQ(r.series_dropped().Value({"run_seconds"}), 2000);
}

// The scheduler thread updates while HTTP threads render: the totals come
// out exact and every rendering is whole (each family's lines complete).
TEST(MetricsConcurrency, UpdatesFromSeveralThreadsWhileRendering) {
  Registry r;
  Counter& c = r.AddCounter("runs_total", "", {"job"});
  Gauge& g = r.AddGauge("running", "", {"job"});
  Histogram& h = r.AddHistogram("run_seconds", "", {"job"}, {1, 2});
  constexpr int kThreads = 4;
  constexpr int kUpdates = 20'000;
  std::atomic<bool> done{false};
  std::atomic<int> renders{0};
  std::thread reader([&] {
    while (!done.load()) {
      const std::string text = r.Text();
      if (text.empty() || text.back() != '\n') ADD_FAILURE() << "cut rendering";
      renders.fetch_add(1);
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kUpdates; ++i) {
        const std::string job = "job" + std::to_string(i % 8);
        c.Add({job});
        g.Add({job}, t % 2 == 0 ? 1 : -1);
        h.Observe({job}, (i + t) % 3);
        if (i % 5000 == 0) g.Clear();
      }
    });
  }
  for (auto& w : writers) w.join();
  done.store(true);
  reader.join();
  EXPECT_GT(renders.load(), 0);
  double total = 0;
  for (int j = 0; j < 8; ++j) total += c.Value({"job" + std::to_string(j)});
  EXPECT_EQ(total, kThreads * kUpdates);
  const std::string text = r.Text();
  // 80,000 observations, spread evenly over the 8 jobs.
  EXPECT_NE(text.find("run_seconds_count{job=\"job0\"} 10000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("run_seconds_bucket{job=\"job7\",le=\"+Inf\"} 10000\n"), std::string::npos) << text;
}

// Programming errors abort in every build type (metrics.h).
class MetricsDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(MetricsDeathTest, BadNamesAtRegistration) {
  Registry r;
  EXPECT_DEATH(r.AddGauge("1abc", "", {}), "invalid metric name '1abc'");
  EXPECT_DEATH(r.AddGauge("a-b", "", {}), "invalid metric name");
  EXPECT_DEATH(r.AddGauge("", "", {}), "invalid metric name");
  EXPECT_DEATH(r.AddCounter("runs", "", {}), "must end in _total");
  EXPECT_DEATH(r.AddGauge("g", "", {"job:name"}), "invalid label name 'job:name'");
  EXPECT_DEATH(r.AddGauge("g", "", {"__name__"}), "invalid label name");
  EXPECT_DEATH(r.AddGauge("g", "", {"9"}), "invalid label name");
  EXPECT_DEATH(r.AddGauge("g", "", {"job", "job"}), "label name 'job' given twice");
  EXPECT_DEATH(r.AddHistogram("h", "", {"le"}, {1}), "'le' is reserved");
  EXPECT_DEATH(r.AddHistogram("h", "", {}, {2, 1}), "not strictly increasing");
  EXPECT_DEATH(r.AddHistogram("h", "", {}, {1, 1}), "not strictly increasing");
  EXPECT_DEATH(r.AddHistogram("h", "", {}, {kNaN}), "NaN or infinite");
  // `le` is fine on gauges and counters, colons in metric names.
  r.AddGauge("ns:g", "", {"le"});
}

TEST_F(MetricsDeathTest, NamesTakenTwice) {
  Registry r;
  r.AddGauge("g", "", {});
  r.AddHistogram("h", "", {}, {1});
  EXPECT_DEATH(r.AddCounter("jobgate_metrics_series_dropped_total", "", {}), "taken by");
  EXPECT_DEATH(r.AddGauge("g", "", {"other"}), "sample name g is taken by g");
  EXPECT_DEATH(r.AddGauge("h_count", "", {}), "sample name h_count is taken by h");
  EXPECT_DEATH(r.AddHistogram("g", "", {}, {}), "taken by g");
}

TEST_F(MetricsDeathTest, WrongNumberOfLabelValues) {
  Registry r;
  Counter& c = r.AddCounter("runs_total", "", {"job", "outcome"});
  EXPECT_DEATH(c.Add({"only-job"}), "metric runs_total: 1 label values for 2 label names");
  EXPECT_DEATH(c.Value({}), "0 label values for 2");
  Histogram& h = r.AddHistogram("h", "", {}, {1});
  EXPECT_DEATH(h.Observe({"x"}, 1), "1 label values for 0");
}

}  // namespace
}  // namespace jobgate::metrics
