#include "schedule/time_zone.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <sstream>

#include <fmt/format.h>

#include "schedule/tzif.h"

namespace jobgate {

struct TimeZone::Data {
  std::string name;
  ZoneRules rules;
};

namespace {

constexpr const char* kDefaultZoneInfoDir = "/usr/share/zoneinfo";
// Every UTC offset is within 26 hours (tzif.cc), so the instants of a local
// time lie within this of it.
constexpr int64_t kLocalWindowS = 2 * 86400;
// Clamp for FromLocal's arithmetic, as posix_tz.cc does for its own.
constexpr int64_t kMaxAbsSeconds = int64_t{1} << 50;
// Far larger than any zoneinfo file (the biggest are a few KiB).
constexpr std::uintmax_t kMaxFileBytes = 1 << 20;

// IANA names are letters, digits and "/_-+." ("America/Port-au-Prince",
// "Etc/GMT+5"); never absolute, never climbing out of the directory.
bool IsZoneName(std::string_view name) {
  if (name.empty() || name.front() == '/' || name.find("..") != std::string_view::npos) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-' || c == '+' || c == '.';
  });
}

bool IsBuiltInUtc(std::string_view name) { return name == "UTC" || name == "Etc/UTC"; }

std::shared_ptr<const TimeZone::Data> UtcData(std::string_view name) {
  auto data = std::make_shared<TimeZone::Data>();
  data->name = std::string(name);
  return data;
}

// The file's bytes; nullopt when there is no regular file at `path`.
std::optional<std::string> ReadZoneFile(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return std::nullopt;
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec || size > kMaxFileBytes) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return std::move(bytes).str();
}

Result<std::shared_ptr<const TimeZone::Data>> ReadZone(std::string_view dir, std::string_view name) {
  const std::filesystem::path path = std::filesystem::path(dir) / name;
  const std::optional<std::string> bytes = ReadZoneFile(path);
  if (!bytes) {
    // UTC needs no database: containers without tzdata still get it.
    if (IsBuiltInUtc(name)) return UtcData(name);
    return Status::InvalidArgument(
        fmt::format("time_zone \"{}\": unknown IANA time zone (no {})", name, path.string()));
  }
  auto rules = ParseTzif(*bytes);
  if (!rules.ok()) {
    return Status::InvalidArgument(fmt::format("time_zone \"{}\": {} is not a valid TZif file: {}", name,
                                               path.string(), rules.status().message()));
  }
  auto data = std::make_shared<TimeZone::Data>();
  data->name = std::string(name);
  data->rules = std::move(rules).value();
  return std::shared_ptr<const TimeZone::Data>(std::move(data));
}

// The zones loaded so far, by directory and name. Process-wide by design
// (the brief of this module): a zone is an immutable value of the system's
// database, so sharing it changes nothing a caller can see except the cost
// of a repeated Load; a tzdata upgrade is seen by the next process.
class ZoneCache {
 public:
  static ZoneCache& Instance() {
    static ZoneCache* cache = new ZoneCache();  // never destroyed: safe during exit
    return *cache;
  }
  std::shared_ptr<const TimeZone::Data> Find(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = zones_.find(key);
    return it == zones_.end() ? nullptr : it->second;
  }
  void Put(const std::string& key, std::shared_ptr<const TimeZone::Data> data) {
    std::lock_guard<std::mutex> lock(mu_);
    zones_.emplace(key, std::move(data));
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<const TimeZone::Data>> zones_;
};

}  // namespace

Result<TimeZone> TimeZone::Load(std::string_view name) {
  const char* tzdir = std::getenv("TZDIR");
  return LoadFromDirectory(tzdir != nullptr && *tzdir != '\0' ? tzdir : kDefaultZoneInfoDir, name);
}

Result<TimeZone> TimeZone::LoadFromDirectory(std::string_view dir, std::string_view name) {
  if (!IsZoneName(name)) {
    return Status::InvalidArgument(fmt::format(
        "time_zone \"{}\": not an IANA time zone name (letters, digits and /_-+. relative to the zoneinfo directory)",
        name));
  }
  std::string key = fmt::format("{}\n{}", dir, name);
  if (auto cached = ZoneCache::Instance().Find(key)) return TimeZone(std::move(cached));
  JOBGATE_ASSIGN_OR_RETURN(auto data, ReadZone(dir, name));
  ZoneCache::Instance().Put(key, data);
  return TimeZone(std::move(data));
}

TimeZone TimeZone::Utc() {
  static const auto* utc = new std::shared_ptr<const Data>(UtcData("UTC"));
  return TimeZone(*utc);
}

const std::string& TimeZone::name() const { return data_->name; }

int32_t TimeZone::OffsetAt(int64_t utc_s) const {
  const ZoneRules& r = data_->rules;
  const auto it = std::upper_bound(r.transition_s.begin(), r.transition_s.end(), utc_s);
  // RFC 8536 section 3.2: the footer governs after the last transition, and
  // everything when there is none.
  if (it == r.transition_s.end() && r.footer) return PosixTzOffsetAt(*r.footer, utc_s);
  if (it == r.transition_s.begin()) return r.initial_offset_s;
  return r.offset_after_s[static_cast<size_t>(it - r.transition_s.begin()) - 1];
}

std::optional<int64_t> TimeZone::NextTransition(int64_t utc_s) const {
  const ZoneRules& r = data_->rules;
  const auto it = std::upper_bound(r.transition_s.begin(), r.transition_s.end(), utc_s);
  if (it != r.transition_s.end()) return *it;
  int64_t at = 0;
  if (r.footer && PosixTzNextTransition(*r.footer, utc_s, &at)) return at;
  return std::nullopt;
}

// Walks the offsets in force around `local_s` (the window holds every
// instant whose local time it can be) and keeps each instant whose offset is
// the one in force at it.
TimeZone::Mapping TimeZone::FromLocal(int64_t local_s) const {
  local_s = std::clamp(local_s, -kMaxAbsSeconds, kMaxAbsSeconds);
  Mapping m;
  m.count = 0;
  int64_t begin = local_s - kLocalWindowS;
  int32_t offset = OffsetAt(begin);
  for (;;) {
    const std::optional<int64_t> next = NextTransition(begin);
    const int64_t end = next ? *next : std::numeric_limits<int64_t>::max();
    const int64_t instant = local_s - offset;
    if (instant >= begin && instant < end) {
      (m.count == 0 ? m.first : m.second) = instant;
      m.count = std::min(m.count + 1, 2);  // more than two: the earliest and the latest
    }
    if (!next || *next > local_s + kLocalWindowS) break;
    const int32_t after = OffsetAt(*next);
    if (*next + offset <= local_s && local_s < *next + after) {
      m.gap_end = *next;
      m.gap_shift_s = after - offset;
    }
    begin = *next;
    offset = after;
  }
  if (m.count != 0) m.gap_end = 0, m.gap_shift_s = 0;
  return m;
}

}  // namespace jobgate
