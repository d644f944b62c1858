// Parsing cron fields: EventBridge `cron(min hour dom month dow year)` and
// classic 5-field crontab lines. Every error names the field, the token and
// its 1-based position in the whole expression.
#include <cctype>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "schedule/cron_spec.h"
#include "util/text.h"

namespace jobgate::schedule {
namespace {

constexpr const char* kMonthNames[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                       "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr const char* kDayNames[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

// One field's values as written, and where its bits go (bit = value - base).
struct FieldDef {
  const char* name;
  int lo, hi;
  const char* const* names;  // 3-letter names, or nullptr
  int names_count, names_first, base;
};

constexpr FieldDef kMinute{"minute", 0, 59, nullptr, 0, 0, 0};
constexpr FieldDef kHour{"hour", 0, 23, nullptr, 0, 0, 0};
constexpr FieldDef kDom{"day-of-month", 1, 31, nullptr, 0, 0, 0};
constexpr FieldDef kMonth{"month", 1, 12, kMonthNames, 12, 1, 0};
constexpr FieldDef kEbDow{"day-of-week", 1, 7, kDayNames, 7, 1, 1};  // 1 = SUN
constexpr FieldDef kTabDow{"day-of-week", 0, 7, kDayNames, 7, 0, 0};  // 0 and 7 = Sunday
constexpr FieldDef kYear{"year", kMinYear, kMaxYear, nullptr, 0, 0, kMinYear};

using Bits = std::bitset<256>;

// The expression being parsed: what names the error.
struct Ctx {
  std::string_view expression;
  Status Fail(const FieldDef& f, std::string_view token, const std::string& problem) const {
    return ExpressionError(expression, fmt::format("{} \"{}\" at position {} {}", f.name, token,
                                                   PositionOf(expression, token), problem));
  }
};

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool SameName(std::string_view s, const char* name) {
  if (s.size() != 3) return false;
  for (size_t i = 0; i < 3; ++i) {
    if (std::toupper(static_cast<unsigned char>(s[i])) != name[i]) return false;
  }
  return true;
}

// A number (at most 4 digits: anything longer is out of range anyway) or a
// 3-letter name, in [f.lo, f.hi].
Result<int> ParseValue(const Ctx& ctx, const FieldDef& f, std::string_view tok) {
  if (AllDigits(tok)) {
    const int v = tok.size() > 4 ? -1 : std::stoi(std::string(tok));
    if (v < f.lo || v > f.hi) return ctx.Fail(f, tok, fmt::format("is out of range {}-{}", f.lo, f.hi));
    return v;
  }
  for (int i = 0; i < f.names_count; ++i) {
    if (SameName(tok, f.names[i])) return f.names_first + i;
  }
  if (f.names == nullptr) return ctx.Fail(f, tok, "is not a number");
  return ctx.Fail(f, tok, fmt::format("is not a number or a name ({}-{})", f.names[0], f.names[f.names_count - 1]));
}

Result<int> ParseStep(const Ctx& ctx, const FieldDef& f, std::string_view tok) {
  const int span = f.hi - f.lo + 1;
  if (!AllDigits(tok)) return ctx.Fail(f, tok, "is not a step (a number)");
  const int v = tok.size() > 4 ? -1 : std::stoi(std::string(tok));
  if (v < 1 || v > span) return ctx.Fail(f, tok, fmt::format("is a step out of range 1-{}", span));
  return v;
}

// `*`, `a`, `a-b`, each optionally `/step` (`a/step` runs from a to the
// field's end, as in EventBridge's `0/15`).
Status ParseItem(const Ctx& ctx, const FieldDef& f, std::string_view item, Bits& bits) {
  if (item.empty()) return ctx.Fail(f, item, "is an empty list item");
  const size_t slash = item.find('/');
  const std::string_view range = item.substr(0, slash);
  int step = 1;
  if (slash != std::string_view::npos) {
    JOBGATE_ASSIGN_OR_RETURN(step, ParseStep(ctx, f, item.substr(slash + 1)));
  }
  int first = f.lo, last = f.hi;
  if (range != "*") {
    const size_t dash = range.find('-');
    JOBGATE_ASSIGN_OR_RETURN(first, ParseValue(ctx, f, range.substr(0, dash)));
    last = slash == std::string_view::npos ? first : f.hi;
    if (dash != std::string_view::npos) {
      JOBGATE_ASSIGN_OR_RETURN(last, ParseValue(ctx, f, range.substr(dash + 1)));
      if (last < first) return ctx.Fail(f, range, "is a range that runs backwards");
    }
  }
  for (int v = first; v <= last; v += step) bits.set(static_cast<size_t>(v - f.base));
  return Status::Ok();
}

Result<Bits> ParseList(const Ctx& ctx, const FieldDef& f, std::string_view field) {
  Bits bits;
  size_t start = 0;
  while (true) {
    const size_t comma = field.find(',', start);
    JOBGATE_RETURN_IF_ERROR(ParseItem(ctx, f, field.substr(start, comma - start), bits));
    if (comma == std::string_view::npos) return bits;
    start = comma + 1;
  }
}

std::vector<std::string_view> SplitFields(std::string_view body) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < body.size()) {
    while (i < body.size() && (body[i] == ' ' || body[i] == '\t')) ++i;
    const size_t start = i;
    while (i < body.size() && body[i] != ' ' && body[i] != '\t') ++i;
    if (i > start) out.push_back(body.substr(start, i - start));
  }
  return out;
}

template <size_t N>
std::bitset<N> Narrow(const Bits& bits) {
  std::bitset<N> out;
  for (size_t i = 0; i < N; ++i) out[i] = bits[i];
  return out;
}

// `layout` names the fields, e.g. "cron() takes 6 fields (minute ...)".
Status CheckFieldCount(const Ctx& ctx, const std::vector<std::string_view>& fields, size_t want,
                       const char* layout) {
  if (fields.size() == want) return Status::Ok();
  if (fields.size() > want) {
    return ExpressionError(ctx.expression, fmt::format("unexpected field \"{}\" at position {}: {}", fields[want],
                                                       PositionOf(ctx.expression, fields[want]), layout));
  }
  return ExpressionError(ctx.expression, fmt::format("{}, found {}", layout, fields.size()));
}

// EventBridge day of month: `?`, `L`, `LW`, `15W`, or a list.
Status ParseEbDom(const Ctx& ctx, std::string_view field, CronSpec& spec) {
  if (field == "?") {
    spec.dom_any = true;
  } else if (field == "L") {
    spec.last_day = true;
  } else if (field == "LW") {
    spec.last_weekday = true;
  } else if (field.size() > 1 && field.back() == 'W') {
    JOBGATE_ASSIGN_OR_RETURN(spec.nearest_weekday, ParseValue(ctx, kDom, field.substr(0, field.size() - 1)));
  } else {
    JOBGATE_ASSIGN_OR_RETURN(auto bits, ParseList(ctx, kDom, field));
    spec.dom = Narrow<64>(bits);
  }
  return Status::Ok();
}

// EventBridge day of week (1 = SUN): `?`, `L` (Saturday), `6L` (the last
// Friday), `3#2` (the second Tuesday), or a list.
Status ParseEbDow(const Ctx& ctx, std::string_view field, CronSpec& spec) {
  const size_t hash = field.find('#');
  if (field == "?") {
    spec.dow_any = true;
  } else if (field == "L") {
    spec.dow.set(6);
  } else if (field.size() > 1 && field.back() == 'L') {
    JOBGATE_ASSIGN_OR_RETURN(int day, ParseValue(ctx, kEbDow, field.substr(0, field.size() - 1)));
    spec.last_dow = day - 1;
  } else if (hash != std::string_view::npos) {
    JOBGATE_ASSIGN_OR_RETURN(int day, ParseValue(ctx, kEbDow, field.substr(0, hash)));
    const std::string_view nth = field.substr(hash + 1);
    if (nth.size() != 1 || nth[0] < '1' || nth[0] > '5') {
      return ctx.Fail(kEbDow, nth, "is not an occurrence in the month (1-5)");
    }
    spec.nth_dow = day - 1;
    spec.nth = nth[0] - '0';
  } else {
    JOBGATE_ASSIGN_OR_RETURN(auto bits, ParseList(ctx, kEbDow, field));
    spec.dow = Narrow<64>(bits);
  }
  return Status::Ok();
}

Status CheckOneDayFieldIsAny(const Ctx& ctx, std::string_view dom, std::string_view dow, const CronSpec& spec) {
  if (spec.dom_any && spec.dow_any) {
    return ExpressionError(ctx.expression, fmt::format("day-of-month and day-of-week at positions {} and {} are both "
                                                       "\"?\": exactly one of them must be \"?\"",
                                                       PositionOf(ctx.expression, dom), PositionOf(ctx.expression, dow)));
  }
  if (!spec.dom_any && !spec.dow_any) {
    return ExpressionError(ctx.expression,
                           fmt::format("day-of-month \"{}\" at position {} and day-of-week \"{}\" at position {}: "
                                       "one of them must be \"?\"",
                                       dom, PositionOf(ctx.expression, dom), dow, PositionOf(ctx.expression, dow)));
  }
  return Status::Ok();
}

Status ParseTimeFields(const Ctx& ctx, std::string_view minute, std::string_view hour, CronSpec& spec) {
  JOBGATE_ASSIGN_OR_RETURN(auto minutes, ParseList(ctx, kMinute, minute));
  JOBGATE_ASSIGN_OR_RETURN(auto hours, ParseList(ctx, kHour, hour));
  spec.minute = Narrow<64>(minutes);
  spec.hour = Narrow<64>(hours);
  return Status::Ok();
}

}  // namespace

