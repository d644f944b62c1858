// TimeZone against the system's zoneinfo (tzdata): known offsets, gaps and
// repeats, the footer's far future, the time before the first transition,
// and broken files and names as errors. tests/schedule_diff compares it with
// Howard Hinnant's date/tz over many zones and instants.
#include "schedule/time_zone.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "schedule/tzif.h"
#include "util/numbers.h"

namespace jobgate {
namespace {

namespace fs = std::filesystem;

const char* const kZoneInfo = "/usr/share/zoneinfo";

// Seconds since the epoch of a civil time (UTC, or local for FromLocal).
int64_t Civil(int64_t y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  return DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

TimeZone MustLoad(std::string_view name) {
  auto zone = TimeZone::LoadFromDirectory(kZoneInfo, name);
  EXPECT_TRUE(zone.ok()) << zone.status().message();
  return zone.ok() ? zone.value() : TimeZone::Utc();
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// A fresh directory (unique per process: the tests run in parallel), removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "jobgate-tz-XXXXXX").string();
    EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string path() const { return path_.string(); }
  void Write(const std::string& name, const std::string& bytes) const {
    fs::create_directories((path_ / name).parent_path());
    std::ofstream(path_ / name, std::ios::binary) << bytes;
  }

 private:
  fs::path path_;
};

TEST(TimeZone, NewYorkSpringForwardIsAGap) {
  const TimeZone ny = MustLoad("America/New_York");
  EXPECT_EQ(ny.name(), "America/New_York");
  EXPECT_EQ(ny.OffsetAt(Civil(2026, 3, 8, 6, 59, 59)), -5 * 3600);
  EXPECT_EQ(ny.OffsetAt(Civil(2026, 3, 8, 7)), -4 * 3600);
  const TimeZone::Mapping gap = ny.FromLocal(Civil(2026, 3, 8, 2, 30));
  EXPECT_EQ(gap.count, 0);
  EXPECT_EQ(gap.gap_end, Civil(2026, 3, 8, 7));  // 03:00 EDT
  EXPECT_EQ(gap.gap_shift_s, 3600);
  EXPECT_EQ(ny.FromLocal(Civil(2026, 3, 8, 2)).count, 0);  // the gap's first second
  const TimeZone::Mapping after = ny.FromLocal(Civil(2026, 3, 8, 3));
  EXPECT_EQ(after.count, 1);
  EXPECT_EQ(after.first, Civil(2026, 3, 8, 7));
  const TimeZone::Mapping before = ny.FromLocal(Civil(2026, 3, 8, 1, 59, 59));
  EXPECT_EQ(before.count, 1);
  EXPECT_EQ(before.first, Civil(2026, 3, 8, 6, 59, 59));
}

TEST(TimeZone, NewYorkFallBackRepeatsAnHour) {
  const TimeZone ny = MustLoad("America/New_York");
  const TimeZone::Mapping repeat = ny.FromLocal(Civil(2026, 11, 1, 1, 30));
  EXPECT_EQ(repeat.count, 2);
  EXPECT_EQ(repeat.first, Civil(2026, 11, 1, 5, 30));   // 01:30 EDT
  EXPECT_EQ(repeat.second, Civil(2026, 11, 1, 6, 30));  // 01:30 EST
  EXPECT_EQ(ny.FromLocal(Civil(2026, 11, 1, 2)).count, 1);
  EXPECT_EQ(ny.FromLocal(Civil(2026, 11, 1, 1)).count, 2);
  EXPECT_EQ(ny.FromLocal(Civil(2026, 11, 1, 0, 59, 59)).count, 1);
}

TEST(TimeZone, NextTransitionWalksTheChanges) {
  const TimeZone ny = MustLoad("America/New_York");
  EXPECT_EQ(ny.NextTransition(Civil(2026, 1, 1)), Civil(2026, 3, 8, 7));
  EXPECT_EQ(ny.NextTransition(Civil(2026, 3, 8, 7)), Civil(2026, 11, 1, 6));  // strictly after
  EXPECT_EQ(ny.NextTransition(Civil(2026, 3, 8, 6, 59, 59)), Civil(2026, 3, 8, 7));
  EXPECT_EQ(ny.NextTransition(Civil(2099, 12, 1)), Civil(2100, 3, 14, 7));  // from the footer
  EXPECT_EQ(MustLoad("Asia/Kolkata").NextTransition(Civil(2026, 1, 1)), std::nullopt);
  EXPECT_EQ(TimeZone::Utc().NextTransition(0), std::nullopt);
}

TEST(TimeZone, LondonSummerTime) {
  const TimeZone london = MustLoad("Europe/London");
  EXPECT_EQ(london.OffsetAt(Civil(2026, 1, 15)), 0);
  EXPECT_EQ(london.OffsetAt(Civil(2026, 3, 29, 1)), 3600);
  EXPECT_EQ(london.OffsetAt(Civil(2026, 10, 25, 0, 59)), 3600);
  EXPECT_EQ(london.OffsetAt(Civil(2026, 10, 25, 1)), 0);
  EXPECT_EQ(london.FromLocal(Civil(2026, 3, 29, 1, 30)).count, 0);
  EXPECT_EQ(london.FromLocal(Civil(2026, 10, 25, 1, 30)).count, 2);
}

TEST(TimeZone, DublinNegativeDstKeepsTheOffsets) {
  // Irish Standard Time is the summer one; the TZif marks winter as DST
  // with a negative save ("IST-1GMT0,M10.5.0,M3.5.0/1"): offsets are as London's.
  const TimeZone dublin = MustLoad("Europe/Dublin");
  EXPECT_EQ(dublin.OffsetAt(Civil(2026, 1, 15)), 0);
  EXPECT_EQ(dublin.OffsetAt(Civil(2026, 7, 15)), 3600);
  EXPECT_EQ(dublin.OffsetAt(Civil(2300, 1, 15)), 0);
  EXPECT_EQ(dublin.OffsetAt(Civil(2300, 7, 15)), 3600);
}

TEST(TimeZone, LordHoweShiftsHalfAnHour) {
  const TimeZone lh = MustLoad("Australia/Lord_Howe");
  EXPECT_EQ(lh.OffsetAt(Civil(2026, 7, 1)), 10 * 3600 + 1800);
  EXPECT_EQ(lh.OffsetAt(Civil(2026, 1, 1)), 11 * 3600);
  // 2026-10-04 02:00 +10:30 becomes 02:30 +11.
  const TimeZone::Mapping gap = lh.FromLocal(Civil(2026, 10, 4, 2, 15));
  EXPECT_EQ(gap.count, 0);
  EXPECT_EQ(gap.gap_end, Civil(2026, 10, 3, 15, 30));
  EXPECT_EQ(gap.gap_shift_s, 1800);
  // 2026-04-05 02:00 +11 becomes 01:30 +10:30.
  const TimeZone::Mapping repeat = lh.FromLocal(Civil(2026, 4, 5, 1, 45));
  EXPECT_EQ(repeat.count, 2);
  EXPECT_EQ(repeat.first, Civil(2026, 4, 4, 14, 45));
  EXPECT_EQ(repeat.second, Civil(2026, 4, 4, 15, 15));
}

TEST(TimeZone, KolkataHasHalfHourOffsetAndNoDst) {
  const TimeZone kolkata = MustLoad("Asia/Kolkata");
  for (int64_t y : {1980, 2026, 2100, 2400}) {
    EXPECT_EQ(kolkata.OffsetAt(Civil(y, 1, 1)), 5 * 3600 + 1800) << y;
    EXPECT_EQ(kolkata.OffsetAt(Civil(y, 7, 1)), 5 * 3600 + 1800) << y;
  }
  const TimeZone::Mapping m = kolkata.FromLocal(Civil(2026, 3, 8, 2, 30));
  EXPECT_EQ(m.count, 1);
  EXPECT_EQ(m.first, Civil(2026, 3, 7, 21));
}

TEST(TimeZone, FarFutureFollowsTheFooter) {
  const TimeZone ny = MustLoad("America/New_York");
  EXPECT_EQ(ny.OffsetAt(Civil(2100, 7, 1)), -4 * 3600);
  EXPECT_EQ(ny.OffsetAt(Civil(2100, 12, 1)), -5 * 3600);
  EXPECT_EQ(ny.OffsetAt(Civil(2400, 3, 12, 6, 59, 59)), -5 * 3600);
  EXPECT_EQ(ny.OffsetAt(Civil(2400, 3, 12, 7)), -4 * 3600);
  EXPECT_EQ(ny.FromLocal(Civil(2400, 3, 12, 2, 30)).count, 0);
  EXPECT_EQ(ny.FromLocal(Civil(2400, 11, 5, 1, 30)).count, 2);
  const TimeZone lh = MustLoad("Australia/Lord_Howe");
  EXPECT_EQ(lh.NextTransition(Civil(2400, 1, 1)), Civil(2400, 4, 1, 15));
}

TEST(TimeZone, BeforeTheFirstTransitionUsesLocalMeanTime) {
  const TimeZone ny = MustLoad("America/New_York");
  EXPECT_EQ(ny.OffsetAt(Civil(1850, 1, 1)), -(4 * 3600 + 56 * 60 + 2));  // LMT -4:56:02
  // Railway time: 1883-11-18 12:03:58 LMT became 12:00:00 EST.
  EXPECT_EQ(ny.NextTransition(Civil(1850, 1, 1)), Civil(1883, 11, 18, 17));
  EXPECT_EQ(ny.FromLocal(Civil(1883, 11, 18, 12, 2)).count, 2);
}

TEST(TimeZone, UtcNeedsNoZoneinfo) {
  TempDir empty;
  for (const char* name : {"UTC", "Etc/UTC"}) {
    auto zone = TimeZone::LoadFromDirectory(empty.path(), name);
    ASSERT_TRUE(zone.ok()) << zone.status().message();
    EXPECT_EQ(zone->name(), name);
    EXPECT_EQ(zone->OffsetAt(Civil(2026, 6, 1)), 0);
    const TimeZone::Mapping m = zone->FromLocal(Civil(2026, 6, 1, 12));
    EXPECT_EQ(m.count, 1);
    EXPECT_EQ(m.first, Civil(2026, 6, 1, 12));
  }
  EXPECT_EQ(TimeZone::Utc().name(), "UTC");
  EXPECT_EQ(TimeZone::Utc().OffsetAt(INT64_MAX), 0);
  EXPECT_TRUE(TimeZone::Load("UTC").ok());
}

TEST(TimeZone, LoadLooksUnderTzdir) {
  // setenv is process-wide: the tests of one binary run one after another,
  // and this one puts TZDIR back as it was.
  TempDir dir;
  dir.Write("Test/Zone", ReadBytes(std::string(kZoneInfo) + "/Asia/Kolkata"));
  const char* old = getenv("TZDIR");
  const std::string saved = old != nullptr ? old : "";
  setenv("TZDIR", dir.path().c_str(), 1);
  auto zone = TimeZone::Load("Test/Zone");
  auto missing = TimeZone::Load("America/New_York");
  if (old != nullptr) {
    setenv("TZDIR", saved.c_str(), 1);
  } else {
    unsetenv("TZDIR");
  }
  ASSERT_TRUE(zone.ok()) << zone.status().message();
  EXPECT_EQ(zone->OffsetAt(Civil(2026, 1, 1)), 19800);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(dir.path()), std::string::npos) << missing.status().message();
}

TEST(TimeZone, RejectsNamesOutsideTheDatabase) {
  for (const char* name : {"", "/etc/localtime", "../zoneinfo/UTC", "America/../Europe/London", "Europe/London ", "a\nb"}) {
    auto zone = TimeZone::LoadFromDirectory(kZoneInfo, name);
    ASSERT_FALSE(zone.ok()) << name;
    EXPECT_EQ(zone.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(zone.status().message().rfind(std::string("time_zone \"") + name + "\"", 0), 0u) << zone.status().message();
  }
}

TEST(TimeZone, UnknownZoneNamesTheFieldAndTheValue) {
  TempDir dir;
  auto zone = TimeZone::LoadFromDirectory(dir.path(), "Mars/Olympus_Mons");
  ASSERT_FALSE(zone.ok());
  EXPECT_EQ(zone.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(zone.status().message(),
            "time_zone \"Mars/Olympus_Mons\": unknown IANA time zone (no " + dir.path() + "/Mars/Olympus_Mons)");
  // A directory of zones is not a zone.
  EXPECT_FALSE(TimeZone::LoadFromDirectory(kZoneInfo, "America").ok());
}

TEST(TimeZone, BrokenFilesAreErrorsNotCrashes) {
  const std::string good = ReadBytes(std::string(kZoneInfo) + "/America/New_York");
  ASSERT_GT(good.size(), 100u);
  TempDir dir;
  dir.Write("Broken/Truncated", good.substr(0, good.size() / 2));
  dir.Write("Broken/NotTzif", "# not a zone\n");
  dir.Write("Broken/Footer", good.substr(0, good.rfind('\n', good.size() - 2)) + "\nEST5EDT,M3.2.0,\n");
  dir.Write("Fine/Copy", good);
  for (const char* name : {"Broken/Truncated", "Broken/NotTzif", "Broken/Footer"}) {
    auto zone = TimeZone::LoadFromDirectory(dir.path(), name);
    ASSERT_FALSE(zone.ok()) << name;
    EXPECT_EQ(zone.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(zone.status().message().find("is not a valid TZif file"), std::string::npos) << zone.status().message();
    EXPECT_NE(zone.status().message().find(name), std::string::npos) << zone.status().message();
  }
  auto copy = TimeZone::LoadFromDirectory(dir.path(), "Fine/Copy");
  ASSERT_TRUE(copy.ok()) << copy.status().message();
  EXPECT_EQ(copy->OffsetAt(Civil(2300, 7, 1)), -4 * 3600);
}

TEST(TimeZone, EveryTruncationOfARealFileIsAnError) {
  const std::string good = ReadBytes(std::string(kZoneInfo) + "/Australia/Lord_Howe");
  ASSERT_TRUE(ParseTzif(good).ok());
  for (size_t n = 0; n + 1 < good.size(); ++n) {
    EXPECT_FALSE(ParseTzif(good.substr(0, n)).ok()) << n;  // the closing newline is the last byte
  }
}

TEST(TimeZone, CorruptFieldsAreErrors) {
  const std::string good = ReadBytes(std::string(kZoneInfo) + "/Europe/London");
  ASSERT_TRUE(ParseTzif(good).ok());
  std::string bad_version = good;
  bad_version[4] = '9';
  EXPECT_FALSE(ParseTzif(bad_version).ok());
  std::string huge_count = good;
  huge_count[32] = '\x7f';  // timecnt of the 32-bit header
  EXPECT_FALSE(ParseTzif(huge_count).ok());
  // Every byte of the file flipped in turn: an error or a zone, never a crash.
  for (size_t i = 0; i < good.size(); ++i) {
    std::string flipped = good;
    flipped[i] = static_cast<char>(flipped[i] ^ 0xa5);
    (void)ParseTzif(flipped);
  }
}

TEST(TimeZone, VersionOneFileUsesItsThirtyTwoBitBlock) {
  // The first block of a real file, with the version byte cleared, is a
  // complete version 1 file: no footer, so the last offset stays.
  std::string v1 = ReadBytes(std::string(kZoneInfo) + "/Asia/Kolkata");
  v1[4] = '\0';
  auto rules = ParseTzif(v1);
  ASSERT_TRUE(rules.ok()) << rules.status().message();
  EXPECT_FALSE(rules->footer.has_value());
  ASSERT_FALSE(rules->offset_after_s.empty());
  EXPECT_EQ(rules->offset_after_s.back(), 19800);
}

TEST(TimeZone, RepeatedAndConcurrentLoadsShareOneZone) {
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([] {
      for (int j = 0; j < 200; ++j) {
        auto zone = TimeZone::LoadFromDirectory(kZoneInfo, j % 2 ? "Europe/Berlin" : "America/Chicago");
        ASSERT_TRUE(zone.ok());
        EXPECT_NE(zone->OffsetAt(Civil(2026, 1, 1)), 0);
      }
    });
  }
  for (auto& t : threads) t.join();
}

}  // namespace
}  // namespace jobgate
