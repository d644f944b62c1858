#include "metrics/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <limits>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "util/text.h"

namespace jobgate::metrics {
namespace {

[[noreturn]] void Fatal(const std::string& message) {
  std::fprintf(stderr, "jobgate metrics: %s\n", message.c_str());
  std::abort();
}

bool IsNameChar(char c, bool colon_allowed, bool digit_allowed) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
  if (c >= '0' && c <= '9') return digit_allowed;
  return c == ':' && colon_allowed;
}

// [a-zA-Z_:][a-zA-Z0-9_:]* for metric names, [a-zA-Z_][a-zA-Z0-9_]* for
// label names.
bool IsValidName(std::string_view name, bool colon_allowed) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!IsNameChar(name[i], colon_allowed, i > 0)) return false;
  }
  return true;
}

// `le` is the bucket label of histograms; names starting with `__` are
// reserved to Prometheus itself.
void CheckLabelNames(const std::string& metric, const std::vector<std::string>& names, bool histogram) {
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string& n = names[i];
    if (!IsValidName(n, false) || n.starts_with("__")) Fatal("metric " + metric + ": invalid label name '" + n + "'");
    if (histogram && n == "le") Fatal("histogram " + metric + ": 'le' is reserved for the buckets");
    if (std::find(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(i), n) !=
        names.begin() + static_cast<std::ptrdiff_t>(i)) {
      Fatal("metric " + metric + ": label name '" + n + "' given twice");
    }
  }
}

void CheckMetricName(const std::string& name) {
  if (!IsValidName(name, true)) Fatal("invalid metric name '" + name + "'");
}

// The bounds without a last +Inf (always added when rendering); aborts
// unless they are strictly increasing numbers.
std::vector<double> CheckBuckets(const std::string& metric, std::vector<double> buckets) {
  if (!buckets.empty() && buckets.back() == std::numeric_limits<double>::infinity()) buckets.pop_back();
  for (size_t i = 0; i < buckets.size(); ++i) {
    if (std::isnan(buckets[i]) || std::isinf(buckets[i]))
      Fatal("histogram " + metric + ": a bucket is NaN or infinite");
    if (i > 0 && !(buckets[i - 1] < buckets[i])) Fatal("histogram " + metric + ": buckets not strictly increasing");
  }
  return buckets;
}

// A sample value as Prometheus' parser (Go's strconv.ParseFloat) reads it
// back exactly: integral values in plain digits ("3", not "3e+00"), others
// in the shortest digits that round-trip (fmt's Dragonbox), and the
// spellings +Inf, -Inf and NaN of the format. fmt rather than
// std::to_chars: libstdc++'s floating-point to_chars is the one piece of the
// binary that needs libm, which every jobgate process would then map.
void AppendNumber(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  // Plain digits up to 1e21 (as JavaScript prints numbers): beyond that the
  // exponent is the shorter and clearer form.
  const bool plain = v == std::trunc(v) && std::fabs(v) < 1e21;
  if (plain) {
    fmt::format_to(std::back_inserter(out), "{:.0f}", v);
  } else {
    fmt::format_to(std::back_inserter(out), "{}", v);
  }
}

// HELP text: backslash and newline escaped.
void AppendHelp(std::string& out, std::string_view help) {
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

// A label value: backslash, double quote and newline escaped; the value is
// valid UTF-8 already (FindOrAdd replaced what was not).
void AppendLabelValue(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

// `{a="x",b="y"}`, with `le` last when given; nothing when there are no
// labels at all.
void AppendLabels(std::string& out, const std::vector<std::string>& names, const Labels& values,
                  const std::string* le = nullptr) {
  if (names.empty() && le == nullptr) return;
  out += '{';
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i];
    out += "=\"";
    AppendLabelValue(out, values[i]);
    out += '"';
  }
  if (le != nullptr) {
    if (!names.empty()) out += ',';
    out += "le=\"";
    out += *le;
    out += '"';
  }
  out += '}';
}

void AppendSample(std::string& out, std::string_view name, const std::vector<std::string>& label_names,
                  const Labels& values, double v, const std::string* le = nullptr) {
  out += name;
  AppendLabels(out, label_names, values, le);
  out += ' ';
  AppendNumber(out, v);
  out += '\n';
}

