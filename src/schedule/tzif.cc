#include "schedule/tzif.h"

#include <array>
#include <string>

#include <fmt/format.h>

namespace jobgate {
namespace {

constexpr size_t kHeaderSize = 44;
// RFC 8536 section 3.2: utoff SHOULD be in [-89999, 93599] (-25h+1s to 26h-1s).
constexpr int32_t kMinOffsetS = -89999;
constexpr int32_t kMaxOffsetS = 93599;

struct Header {
  char version = 0;  // 0 (version 1), '2', '3' or '4'
  uint64_t isutcnt = 0, isstdcnt = 0, leapcnt = 0, timecnt = 0, typecnt = 0, charcnt = 0;

  // The size of the data block that follows, with `time_size`-byte times.
  uint64_t BlockSize(uint64_t time_size) const {
    return timecnt * time_size + timecnt + typecnt * 6 + charcnt + leapcnt * (time_size + 4) + isstdcnt + isutcnt;
  }
};

uint64_t BigEndian(std::string_view bytes, size_t pos, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[pos + i]);
  return v;
}

int64_t SignedBigEndian(std::string_view bytes, size_t pos, size_t n) {
  const uint64_t v = BigEndian(bytes, pos, n);
  if (n == 4) return static_cast<int32_t>(static_cast<uint32_t>(v));
  return static_cast<int64_t>(v);
}

// The header at `pos`, checked to be followed by its whole data block of
// `time_size`-byte times (4 for the first block of every version, 8 for the second).
Result<Header> ParseHeader(std::string_view bytes, size_t pos, size_t time_size) {
  if (bytes.size() < pos + kHeaderSize) return Status::InvalidArgument("truncated header");
  if (bytes.substr(pos, 4) != "TZif") return Status::InvalidArgument("no TZif magic");
  Header h;
  h.version = bytes[pos + 4];
  if (h.version != 0 && (h.version < '2' || h.version > '4')) {
    return Status::InvalidArgument(fmt::format("unknown version byte {}", static_cast<int>(h.version)));
  }
  std::array<uint64_t*, 6> counts = {&h.isutcnt, &h.isstdcnt, &h.leapcnt, &h.timecnt, &h.typecnt, &h.charcnt};
  for (size_t i = 0; i < counts.size(); ++i) *counts[i] = BigEndian(bytes, pos + 20 + i * 4, 4);
  if (h.typecnt == 0) return Status::InvalidArgument("no local time types");
  if (h.isstdcnt != 0 && h.isstdcnt != h.typecnt) return Status::InvalidArgument("isstdcnt is neither 0 nor typecnt");
  if (h.isutcnt != 0 && h.isutcnt != h.typecnt) return Status::InvalidArgument("isutcnt is neither 0 nor typecnt");
  // Leap-second ("right/") zones count TAI-like seconds, not POSIX time.
  if (h.leapcnt != 0) return Status::InvalidArgument("leap-second records are not supported");
  if (bytes.size() - pos - kHeaderSize < h.BlockSize(time_size)) {
    return Status::InvalidArgument("truncated data block");
  }
  return h;
}

// The transitions and offsets of the data block at `pos` (the header was checked to fit).
Result<ZoneRules> ParseBlock(std::string_view bytes, size_t pos, const Header& h, size_t time_size) {
  const size_t times = pos;
  const size_t indices = times + h.timecnt * time_size;
  const size_t types = indices + h.timecnt;
  std::vector<int32_t> offsets(h.typecnt);
  for (size_t i = 0; i < h.typecnt; ++i) {
    offsets[i] = static_cast<int32_t>(SignedBigEndian(bytes, types + i * 6, 4));
    if (offsets[i] < kMinOffsetS || offsets[i] > kMaxOffsetS) {
      return Status::InvalidArgument(fmt::format("local time type {} has offset {} s, out of range", i, offsets[i]));
    }
  }
  ZoneRules rules;
  rules.initial_offset_s = offsets[0];
  int32_t current = offsets[0];
  int64_t previous_at = 0;
  for (size_t i = 0; i < h.timecnt; ++i) {
    const int64_t at = SignedBigEndian(bytes, times + i * time_size, time_size);
    const auto type = static_cast<unsigned char>(bytes[indices + i]);
    if (type >= h.typecnt) return Status::InvalidArgument(fmt::format("transition {} names type {} of {}", i, type, h.typecnt));
    if (i > 0 && at <= previous_at) return Status::InvalidArgument(fmt::format("transition {} is not after the one before", i));
    previous_at = at;
    if (offsets[type] == current) continue;  // only the abbreviation or the DST flag changes
    current = offsets[type];
    rules.transition_s.push_back(at);
    rules.offset_after_s.push_back(current);
  }
  return rules;
}

// The footer: "\n" TZ-string "\n" after the version 2+ data block.
Result<std::optional<PosixTz>> ParseFooter(std::string_view rest) {
  if (rest.empty() || rest[0] != '\n') return Status::InvalidArgument("footer: no opening newline");
  const size_t end = rest.find('\n', 1);
  if (end == std::string_view::npos) return Status::InvalidArgument("footer: no closing newline");
  const std::string_view text = rest.substr(1, end - 1);
  if (text.empty()) return std::optional<PosixTz>();
  auto tz = ParsePosixTz(text);
  if (!tz.ok()) return Status::InvalidArgument("footer: " + tz.status().message());
  return std::optional<PosixTz>(std::move(tz).value());
}

}  // namespace

Result<ZoneRules> ParseTzif(std::string_view bytes) {
  JOBGATE_ASSIGN_OR_RETURN(const Header v1, ParseHeader(bytes, 0, 4));
  if (v1.version == 0) return ParseBlock(bytes, kHeaderSize, v1, 4);
  // Version 2+: skip the 32-bit block; the second header and its 64-bit block follow.
  const size_t second = kHeaderSize + v1.BlockSize(4);
  JOBGATE_ASSIGN_OR_RETURN(const Header v2, ParseHeader(bytes, second, 8));
  JOBGATE_ASSIGN_OR_RETURN(ZoneRules rules, ParseBlock(bytes, second + kHeaderSize, v2, 8));
  const size_t footer = second + kHeaderSize + v2.BlockSize(8);
  JOBGATE_ASSIGN_OR_RETURN(rules.footer, ParseFooter(bytes.substr(footer)));
  return rules;
}

}  // namespace jobgate
