// TimeZone against an independent implementation: Howard Hinnant's date/tz
// (Debian's libhowardhinnant-date-dev), which reads the same system tzdb
// (USE_OS_TZDB) but is written by other hands. Debian's build does not read
// the TZif footer: past a zone's last explicit transition it keeps the last
// offset for ever. There the peer is date's own POSIX TZ parser (date/ptz.h)
// given the footer string of the file; where ptz.h cannot parse a footer
// (version 3.0.1 rejects negative rule times such as Nuuk's "/-1"), only the
// instants before the last transition are compared and the zone is logged.
//
// Deterministic: one seed (kSeed) draws the zones and the instants; a
// failure prints the zone and the instant, a one-line reproduction.
#include <date/ptz.h>
#include <date/tz.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "schedule/time_zone.h"
#include "util/numbers.h"

namespace jobgate {
namespace {

constexpr uint64_t kSeed = 20261202;
constexpr int kSampledZones = 26;
constexpr int kRandomInstantsPerZone = 3000;
const char* const kZoneInfo = "/usr/share/zoneinfo";

int64_t Civil(int64_t y, int mo, int d) { return DaysFromCivil(y, mo, d) * 86400; }
const int64_t kFrom = Civil(1970, 1, 1);
const int64_t kTo = Civil(2200, 1, 1);

// The POSIX TZ string at the end of the zone's file ("" when none).
std::string FooterOf(const std::string& name) {
  std::ifstream in(std::string(kZoneInfo) + "/" + name, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  std::string bytes = out.str();
  if (bytes.size() < 2 || bytes.back() != '\n') return "";
  const size_t open = bytes.rfind('\n', bytes.size() - 2);
  return open == std::string::npos ? "" : bytes.substr(open + 1, bytes.size() - open - 2);
}

// date/tz for the explicit transitions, ptz.h for the footer's rule after them.
class Peer {
 public:
  explicit Peer(const std::string& name) : zone_(date::locate_zone(name)) {
    const std::string footer = FooterOf(name);
    try {
      if (!footer.empty()) footer_.emplace(footer);
    } catch (const std::exception&) {
      footer_unsupported_ = true;  // ptz.h 3.0.1 rejects some of RFC 8536's extensions
    }
    last_explicit_ = zone_->get_info(date::sys_seconds{std::chrono::seconds{kTo}}).begin.time_since_epoch().count();
    if (!IsLastInterval(kTo)) last_explicit_ = kTo;  // the file's transitions reach past kTo
  }
  bool footer_unsupported() const { return footer_unsupported_; }
  // Whether the peer can answer at `utc_s`.
  bool Covers(int64_t utc_s) const { return !footer_unsupported_ || utc_s < last_explicit_ - 3 * 86400; }

  date::sys_info Info(int64_t utc_s) const {
    const date::sys_seconds t{std::chrono::seconds{utc_s}};
    if (footer_ && IsLastInterval(utc_s)) return footer_->get_info(t);
    return zone_->get_info(t);
  }
  date::local_info LocalInfo(int64_t local_s) const {
    const date::local_seconds t{std::chrono::seconds{local_s}};
    if (footer_ && IsLastInterval(local_s - 2 * 86400)) return footer_->get_info(t);
    return zone_->get_info(t);
  }

 private:
  bool IsLastInterval(int64_t utc_s) const {
    const auto end = zone_->get_info(date::sys_seconds{std::chrono::seconds{utc_s}}).end;
    return end >= date::sys_days{date::year{10000} / 1 / 1};
  }

  const date::time_zone* zone_;
  std::optional<Posix::time_zone> footer_;
  bool footer_unsupported_ = false;
  int64_t last_explicit_ = 0;
};

// The listed zones (the unit tests' and some with unusual histories), then
// a seeded sample of the rest of the database.
std::vector<std::string> ZonesUnderTest(std::mt19937_64& rng) {
  std::vector<std::string> zones = {"UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata",
                                    "Europe/Dublin", "America/Nuuk", "Asia/Jerusalem", "America/Santiago",
                                    "Pacific/Chatham", "Africa/Casablanca", "Asia/Tehran", "Pacific/Apia",
                                    "America/St_Johns"};
  std::vector<std::string> rest;
  for (const date::time_zone& z : date::get_tzdb().zones) {
    const std::string name(z.name());
    if (name.rfind("right/", 0) == 0 || name.rfind("posix/", 0) == 0) continue;
    if (std::find(zones.begin(), zones.end(), name) == zones.end()) rest.push_back(name);
  }
  std::sort(rest.begin(), rest.end());
  std::shuffle(rest.begin(), rest.end(), rng);
  zones.insert(zones.end(), rest.begin(), rest.begin() + std::min<size_t>(kSampledZones, rest.size()));
  return zones;
}

// The instants to compare at: random ones, and both sides of every transition.
std::vector<int64_t> InstantsFor(const TimeZone& zone, std::mt19937_64& rng) {
  std::uniform_int_distribution<int64_t> any(kFrom, kTo - 1);
  std::vector<int64_t> instants;
  for (int i = 0; i < kRandomInstantsPerZone; ++i) instants.push_back(any(rng));
  for (std::optional<int64_t> t = zone.NextTransition(kFrom); t && *t < kTo; t = zone.NextTransition(*t)) {
    instants.insert(instants.end(), {*t - 1, *t, *t + 1});
  }
  return instants;
}

void ExpectSameLocalMapping(const TimeZone& zone, const Peer& peer, int64_t local_s) {
  const date::local_info li = peer.LocalInfo(local_s);
  const TimeZone::Mapping m = zone.FromLocal(local_s);
  const std::string where = zone.name() + " local " + std::to_string(local_s);
  switch (li.result) {
    case date::local_info::unique:
      ASSERT_EQ(m.count, 1) << where;
      EXPECT_EQ(m.first, local_s - li.first.offset.count()) << where;
      break;
    case date::local_info::nonexistent:
      ASSERT_EQ(m.count, 0) << where;
      EXPECT_EQ(m.gap_end, li.second.begin.time_since_epoch().count()) << where;
      EXPECT_EQ(m.gap_shift_s, (li.second.offset - li.first.offset).count()) << where;
      break;
    case date::local_info::ambiguous:
      ASSERT_EQ(m.count, 2) << where;
      EXPECT_EQ(m.first, local_s - li.first.offset.count()) << where;
      EXPECT_EQ(m.second, local_s - li.second.offset.count()) << where;
      break;
  }
}

TEST(TimeZoneDiff, PeerDatabaseLoads) {
  const date::tzdb& db = date::get_tzdb();
  EXPECT_GT(db.zones.size(), 300u);
  EXPECT_EQ(date::locate_zone("America/New_York")->get_info(date::sys_days{date::year{2026} / 7 / 1}).offset.count(),
            -4 * 3600);
}

TEST(TimeZoneDiff, OffsetsAndLocalMappingsMatchDateTz) {
  std::mt19937_64 rng(kSeed);
  int compared = 0;
  for (const std::string& name : ZonesUnderTest(rng)) {
    auto zone = TimeZone::LoadFromDirectory(kZoneInfo, name);
    ASSERT_TRUE(zone.ok()) << zone.status().message();
    const Peer peer(name);
    if (peer.footer_unsupported()) std::cout << "[ note ] " << name << ": footer not parsed by date/ptz.h; compared before its last transition\n";
    for (int64_t t : InstantsFor(*zone, rng)) {
      if (!peer.Covers(t)) continue;
      ASSERT_EQ(zone->OffsetAt(t), peer.Info(t).offset.count()) << name << " at " << t;
      // The same number as a local time: around transitions it lands in gaps and repeats.
      ExpectSameLocalMapping(*zone, peer, t);
      ExpectSameLocalMapping(*zone, peer, t + zone->OffsetAt(t));
      if (::testing::Test::HasFailure()) return;
      ++compared;
    }
  }
  std::cout << "[ note ] compared " << compared << " instants\n";
  EXPECT_GT(compared, 100000);
}

}  // namespace
}  // namespace jobgate