Status ExpressionError(std::string_view expression, std::string_view what) {
  return Status::InvalidArgument(fmt::format("schedule {}: {}", Quote(expression), what));
}

size_t PositionOf(std::string_view expression, std::string_view part) {
  return static_cast<size_t>(part.data() - expression.data()) + 1;
}

Result<CronSpec> ParseEventBridgeCron(std::string_view expression, std::string_view body) {
  const Ctx ctx{expression};
  const auto f = SplitFields(body);
  JOBGATE_RETURN_IF_ERROR(
      CheckFieldCount(ctx, f, 6, "cron() takes 6 fields (minute hour day-of-month month day-of-week year)"));
  CronSpec spec;
  JOBGATE_RETURN_IF_ERROR(ParseTimeFields(ctx, f[0], f[1], spec));
  JOBGATE_RETURN_IF_ERROR(ParseEbDom(ctx, f[2], spec));
  JOBGATE_ASSIGN_OR_RETURN(auto months, ParseList(ctx, kMonth, f[3]));
  spec.month = Narrow<64>(months);
  JOBGATE_RETURN_IF_ERROR(ParseEbDow(ctx, f[4], spec));
  JOBGATE_ASSIGN_OR_RETURN(spec.year, ParseList(ctx, kYear, f[5]));
  JOBGATE_RETURN_IF_ERROR(CheckOneDayFieldIsAny(ctx, f[2], f[4], spec));
  return spec;
}