const char* TypeName(Family::Kind kind) {
  switch (kind) {
    case Family::Kind::kCounter:
      return "counter";
    case Family::Kind::kGauge:
      return "gauge";
    case Family::Kind::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// The sample names a family writes: two families must not share one.
std::vector<std::string> SampleNames(const Family& f) {
  if (f.kind() != Family::Kind::kHistogram) return {f.name()};
  return {f.name(), f.name() + "_bucket", f.name() + "_sum", f.name() + "_count"};
}

// The label values with invalid UTF-8 replaced; nullptr when they are all
// valid, so that the common case copies nothing.
std::unique_ptr<Labels> CleanLabels(const Labels& labels) {
  if (std::all_of(labels.begin(), labels.end(), [](const std::string& v) { return IsWellFormedUtf8(v); })) {
    return nullptr;
  }
  auto clean = std::make_unique<Labels>();
  clean->reserve(labels.size());
  for (const std::string& v : labels) clean->push_back(ReplaceInvalidUtf8(v));
  return clean;
}

}  // namespace

Family::Family(Kind kind, std::string name, std::string help, std::vector<std::string> label_names,
               std::vector<double> buckets, size_t max_series, Counter* dropped)
    : buckets_(std::move(buckets)),
      kind_(kind),
      name_(std::move(name)),
      help_(ReplaceInvalidUtf8(help)),
      label_names_(std::move(label_names)),
      max_series_(max_series),
      dropped_(dropped) {}

size_t Family::SeriesCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return series_.size();
}

void Family::CheckLabelCount(const Labels& labels) const {
  if (labels.size() != label_names_.size()) {
    Fatal("metric " + name_ + ": " + std::to_string(labels.size()) + " label values for " +
          std::to_string(label_names_.size()) + " label names");
  }
}

Family::Series* Family::FindOrAdd(const Labels& labels) {
  CheckLabelCount(labels);
  const std::unique_ptr<Labels> clean = CleanLabels(labels);
  const Labels& key = clean ? *clean : labels;
  if (auto it = series_.find(key); it != series_.end()) return &it->second;
  if (series_.size() >= max_series_) {
    // The dropped counter's lock is taken inside ours; it never takes
    // another family's, so the order cannot cycle.
    if (dropped_ != nullptr) dropped_->Add({name_});
    return nullptr;
  }
  Series& s = series_[key];
  if (kind_ == Kind::kHistogram) s.buckets.assign(buckets_.size() + 1, 0);
  return &s;
}

const Family::Series* Family::Find(const Labels& labels) const {
  CheckLabelCount(labels);
  const std::unique_ptr<Labels> clean = CleanLabels(labels);
  const auto it = series_.find(clean ? *clean : labels);
  return it == series_.end() ? nullptr : &it->second;
}

void Family::Render(std::string& out) const {
  out += "# HELP ";
  out += name_;
  out += ' ';
  AppendHelp(out, help_);
  out += "\n# TYPE ";
  out += name_;
  out += ' ';
  out += TypeName(kind_);
  out += '\n';
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [labels, series] : series_) {
    if (kind_ == Kind::kHistogram) {
      RenderHistogram(out, labels, series);
    } else {
      AppendSample(out, name_, label_names_, labels, series.value);
    }
  }
}

void Family::RenderHistogram(std::string& out, const Labels& labels, const Series& series) const {
  const std::string bucket_name = name_ + "_bucket";
  uint64_t cumulative = 0;
  std::string le;
  for (size_t i = 0; i < series.buckets.size(); ++i) {
    cumulative += series.buckets[i];
    le.clear();
    if (i < buckets_.size()) {
      AppendNumber(le, buckets_[i]);
    } else {
      le = "+Inf";
    }
    AppendSample(out, bucket_name, label_names_, labels, static_cast<double>(cumulative), &le);
  }
  AppendSample(out, name_ + "_sum", label_names_, labels, series.sum);
  AppendSample(out, name_ + "_count", label_names_, labels, static_cast<double>(series.count));
}

void Counter::Add(const Labels& labels, double v) {
  std::lock_guard<std::mutex> lock(mu_);
  Series* s = FindOrAdd(labels);
  if (s != nullptr && v >= 0) s->value += v;
}

