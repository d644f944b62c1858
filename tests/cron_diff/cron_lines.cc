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

// A step that keeps most lines firing often enough to be interesting.
int Step(Rng& rng, int span) {
  if (rng.Percent(70)) return static_cast<int>(rng.Between(1, std::min(span, 15)));
  return static_cast<int>(rng.Between(1, span));
}

// One list item: a value, a range or a stepped range.
std::string Item(Rng& rng, const FieldSpec& f) {
  const int a = static_cast<int>(rng.Between(f.min, f.max));
  const int form = static_cast<int>(rng.Between(0, 9));
  if (form < 5 || a == f.max) return Value(rng, f, a);
  const int b = static_cast<int>(rng.Between(a + 1, f.max));
  std::string range = Value(rng, f, a) + "-" + Value(rng, f, b);
  if (form < 8) return range;
  return range + "/" + std::to_string(Step(rng, b - a + 1));
}

std::string Field(Rng& rng, const FieldSpec& f) {
  const int span = f.max - f.min + 1;
  const int form = static_cast<int>(rng.Between(0, 99));
  if (form < 30) return "*";
  if (form < 42) return "*/" + std::to_string(Step(rng, span));
  if (form < 47) {
    // `a/n`: a-max/n in cronie and jobgate.
    return std::to_string(rng.Between(f.min, f.max)) + "/" + std::to_string(Step(rng, span));
  }
  if (form < 80) return Item(rng, f);
  std::string list = Item(rng, f);
  const int more = static_cast<int>(rng.Between(1, 3));
  for (int i = 0; i < more; ++i) list += "," + Item(rng, f);
  return list;
}

}  // namespace

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

std::string RandomZone(Rng& rng) {
  static constexpr std::array<const char*, 8> kZones = {
      "Asia/Kolkata",  "Asia/Tokyo",       "Etc/GMT+5",          "America/New_York",
      "Europe/Berlin", "Australia/Sydney", "Australia/Lord_Howe", "Asia/Kathmandu",
  };
  if (rng.Percent(40)) return "UTC";
  return kZones[static_cast<size_t>(rng.Between(0, kZones.size() - 1))];
}

int64_t RandomStartMs(Rng& rng) {
  const int64_t from = DaysFromCivil(1970, 1, 1) * 86400000;
  const int64_t to = DaysFromCivil(2100, 1, 1) * 86400000;
  const int64_t ms = rng.Between(from, to - 1);
  const int form = static_cast<int>(rng.Between(0, 9));
  if (form < 3) return ms - ms % 60000;
  if (form < 4) return ms - ms % 3600000;
  return ms;
}

Window Comparable(const std::string& expr, const TimeZone& tz, int64_t start_ms, std::vector<int64_t>* jobgate,
                  std::vector<int64_t>* croner) {
  (void)expr;
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
  return Window::kThroughTransitions;
}

}  // namespace jobgate::cron_diff
