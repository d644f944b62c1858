#include "cli/output.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/duration.h"
#include "core/request_ledger.h"

namespace jobgate::cli {

namespace {

std::string Cell(std::string s, size_t width) {
  if (s.size() > width) s = s.substr(0, width - 1) + "~";
  return s;
}

std::string LastResult(const JobState& s) {
  if (s.last_success_ts == 0 && s.last_failure_ts == 0) return "-";
  if (s.last_success_ts >= s.last_failure_ts) return "ok";
  return fmt::format("failed ({})", s.last_exit_code);
}

}  // namespace

std::string Relative(EpochMs t, EpochMs now) {
  if (t == 0) return "-";
  int64_t d = t - now;
  std::string span = FormatDuration(std::abs(d) < 1000 ? std::abs(d) : std::abs(d) / 1000 * 1000);
  return d >= 0 ? "in " + span : span + " ago";
}

std::string StatusTable(const std::vector<JobState>& states, EpochMs now) {
  std::string out = fmt::format("{:<24} {:<8} {:<14} {:<14} {:<12} {:>6} {:>6} {:>6} {:>6}  {}\n", "JOB", "STATUS",
                                "NEXT", "LAST", "RESULT", "RUNS", "OK", "FAIL", "ABAND", "HOLDER");
  for (const JobState& s : states) {
    EpochMs next = s.status == JobStatus::kIdle ? std::max(s.next_allowed_run, s.next_fire_ts) : 0;
    std::string next_text = s.status == JobStatus::kPaused ? "paused"
                            : next <= now                  ? "now"
                                                           : Relative(next, now);
    if (s.status == JobStatus::kRunning) next_text = "lease " + Relative(s.lease_until, now);
    out += fmt::format("{:<24} {:<8} {:<14} {:<14} {:<12} {:>6} {:>6} {:>6} {:>6}  {}\n", Cell(s.job, 24),
                       JobStatusName(s.status), Cell(next_text, 14), Cell(Relative(s.last_run_ts, now), 14),
                       Cell(LastResult(s), 12), s.run_count, s.success_count, s.failure_count, s.abandoned_count,
                       s.holder.empty() ? "-" : s.holder);
  }
  out += fmt::format("\n{} job{} listed.\n", states.size(), states.size() == 1 ? "" : "s");
  return out;
}

std::string StatusDetail(const JobState& s, EpochMs now) {
  auto when = [&](EpochMs t) { return t == 0 ? std::string("-") : FormatRfc3339(t) + " (" + Relative(t, now) + ")"; };
  std::string out;
  out += fmt::format("{:<22} {}\n", "job", s.job);
  out += fmt::format("{:<22} {}\n", "status", JobStatusName(s.status));
  if (!s.paused_reason.empty()) out += fmt::format("{:<22} {}\n", "paused_reason", s.paused_reason);
  if (s.status == JobStatus::kRunning) {
    out += fmt::format("{:<22} {} ({})\n", "holder", s.holder, s.owner);
    out += fmt::format("{:<22} {}\n", "lease_until", when(s.lease_until));
  }
  out += fmt::format("{:<22} {}\n", "fence", s.fence);
  out += fmt::format("{:<22} {}\n", "next_allowed_run", when(s.next_allowed_run));
  out += fmt::format("{:<22} {}\n", "last_run_ts", when(s.last_run_ts));
  out += fmt::format("{:<22} {}\n", "last_success_ts", when(s.last_success_ts));
  out += fmt::format("{:<22} {}\n", "last_failure_ts", when(s.last_failure_ts));
  out += fmt::format("{:<22} {} ms, exit {}\n", "last_duration", s.last_duration_ms, s.last_exit_code);
  if (!s.last_error.empty()) out += fmt::format("{:<22} {}\n", "last_error", s.last_error);
  out += fmt::format("{:<22} runs {}, ok {}, failed {}, abandoned {}, consecutive failures {}\n", "counts",
                     s.run_count, s.success_count, s.failure_count, s.abandoned_count, s.consecutive_failures);
  if (s.last_slot != 0) out += fmt::format("{:<22} {}\n", "last_slot", FormatRfc3339(s.last_slot));
  if (s.next_fire_ts != 0) out += fmt::format("{:<22} {}\n", "next_fire_ts", when(s.next_fire_ts));
  if (s.next_fire_ts != 0 || s.slots_missed + s.slots_skipped + s.slots_deduplicated > 0) {
    out += fmt::format("{:<22} missed {}, skipped {}, deduplicated {} (`jobgate history` says why)\n", "slots",
                       s.slots_missed, s.slots_skipped, s.slots_deduplicated);
  }
  for (const CommittedRun& r : ParseUnsettled(s.unsettled_requests)) {
    // Done, but its request record could not be completed yet (docs/design.md).
    out += fmt::format("{:<22} {} (fence {}, {}; its record is not COMPLETED yet)\n", "unsettled_request", r.key,
                       r.fence, RecordedOutcomeName(r.outcome));
  }
  out += fmt::format("{:<22} {} (version {})\n", "updated_at", when(s.updated_at), s.version);
  return out;
}

std::string HistoryTable(const std::vector<RunRecord>& runs) {
  std::string out = fmt::format("{:<25} {:<11} {:>10} {:>5} {:>6}  {:<30} {}\n", "START", "OUTCOME", "DURATION",
                                "EXIT", "FENCE", "RUN ID", "ERROR");
  for (const RunRecord& r : runs) {
    std::string err = r.error;
    std::replace(err.begin(), err.end(), '\n', ' ');
    out += fmt::format("{:<25} {:<11} {:>10} {:>5} {:>6}  {:<30} {}\n", FormatRfc3339(r.start_ms), RecordedOutcomeName(r.outcome),
                       FormatDuration(std::max<int64_t>(0, r.end_ms - r.start_ms)),
                       r.outcome == RecordedOutcome::kAbandoned ? std::string("-") : std::to_string(r.exit_code), r.fence,
                       r.run_id, Cell(err, 60));
  }
  return out;
}

}  // namespace jobgate::cli
