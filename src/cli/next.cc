// `jobgate next EXPR`: the upcoming fire times of a schedule expression, in
// its zone's wall time. Parsing and the arithmetic are the schedule
// layer's; this prints.
#include <cstdio>

#include <fmt/format.h>

#include "cli/commands.h"
#include "core/duration.h"
#include "jobgate/clock.h"
#include "run/exit_codes.h"
#include "schedule/schedule.h"

namespace jobgate::cli {

int CmdNext(const NextArgs& a) {
  auto schedule = Schedule::Parse(a.expression, a.time_zone);
  if (!schedule.ok()) return Fail(schedule.status());
  std::optional<EpochMs> t;
  if (a.from.empty()) {
    t = SystemClock().NowMs();
  } else {
    auto from = ParseTime(a.from, "--from");
    if (!from.ok()) return Fail(from.status());
    t = *from;
  }
  for (int i = 0; i < a.count; ++i) {
    t = schedule->NextAfter(*t);
    if (!t) break;
    fmt::print(stdout, "{}\n", FormatLocalRfc3339(*t, schedule->time_zone()));
  }
  std::fflush(stdout);
  return kExitOk;
}

}  // namespace jobgate::cli
