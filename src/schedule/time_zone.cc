// TEMPORARY: "UTC" and the fixed-offset zones Etc/GMT+N / Etc/GMT-N only
// (POSIX signs: Etc/GMT+5 is five hours behind UTC). The real reader of the
// system's zoneinfo (TZif, RFC 8536) replaces this file from the tz branch.
#include "schedule/time_zone.h"

#include <string>

#include <fmt/format.h>

#include "util/text.h"

namespace jobgate {

struct TimeZone::Data {
  std::string name;
  int32_t offset_s = 0;
};

namespace {

// Etc/GMT+N / Etc/GMT-N, N in 0-14; nullopt when `name` is not one.
std::optional<int32_t> EtcGmtOffset(std::string_view name) {
  constexpr std::string_view kPrefix = "Etc/GMT";
  if (name.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  const std::string_view rest = name.substr(kPrefix.size());
  if (rest.empty()) return 0;
  if (rest.size() < 2 || rest.size() > 3 || (rest[0] != '+' && rest[0] != '-')) return std::nullopt;
  int hours = 0;
  for (char c : rest.substr(1)) {
    if (c < '0' || c > '9') return std::nullopt;
    hours = hours * 10 + (c - '0');
  }
  if (hours > 14) return std::nullopt;
  return (rest[0] == '+' ? -1 : 1) * hours * 3600;
}

}  // namespace

Result<TimeZone> TimeZone::Load(std::string_view name) {
  if (name == "UTC" || name == "Etc/UTC") return Utc();
  if (auto offset = EtcGmtOffset(name)) {
    return TimeZone(std::make_shared<const Data>(Data{std::string(name), *offset}));
  }
  return Status::InvalidArgument(fmt::format("time zone {} is unknown (this build knows UTC and Etc/GMT±N only)",
                                             Quote(name)));
}

TimeZone TimeZone::Utc() { return TimeZone(std::make_shared<const Data>(Data{"UTC", 0})); }

const std::string& TimeZone::name() const { return data_->name; }

int32_t TimeZone::OffsetAt(int64_t /*utc_s*/) const { return data_->offset_s; }

TimeZone::Mapping TimeZone::FromLocal(int64_t local_s) const {
  Mapping m;
  m.count = 1;
  m.first = local_s - data_->offset_s;
  return m;
}

std::optional<int64_t> TimeZone::NextTransition(int64_t /*utc_s*/) const { return std::nullopt; }

}  // namespace jobgate
