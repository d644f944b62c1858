#include "cron_diff/cron_lines.h"

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "util/numbers.h"

namespace jobgate::cron_diff {
namespace {

constexpr std::array<const char*, 12> kMonths = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                 "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<const char*, 7> kDays = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

struct FieldSpec {
  int min;
  int max;
  const char* const* names;  // names[v - names_from], or nullptr
  int names_from;
  int names_count;
};
constexpr FieldSpec kMinute{0, 59, nullptr, 0, 0};
constexpr FieldSpec kHour{0, 23, nullptr, 0, 0};
constexpr FieldSpec kDom{1, 31, nullptr, 0, 0};
constexpr FieldSpec kMonth{1, 12, kMonths.data(), 1, 12};
constexpr FieldSpec kDow{0, 7, kDays.data(), 0, 7};  // 7 (Sunday again) has no name of its own

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return static_cast<char>(tolower(ch)); });
  return s;
}

// A value, as a number or (where the field has one) its name.
std::string Value(Rng& rng, const FieldSpec& f, int v) {
  const int i = v - f.names_from;
  if (f.names == nullptr || i < 0 || i >= f.names_count || !rng.Percent(35)) return std::to_string(v);
  std::string name = f.names[i];
  return rng.Percent(25) ? Lower(name) : name;
}

// A step that keeps most lines firing often enough to be interesting. At
// most the field's largest value: croner refuses a larger one (`*/8` in
// day-of-week, `*/60` in minute), cronie and jobgate take it (a step past
// the range's end keeps its first value only).
int Step(Rng& rng, const FieldSpec& f) {
  const int most = std::min(f.max - f.min + 1, f.max);
  if (rng.Percent(70)) return static_cast<int>(rng.Between(1, std::min(most, 15)));
  return static_cast<int>(rng.Between(1, most));
}

// One list item: a value, a range or a stepped range.
std::string Item(Rng& rng, const FieldSpec& f) {
  const int a = static_cast<int>(rng.Between(f.min, f.max));
  const int form = static_cast<int>(rng.Between(0, 9));
  if (form < 5 || a == f.max) return Value(rng, f, a);
  const int b = static_cast<int>(rng.Between(a + 1, f.max));
  std::string range = Value(rng, f, a) + "-" + Value(rng, f, b);
  if (form < 8) return range;
  return range + "/" + std::to_string(Step(rng, f));
}

std::string Field(Rng& rng, const FieldSpec& f) {
  const int form = static_cast<int>(rng.Between(0, 99));
  if (form < 30) return "*";
  if (form < 42) return "*/" + std::to_string(Step(rng, f));
  // `a/n`, a-max/n: an extension (cronie refuses it; EventBridge has it).
  // Not in day-of-week, where the two extensions differ and no reference
  // settles it: jobgate runs to 7 as `*` does (`2/5` = Tuesday and
  // Sunday), croner to 6 (`2/5` = Tuesday; `7/4` never fires).
  if (form < 47 && &f != &kDow) {
    return std::to_string(rng.Between(f.min, f.max)) + "/" + std::to_string(Step(rng, f));
  }
  if (form < 80) return Item(rng, f);
  std::string list = Item(rng, f);
  const int more = static_cast<int>(rng.Between(1, 3));
  for (int i = 0; i < more; ++i) list += "," + Item(rng, f);
  return list;
}

}  // namespace

Rng::Rng(uint64_t seed) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  state_ = z == 0 ? 1 : z;
}

uint64_t Rng::Next() {
  state_ ^= state_ >> 12;
  state_ ^= state_ << 25;
  state_ ^= state_ >> 27;
  return state_ * 0x2545F4914F6CDD1DULL;
}

int64_t Rng::Between(int64_t lo, int64_t hi) {
  const auto span = static_cast<uint64_t>(hi - lo) + 1;
  return lo + static_cast<int64_t>(Next() % span);
}

std::string RandomCrontabLine(Rng& rng) {
  static constexpr std::array<const char*, 7> kMacros = {"@yearly", "@annually", "@monthly", "@weekly",
                                                         "@daily",  "@midnight", "@hourly"};
  if (rng.Percent(3)) return kMacros[static_cast<size_t>(rng.Between(0, kMacros.size() - 1))];
  return fmt::format("{} {} {} {} {}", Field(rng, kMinute), Field(rng, kHour), Field(rng, kDom), Field(rng, kMonth),
                     Field(rng, kDow));
}