void Counter::Set(const Labels& labels, double v) {
  std::lock_guard<std::mutex> lock(mu_);
  Series* s = FindOrAdd(labels);
  if (s != nullptr && v >= 0) s->value = v;
}

void Counter::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  series_.clear();
}

double Counter::Value(const Labels& labels) const {
  std::lock_guard<std::mutex> lock(mu_);
  const Series* s = Find(labels);
  return s == nullptr ? 0 : s->value;
}

void Gauge::Set(const Labels& labels, double v) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Series* s = FindOrAdd(labels)) s->value = v;
}

void Gauge::Add(const Labels& labels, double v) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Series* s = FindOrAdd(labels)) s->value += v;
}

void Gauge::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  series_.clear();
}

double Gauge::Value(const Labels& labels) const {
  std::lock_guard<std::mutex> lock(mu_);
  const Series* s = Find(labels);
  return s == nullptr ? 0 : s->value;
}

void Histogram::Observe(const Labels& labels, double v) {
  std::lock_guard<std::mutex> lock(mu_);
  Series* s = FindOrAdd(labels);
  if (s == nullptr) return;
  // The first bound >= v, as `le` means; NaN is <= no bound and goes to
  // +Inf (lower_bound alone would put it in the first bucket).
  const size_t i = std::isnan(v)
                       ? buckets_.size()
                       : static_cast<size_t>(std::lower_bound(buckets_.begin(), buckets_.end(), v) - buckets_.begin());
  ++s->buckets[i];
  s->sum += v;
  ++s->count;
}

Registry::Registry(size_t max_series_per_family) : max_series_(max_series_per_family) {
  // Exempt from the cap: one series per family of this registry.
  dropped_ = &static_cast<Counter&>(
      Register(std::unique_ptr<Family>(new Counter(Family::Kind::kCounter, kSeriesDroppedName,
                                                   "Metric updates dropped because their family had reached its "
                                                   "maximum number of series.",
                                                   {"family"}, {}, std::numeric_limits<size_t>::max(), nullptr))));
}

Counter& Registry::AddCounter(std::string name, std::string help, std::vector<std::string> label_names) {
  CheckMetricName(name);
  if (!name.ends_with("_total")) Fatal("counter " + name + ": a counter's name must end in _total");
  CheckLabelNames(name, label_names, false);
  return static_cast<Counter&>(Register(std::unique_ptr<Family>(new Counter(
      Family::Kind::kCounter, std::move(name), std::move(help), std::move(label_names), {}, max_series_, dropped_))));
}

Gauge& Registry::AddGauge(std::string name, std::string help, std::vector<std::string> label_names) {
  CheckMetricName(name);
  CheckLabelNames(name, label_names, false);
  return static_cast<Gauge&>(Register(std::unique_ptr<Family>(new Gauge(
      Family::Kind::kGauge, std::move(name), std::move(help), std::move(label_names), {}, max_series_, dropped_))));
}

Histogram& Registry::AddHistogram(std::string name, std::string help, std::vector<std::string> label_names,
                                  std::vector<double> buckets) {
  CheckMetricName(name);
  CheckLabelNames(name, label_names, true);
  std::vector<double> bounds = CheckBuckets(name, std::move(buckets));
  return static_cast<Histogram&>(Register(
      std::unique_ptr<Family>(new Histogram(Family::Kind::kHistogram, std::move(name), std::move(help),
                                            std::move(label_names), std::move(bounds), max_series_, dropped_))));
}

Family& Registry::Register(std::unique_ptr<Family> family) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& mine : SampleNames(*family)) {
    for (const auto& other : families_) {
      const std::vector<std::string> theirs = SampleNames(*other);
      if (std::find(theirs.begin(), theirs.end(), mine) != theirs.end()) {
        Fatal("metric " + family->name() + ": its sample name " + mine + " is taken by " + other->name());
      }
    }
  }
  families_.push_back(std::move(family));
  return *families_.back();
}

std::string Registry::Text() const {
  std::string out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& family : families_) family->Render(out);
  return out;
}

}  // namespace jobgate::metrics