Result<CronSpec> ParseCrontab(std::string_view expression, std::string_view body) {
  const Ctx ctx{expression};
  const auto f = SplitFields(body);
  JOBGATE_RETURN_IF_ERROR(
      CheckFieldCount(ctx, f, 5, "a crontab line takes 5 fields (minute hour day-of-month month day-of-week)"));
  CronSpec spec;
  JOBGATE_RETURN_IF_ERROR(ParseTimeFields(ctx, f[0], f[1], spec));
  JOBGATE_ASSIGN_OR_RETURN(auto days, ParseList(ctx, kDom, f[2]));
  JOBGATE_ASSIGN_OR_RETURN(auto months, ParseList(ctx, kMonth, f[3]));
  JOBGATE_ASSIGN_OR_RETURN(auto weekdays, ParseList(ctx, kTabDow, f[4]));
  if (weekdays[7]) weekdays.set(0);  // 7 is Sunday too
  spec.dom = Narrow<64>(days);
  spec.month = Narrow<64>(months);
  spec.dow = Narrow<64>(weekdays);
  spec.dow.reset(7);
  for (int y = kMinYear; y <= kMaxYear; ++y) spec.year.set(static_cast<size_t>(y - kMinYear));
  spec.day_or = f[2][0] != '*' && f[4][0] != '*';
  spec.fixed_time = f[0][0] != '*' && f[1][0] != '*';
  return spec;
}

}  // namespace jobgate::schedule
