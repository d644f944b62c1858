// Metrics in the Prometheus text exposition format, version 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/).
//
// Hand-written rather than prometheus-cpp: Debian ships that only as C++
// shared libraries, and jobgate links its own static libstdc++ (a second
// libstdc++ in the process is unsafe) and avoids shared libraries for its
// start-up time (src/CMakeLists.txt). tests/metrics/metrics_parse_test.cc
// checks the output against an independent parser (tools/prom).
//
// A Registry owns families (counters, gauges, histograms) and renders them
// all with Text(): families in registration order, each one's series sorted
// by their label values (byte order).
//
// Thread safety: every family has its own mutex, the registry one for its
// list of families; updates (the scheduler thread) and Text() (HTTP
// threads) may run concurrently. Families live as long as their registry,
// and the references AddCounter & co. return stay valid until then.
//
// Programming errors abort the process with a message on stderr, in every
// build type: a bad metric or label name, a counter name without `_total`,
// a name registered twice, unsorted histogram buckets (all at
// registration, with constant names), and a call whose number of label
// values differs from the family's number of label names (the count is
// fixed at each call site, so the first test that reaches it fails).
//
// Label values may be any bytes (job names come from users): invalid UTF-8
// is replaced with U+FFFD, so the output stays valid UTF-8; all else is kept.
// Two values that differ only in their invalid bytes become one series.
//
// A flood of label values (job names) cannot exhaust memory: each family
// keeps at most `max_series_per_family` series. An update that would create
// one more is dropped and counted in the counter kSeriesDroppedName, with
// the family's name as its label `family`, registered first by every
// registry and exempt from the cap (its series are one per family).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace jobgate::metrics {

// Label values, in the order of the family's label names.
using Labels = std::vector<std::string>;

inline constexpr size_t kDefaultMaxSeriesPerFamily = 10'000;
// Updates dropped by the series cap, by family.
inline constexpr const char* kSeriesDroppedName = "jobgate_metrics_series_dropped_total";

class Counter;

// What counters, gauges and histograms share: the name, help and label
// names, the series and their lock, the cap, the rendering.
class Family {
 public:
  enum class Kind { kCounter, kGauge, kHistogram };

  virtual ~Family() = default;
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  const std::string& name() const { return name_; }
  Kind kind() const { return kind_; }
  // The number of series it holds now.
  size_t SeriesCount() const;

 protected:
  // One series; counters and gauges use `value`, histograms the rest.
  struct Series {
    double value = 0;
    std::vector<uint64_t> buckets;  // per bucket, not cumulative; the last one is +Inf
    double sum = 0;
    uint64_t count = 0;
  };

  Family(Kind kind, std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> buckets, size_t max_series, Counter* dropped);

  // The series for `labels`, created if missing; nullptr when the cap
  // refuses a new one (counted in `dropped_`). Called with mu_ held.
  Series* FindOrAdd(const Labels& labels);
  // The series for `labels`, or nullptr. Called with mu_ held.
  const Series* Find(const Labels& labels) const;

  mutable std::mutex mu_;
  const std::vector<double> buckets_;  // histograms' upper bounds, +Inf not included
  std::map<Labels, Series> series_;    // label values with invalid UTF-8 replaced

 private:
  friend class Registry;

  // Appends the family's HELP and TYPE lines and its series.
  void Render(std::string& out) const;
  void RenderHistogram(std::string& out, const Labels& labels, const Series& series) const;
  void CheckLabelCount(const Labels& labels) const;

  const Kind kind_;
  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const size_t max_series_;
  Counter* const dropped_;  // nullptr for the dropped-series counter itself
};

// A value that only goes up: events, seconds spent.
class Counter : public Family {
 public:
  // Adds v to the series. A negative or NaN v is ignored: a counter never
  // goes down, and a negative duration from a stepped clock must not abort.
  void Add(const Labels& labels, double v = 1);
  // For totals kept elsewhere and copied in when scraped (the counts in the
  // store's state items): replaces the series' value, and Clear() drops
  // every series first, so that a job that is gone is gone here too.
  void Set(const Labels& labels, double v);
  void Clear();
  // The series' value; 0 when it does not exist.
  double Value(const Labels& labels) const;

 private:
  friend class Registry;
  using Family::Family;
};

// A value that goes up and down.
class Gauge : public Family {
 public:
  void Set(const Labels& labels, double v);
  void Add(const Labels& labels, double v);
  // Drops every series: for values recomputed at each scrape, so that a job
  // that no longer exists does not keep its last value.
  void Clear();
  // The series' value; 0 when it does not exist.
  double Value(const Labels& labels) const;

 private:
  friend class Registry;
  using Family::Family;
};

// Observations counted in buckets fixed at registration; rendered as the
// cumulative `_bucket` series (the last one `le="+Inf"`), `_sum` and `_count`.
class Histogram : public Family {
 public:
  // A NaN observation is counted in the +Inf bucket and makes the sum NaN,
  // as in the Go client.
  void Observe(const Labels& labels, double v);

 private:
  friend class Registry;
  using Family::Family;
};

class Registry {
 public:
  static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

  explicit Registry(size_t max_series_per_family = kDefaultMaxSeriesPerFamily);
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // `name` must end in `_total`.
  Counter& AddCounter(std::string name, std::string help, std::vector<std::string> label_names);
  Gauge& AddGauge(std::string name, std::string help, std::vector<std::string> label_names);
  // `buckets`: the upper bounds, strictly increasing, no NaN; a last +Inf
  // may be given or not (there always is one). `le` may not be a label name.
  Histogram& AddHistogram(std::string name, std::string help, std::vector<std::string> label_names,
                          std::vector<double> buckets);

  // The whole exposition.
  std::string Text() const;

  // Updates dropped by the series cap (kSeriesDroppedName).
  const Counter& series_dropped() const { return *dropped_; }

 private:
  Family& Register(std::unique_ptr<Family> family);

  const size_t max_series_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family>> families_;
  Counter* dropped_ = nullptr;
};

}  // namespace jobgate::metrics
