// Schedule: parsing dispatch, rate and at() arithmetic, and the walk over a
// time zone's constant-offset segments that turns matching wall-clock
// minutes into instants under the dialect's DST rules (docs/schedules.md).
#include "schedule/schedule.h"

#include <string>

#include <fmt/format.h>

#include "schedule/cron_spec.h"
#include "util/numbers.h"

namespace jobgate {

using schedule::CronSpec;

namespace {

constexpr int64_t kDayS = 86'400;
// Instants searched: the local years kMinYear-kMaxYear, with a margin for
// any offset.
constexpr int64_t kMinInstantS = schedule::LocalSeconds(schedule::kMinYear, 1, 1) - 2 * kDayS;
constexpr int64_t kMaxInstantS = schedule::LocalSeconds(schedule::kMaxYear + 1, 1, 1) + 2 * kDayS;
// cronie (man 8 cron): clock changes of less than 3 hours get the DST
// treatment; bigger ones are jumps, and what they skip is not caught up.
constexpr int32_t kCronieMaxShiftS = 3 * 3600;
// The longest rate period accepted: 100 years. Longer is a typo.
constexpr int64_t kMaxRateS = 3'155'760'000;
// How far back a search looks for a zone's previous transition at a time.
constexpr int64_t kSegmentProbeS = 400 * kDayS;

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// What a cron dialect does with wall times that DST skips or repeats.
struct DstRule {
  bool fire_at_gap_end = false;   // else a skipped wall time does not fire
  bool repeat_first_only = true;  // else a repeated wall time fires twice
};

}  // namespace

struct Schedule::Impl {
  Kind kind = Kind::kCron;
  std::string expression;
  TimeZone time_zone = TimeZone::Utc();
  CronSpec cron;        // kCron, kCrontab
  DstRule dst;          // kCron, kCrontab
  int64_t period_ms = 0;  // kRate
  EpochMs at_ms = 0;      // kAt
};

namespace {

// The local minute L found in the segment whose offset is `off`: false when
// it is the second occurrence of a repeated wall time the rule fires once.
bool Fires(const DstRule& rule, const TimeZone& tz, int64_t local_s, int32_t off) {
  if (!rule.repeat_first_only) return true;
  const TimeZone::Mapping m = tz.FromLocal(local_s);
  return !(m.count == 2 && m.second == local_s - off);
}

// A fire at `start` (an instant where the offset jumps forward) for the
// matching wall times the jump skipped, when the rule says so.
bool FiresAtGapEnd(const Schedule::Impl& s, int64_t start, int32_t off) {
  if (!s.dst.fire_at_gap_end) return false;
  const int32_t before = s.time_zone.OffsetAt(start - 1);
  if (before >= off || off - before > kCronieMaxShiftS) return false;
  return schedule::NextLocalMatch(s.cron, start + before, start + off).has_value();
}

std::optional<int64_t> FirstInSegment(const Schedule::Impl& s, int64_t lo, int64_t hi, int32_t off) {
  int64_t local = lo + off;
  while (auto m = schedule::NextLocalMatch(s.cron, local, hi + off)) {
    if (Fires(s.dst, s.time_zone, *m, off)) return *m - off;
    local = *m + 60;
  }
  return std::nullopt;
}

std::optional<int64_t> LastInSegment(const Schedule::Impl& s, int64_t lo, int64_t hi, int32_t off) {
  int64_t local = hi + off;
  while (auto m = schedule::PrevLocalMatch(s.cron, lo + off, local)) {
    if (Fires(s.dst, s.time_zone, *m, off)) return *m - off;
    local = *m - 60;
  }
  return std::nullopt;
}

// The first fire instant (seconds) at or after `from_s`: segment by segment
// of constant offset, so each instant is found in exactly one of them.
std::optional<int64_t> NextCron(const Schedule::Impl& s, int64_t from_s) {
  int64_t lo = from_s;
  while (lo < kMaxInstantS) {
    const int32_t off = s.time_zone.OffsetAt(lo);
    const std::optional<int64_t> transition = s.time_zone.NextTransition(lo);
    const int64_t hi = transition ? std::min(*transition, kMaxInstantS) : kMaxInstantS;  // exclusive
    if (FiresAtGapEnd(s, lo, off)) return lo;
    if (auto u = FirstInSegment(s, lo, hi, off)) return u;
    lo = hi;
  }
  return std::nullopt;
}

// The start of the constant-offset segment holding `at_s`: its last
// transition, or a probe point when there is none for kSegmentProbeS.
int64_t SegmentStart(const TimeZone& tz, int64_t at_s) {
  int64_t start = at_s - kSegmentProbeS;
  for (int64_t probe = start;;) {
    const std::optional<int64_t> next = tz.NextTransition(probe);
    if (!next || *next > at_s) return start;
    start = probe = *next;
  }
}

std::optional<int64_t> LatestCron(const Schedule::Impl& s, int64_t at_s) {
  int64_t hi = at_s;  // inclusive
  while (hi >= kMinInstantS) {
    const int32_t off = s.time_zone.OffsetAt(hi);
    const int64_t lo = SegmentStart(s.time_zone, hi);
    if (auto u = LastInSegment(s, lo, hi, off)) return u;
    if (FiresAtGapEnd(s, lo, off)) return lo;
    hi = lo - 1;
  }
  return std::nullopt;
}

}  // namespace

namespace {

Status CheckAscii(std::string_view expr) {
  if (expr.empty()) return schedule::ExpressionError(expr, "is empty");
  for (size_t i = 0; i < expr.size(); ++i) {
    const auto byte = static_cast<unsigned char>(expr[i]);
    if (byte >= 0x80 || (byte < 0x20 && byte != '\t')) {
      return schedule::ExpressionError(
          expr, fmt::format("byte 0x{:02X} at position {} is not a printable ASCII character", byte, i + 1));
    }
  }
  return Status::Ok();
}

// What is between `prefix` and the closing parenthesis that ends `expr`.
Result<std::string_view> Inner(std::string_view expr, size_t prefix) {
  const size_t close = expr.find(')', prefix);
  if (close == std::string_view::npos) {
    return schedule::ExpressionError(expr, fmt::format("missing \")\" after {}", expr.substr(0, prefix)));
  }
  if (close + 1 != expr.size()) {
    return schedule::ExpressionError(expr, fmt::format("trailing \"{}\" at position {} after \")\"",
                                                       expr.substr(close + 1), close + 2));
  }
  return expr.substr(prefix, close - prefix);
}

struct RateUnit {
  const char* singular;
  const char* plural;
  int64_t seconds;
};
// minute(s), hour(s), day(s) as EventBridge; second(s) a jobgate extension.
constexpr RateUnit kRateUnits[] = {
    {"minute", "minutes", 60}, {"hour", "hours", 3600}, {"day", "days", 86400}, {"second", "seconds", 1}};

Result<int64_t> ParseRateValue(std::string_view expr, std::string_view tok, int64_t unit_s) {
  const int64_t max = kMaxRateS / unit_s;
  int64_t value = 0;
  for (char c : tok) {
    if (c < '0' || c > '9') {
      return schedule::ExpressionError(expr, fmt::format("rate value \"{}\" at position {} is not a whole number",
                                                         tok, schedule::PositionOf(expr, tok)));
    }
    value = std::min<int64_t>(value * 10 + (c - '0'), max + 1);
  }
  if (value < 1 || value > max) {
    return schedule::ExpressionError(expr, fmt::format("rate value \"{}\" at position {} is out of range 1-{}", tok,
                                                       schedule::PositionOf(expr, tok), max));
  }
  return value;
}

// rate(N unit): singular unit for 1, plural otherwise, as EventBridge.
Result<int64_t> ParseRatePeriodMs(std::string_view expr, std::string_view body) {
  const size_t space = body.find(' ');
  const std::string_view value = body.substr(0, space);
  const std::string_view unit = space == std::string_view::npos ? body.substr(body.size()) : body.substr(space + 1);
  for (const RateUnit& u : kRateUnits) {
    if (unit != u.singular && unit != u.plural) continue;
    JOBGATE_ASSIGN_OR_RETURN(const int64_t n, ParseRateValue(expr, value, u.seconds));
    if ((n == 1) != (unit == u.singular)) {
      return schedule::ExpressionError(
          expr, fmt::format("rate unit \"{}\" at position {} must be \"{}\" for a value of {} (as in EventBridge)",
                            unit, schedule::PositionOf(expr, unit), n == 1 ? u.singular : u.plural, n));
    }
    return n * u.seconds * 1000;
  }
  return schedule::ExpressionError(
      expr, fmt::format("rate unit \"{}\" at position {} is not one of minute(s), hour(s), day(s), second(s); "
                        "write rate(VALUE UNIT)",
                        unit, schedule::PositionOf(expr, unit)));
}

// at(yyyy-mm-ddThh:mm:ss), wall time in the schedule's zone: a skipped
// wall time fires when the gap ends, a repeated one at its first occurrence.
Result<EpochMs> ParseAtMs(std::string_view expr, std::string_view body, const TimeZone& tz) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  const bool shaped = body.size() == 19 && body[4] == '-' && body[7] == '-' && body[10] == 'T' &&
                      body[13] == ':' && body[16] == ':' && ParseFixedDigits(body, 0, 4, &y) &&
                      ParseFixedDigits(body, 5, 2, &mo) && ParseFixedDigits(body, 8, 2, &d) &&
                      ParseFixedDigits(body, 11, 2, &h) && ParseFixedDigits(body, 14, 2, &mi) &&
                      ParseFixedDigits(body, 17, 2, &sec);
  const bool valid = shaped && y >= schedule::kMinYear && y <= schedule::kMaxYear && mo >= 1 && mo <= 12 &&
                     d >= 1 && d <= schedule::DaysInMonth(y, mo) && h <= 23 && mi <= 59 && sec <= 59;
  if (!valid) {
    return schedule::ExpressionError(
        expr, fmt::format("at() time \"{}\" at position {} is not a valid yyyy-mm-ddThh:mm:ss in years {}-{}", body,
                          schedule::PositionOf(expr, body), schedule::kMinYear, schedule::kMaxYear));
  }
  const TimeZone::Mapping m = tz.FromLocal(schedule::LocalSeconds(y, mo, d, h, mi, sec));
  return (m.count == 0 ? m.gap_end : m.first) * 1000;
}

struct Macro {
  const char* name;
  const char* line;
};
constexpr Macro kMacros[] = {{"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
                             {"@weekly", "0 0 * * 0"},  {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
                             {"@hourly", "0 * * * *"}};

Result<CronSpec> ParseMacro(std::string_view expr) {
  for (const Macro& m : kMacros) {
    if (expr == m.name) return schedule::ParseCrontab(m.line, m.line);
  }
  if (expr == "@reboot") {
    return schedule::ExpressionError(expr, "@reboot at position 1 is not supported: it is not a time, and jobgate "
                                           "schedules only times");
  }
  return schedule::ExpressionError(
      expr, fmt::format("\"{}\" at position 1 is not one of @yearly, @annually, @monthly, @weekly, @daily, "
                        "@midnight, @hourly",
                        expr));
}

DstRule CrontabDstRule(const CronSpec& spec) {
  // cronie, man 8 cron: jobs at a particular time run once, right after a
  // skipped hour, and not again in a repeated one; wildcard jobs follow the
  // clock (nothing caught up, repeated times run again).
  return spec.fixed_time ? DstRule{true, true} : DstRule{false, false};
}

Status ParseInto(Schedule::Impl& s) {
  const std::string_view e = s.expression;
  if (e.rfind("cron(", 0) == 0) {
    s.kind = Schedule::Kind::kCron;
    JOBGATE_ASSIGN_OR_RETURN(const std::string_view body, Inner(e, 5));
    JOBGATE_ASSIGN_OR_RETURN(s.cron, schedule::ParseEventBridgeCron(e, body));
    s.dst = DstRule{false, true};  // EventBridge Scheduler: a skipped time is skipped, a repeated one runs once
  } else if (e.rfind("rate(", 0) == 0) {
    s.kind = Schedule::Kind::kRate;
    JOBGATE_ASSIGN_OR_RETURN(const std::string_view body, Inner(e, 5));
    JOBGATE_ASSIGN_OR_RETURN(s.period_ms, ParseRatePeriodMs(e, body));
  } else if (e.rfind("at(", 0) == 0) {
    s.kind = Schedule::Kind::kAt;
    JOBGATE_ASSIGN_OR_RETURN(const std::string_view body, Inner(e, 3));
    JOBGATE_ASSIGN_OR_RETURN(s.at_ms, ParseAtMs(e, body, s.time_zone));
  } else if (e.find('(') != std::string_view::npos) {
    return schedule::ExpressionError(
        e, fmt::format("\"{}\" at position 1 is not cron(...), rate(...), at(...) or a crontab line",
                       e.substr(0, e.find('(') + 1)));
  } else {
    s.kind = Schedule::Kind::kCrontab;
    JOBGATE_ASSIGN_OR_RETURN(s.cron, e[0] == '@' ? ParseMacro(e) : schedule::ParseCrontab(e, e));
    s.dst = CrontabDstRule(s.cron);
  }
  return Status::Ok();
}

}  // namespace

Result<Schedule> Schedule::Parse(std::string_view expression, std::string_view time_zone) {
  JOBGATE_RETURN_IF_ERROR(CheckAscii(expression));
  auto impl = std::make_shared<Impl>();
  JOBGATE_ASSIGN_OR_RETURN(impl->time_zone, TimeZone::Load(time_zone.empty() ? "UTC" : time_zone));
  impl->expression = std::string(expression);
  JOBGATE_RETURN_IF_ERROR(ParseInto(*impl));
  return Schedule(std::move(impl));
}

Schedule::Kind Schedule::kind() const { return impl_->kind; }
const std::string& Schedule::expression() const { return impl_->expression; }
const TimeZone& Schedule::time_zone() const { return impl_->time_zone; }

std::optional<EpochMs> Schedule::NextAfter(EpochMs after_ms) const {
  const Impl& s = *impl_;
  switch (s.kind) {
    case Kind::kRate: {
      const int64_t k = FloorDiv(after_ms, s.period_ms) + 1;
      if (k > INT64_MAX / s.period_ms) return std::nullopt;
      return k * s.period_ms;
    }
    case Kind::kAt:
      return s.at_ms > after_ms ? std::optional<EpochMs>(s.at_ms) : std::nullopt;
    case Kind::kCron:
    case Kind::kCrontab:
      break;
  }
  const int64_t from_s = std::max(FloorDiv(after_ms, 1000) + 1, kMinInstantS);
  const auto u = NextCron(s, from_s);
  return u ? std::optional<EpochMs>(*u * 1000) : std::nullopt;
}

std::optional<EpochMs> Schedule::LatestAtOrBefore(EpochMs at_ms) const {
  const Impl& s = *impl_;
  switch (s.kind) {
    case Kind::kRate: {
      const int64_t k = FloorDiv(at_ms, s.period_ms);
      if (k < INT64_MIN / s.period_ms) return std::nullopt;
      return k * s.period_ms;
    }
    case Kind::kAt:
      return s.at_ms <= at_ms ? std::optional<EpochMs>(s.at_ms) : std::nullopt;
    case Kind::kCron:
    case Kind::kCrontab:
      break;
  }
  const int64_t at_s = std::min(FloorDiv(at_ms, 1000), kMaxInstantS);
  const auto u = LatestCron(s, at_s);
  return u ? std::optional<EpochMs>(*u * 1000) : std::nullopt;
}

std::string FormatLocalRfc3339(EpochMs ms, const TimeZone& time_zone) {
  const int64_t utc_s = FloorDiv(ms, 1000);
  const int32_t off = time_zone.OffsetAt(utc_s);
  const schedule::Civil c = schedule::ToCivil(utc_s + off);
  std::string zone = "Z";
  if (off != 0) {
    const int32_t abs = off < 0 ? -off : off;
    zone = fmt::format("{}{:02}:{:02}", off < 0 ? '-' : '+', abs / 3600, abs / 60 % 60);
  }
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}", c.year, c.month, c.day, c.hour, c.minute, c.second, zone);
}

}  // namespace jobgate