// croner converts with node's ICU, which carries its own copy of the tz
// database, older than the system's that jobgate reads: only zones whose
// rules no recent tzdata release changed.
std::string RandomZone(Rng& rng) {
  static constexpr std::array<const char*, 8> kZones = {
      "Asia/Kolkata",  "Asia/Tokyo",       "Etc/GMT+5",          "America/New_York",
      "Europe/Berlin", "Australia/Sydney", "Australia/Lord_Howe", "Asia/Kathmandu",
  };
  if (rng.Percent(40)) return "UTC";
  return kZones[static_cast<size_t>(rng.Between(0, kZones.size() - 1))];
}

int64_t RandomStartMs(Rng& rng, const TimeZone& tz) {
  const int64_t from = DaysFromCivil(1970, 1, 1) * 86400000;
  const int64_t to = DaysFromCivil(2100, 1, 1) * 86400000;
  int64_t ms = rng.Between(from, to - 1);
  // A third of the starts in a zone with DST lie in the two days before
  // one of its transitions (or just after it), so that fire times fall
  // around skipped and repeated wall times.
  const auto transition = tz.NextTransition(ms / 1000);
  if (transition && rng.Percent(33)) ms = *transition * 1000 + rng.Between(-2 * 86400000, 3600000);
  const int form = static_cast<int>(rng.Between(0, 9));
  if (form < 3) return ms - ms % 60000;
  if (form < 4) return ms - ms % 3600000;
  return ms;
}

namespace {

// Which jobs are fixed-time jobs for DST (docs/schedules.md): to cronie
// and jobgate, those whose minute and hour fields both do not start with
// `*`; to croner (fixedTimeRule "no-wildcard", the closest it has), those
// with neither `*` nor a step in them. So `0 0-23/2 * * *` is fixed-time
// to jobgate (a skipped 02:00 fires when the gap ends, a repeated one
// once) and an interval job to croner (skipped; fired twice). By design:
// jobgate follows cronie.
bool FixedTimeRulesDiffer(const std::string& expr) {
  if (expr.starts_with("@")) return false;
  const size_t minute_end = expr.find(' ');
  const size_t hour_end = expr.find(' ', minute_end + 1);
  const std::string minute = expr.substr(0, minute_end);
  const std::string hour = expr.substr(minute_end + 1, hour_end - minute_end - 1);
  const bool cronie_fixed = !minute.starts_with("*") && !hour.starts_with("*");
  const bool has_step = minute.find('/') != std::string::npos || hour.find('/') != std::string::npos;
  return cronie_fixed && has_step;
}

}  // namespace

Window Comparable(const std::string& expr, const TimeZone& tz, int64_t start_ms, std::vector<int64_t>* jobgate,
                  std::vector<int64_t>* croner) {
  // jobgate computes fire times for the local years 1970-2199 only
  // (docs/schedules.md); croner goes on. Compare up to the end of 2199 in
  // the earliest zone.
  const int64_t horizon_ms = (DaysFromCivil(2200, 1, 1) * 86400 - 14 * 3600) * 1000;
  for (auto* fires : {jobgate, croner}) {
    std::erase_if(*fires, [&](int64_t ms) { return ms >= horizon_ms; });
  }
  int64_t last = start_ms;
  for (auto* fires : {jobgate, croner}) {
    if (!fires->empty()) last = std::max(last, fires->back());
  }
  const auto transition = tz.NextTransition(start_ms / 1000);
  if (!transition || *transition * 1000 > last) return Window::kNoTransition;
  if (!FixedTimeRulesDiffer(expr)) return Window::kThroughTransitions;
  // Only the fire times before the first transition: from there on the two
  // rules above may disagree.
  for (auto* fires : {jobgate, croner}) {
    std::erase_if(*fires, [&](int64_t ms) { return ms >= *transition * 1000; });
  }
  return Window::kCutAtTransition;
}

}  // namespace jobgate::cron_diff
