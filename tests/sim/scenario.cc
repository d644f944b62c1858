#include "sim/scenario.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace jobgate::sim {

const char* ScenarioClassName(ScenarioClass c) {
  switch (c) {
    case ScenarioClass::kMixed: return "mixed";
    case ScenarioClass::kContention: return "contention";
    case ScenarioClass::kStoreFaults: return "store_faults";
    case ScenarioClass::kGates: return "gates";
    case ScenarioClass::kBeyondSkew: return "beyond_skew";
    case ScenarioClass::kObservedOffset: return "observed_offset";
    case ScenarioClass::kOverconfidentClock: return "overconfident_clock";
    case ScenarioClass::kBrokenCas: return "broken_cas";
    case ScenarioClass::kSchedules: return "schedules";
  }
  return "?";
}

namespace {

JobDefinition BaseDefinition(int index, Rng& rng) {
  JobDefinition d;
  d.job = fmt::format("job{}", index);
  d.lease_ms = rng.Pick<int64_t>({1'000, 2'000, 5'000, 15'000, 60'000});
  d.max_clock_skew_ms = rng.Pick<int64_t>({0, 200, 1'000, 2'000, 5'000});
  d.backoff_base_ms = rng.Pick<int64_t>({0, 500, 2'000, 10'000});
  d.backoff_cap_ms = d.backoff_base_ms * rng.Uniform(1, 16);
  // Long enough to outlive most runs; sometimes short, so that records
  // expire during a seed and invariant 6's "while its record lives" matters.
  d.request_ttl_ms = rng.Chance(0.2) ? d.lease_ms * rng.Uniform(1, 6) : 7LL * 24 * 3600 * 1000;
  return d;
}

void AddGates(JobDefinition& d, Rng& rng, double odds) {
  if (rng.Chance(odds)) d.cooldown_ms = rng.Uniform(0, 2 * d.lease_ms);
  if (rng.Chance(odds)) d.park_after = rng.Uniform(1, 4);
  if (rng.Chance(odds)) {
    d.rate_limit_count = rng.Uniform(1, 3);
    // Windows near the skew are where clocks disagree about who is inside.
    d.rate_limit_window_ms = rng.Chance(0.5) ? rng.Uniform(100, 2 * d.max_clock_skew_ms + 200)
                                             : rng.Uniform(d.lease_ms / 2, 4 * d.lease_ms);
  }
}

// Skews within the allowance: any two hosts' clocks differ by at most
// max_clock_skew (each within +-max_clock_skew/2 of true time).
std::vector<int64_t> SkewsWithin(int hosts, int64_t max_skew_ms, Rng& rng) {
  std::vector<int64_t> out;
  for (int i = 0; i < hosts; ++i) {
    // Often exactly at the edges: that is where an off-by-one would show.
    int64_t s = rng.Chance(0.3) ? (rng.Chance(0.5) ? -max_skew_ms / 2 : max_skew_ms / 2)
                                : rng.Uniform(-max_skew_ms / 2, max_skew_ms / 2);
    out.push_back(s);
  }
  return out;
}

// Each host within +-2 x max_clock_skew of true (store) time, so any two
// may be up to four times the allowance apart; often exactly at half the
// allowance or at the extremes, where an off-by-one would show. Only the
// store's reports of each host's offset keep them apart.
std::vector<int64_t> SkewsAroundStore(int hosts, int64_t max_skew_ms, Rng& rng) {
  std::vector<int64_t> out;
  for (int i = 0; i < hosts; ++i) {
    const int64_t edge = rng.Pick<int64_t>({max_skew_ms / 2, max_skew_ms / 2 + 1, max_skew_ms, 2 * max_skew_ms});
    out.push_back(rng.Chance(0.4) ? (rng.Chance(0.5) ? -edge : edge) : rng.Uniform(-2 * max_skew_ms, 2 * max_skew_ms));
  }
  return out;
}

// At least one pair of hosts further apart than the allowance.
std::vector<int64_t> SkewsBeyond(int hosts, int64_t max_skew_ms, int64_t lease_ms, Rng& rng) {
  std::vector<int64_t> out = SkewsWithin(hosts, max_skew_ms, rng);
  int64_t excess = rng.Uniform(1, lease_ms);
  out[0] = -max_skew_ms / 2 - excess;
  out[1] = max_skew_ms - max_skew_ms / 2 + excess;
  return out;
}

// Short runs, no cooldown and clocks far apart relative to the window:
// acquisitions then reach the limiter with their stamps out of order.
void RateLimiterUnderSkew(JobPlan& j, Rng& rng) {
  JobDefinition& d = j.def;
  d.lease_ms = rng.Pick<int64_t>({1'000, 2'000});
  d.max_clock_skew_ms = rng.Pick<int64_t>({1'000, 2'000, 5'000});
  d.cooldown_ms = 0;
  d.backoff_base_ms = 0;
  d.backoff_cap_ms = 0;
  d.park_after = 0;
  d.rate_limit_count = rng.Uniform(2, 3);
  d.rate_limit_window_ms = rng.Uniform(d.max_clock_skew_ms / 4, 2 * d.max_clock_skew_ms);
  j.period_ms = d.lease_ms / 2;
  j.skews_ms = SkewsWithin(static_cast<int>(j.skews_ms.size()), d.max_clock_skew_ms, rng);
}

JobPlan MakeJob(int index, int hosts, Rng& rng) {
  JobPlan j;
  j.def = BaseDefinition(index, rng);
  j.period_ms = j.def.lease_ms * rng.Uniform(1, 6) / 2;
  j.skews_ms = SkewsWithin(hosts, j.def.max_clock_skew_ms, rng);
  return j;
}

void MixedDefaults(Scenario& s, Rng& rng) {
  s.faults.write_fail_before = rng.Chance(0.7) ? rng.Real() * 0.08 : 0;
  s.faults.write_fail_after = rng.Chance(0.7) ? rng.Real() * 0.08 : 0;
  s.faults.read_fail = rng.Chance(0.7) ? rng.Real() * 0.05 : 0;
  s.faults.interleave = rng.Real() * 0.25;
  s.crash = rng.Real() * 0.03;
  s.stall = rng.Real() * 0.03;
  s.late_heartbeat = rng.Real() * 0.1;
  s.duplicate = rng.Real() * 0.3;
  s.manual = rng.Real() * 0.2;
  s.stale_slot = rng.Real() * 0.1;
  s.success = 0.4 + rng.Real() * 0.5;
  s.cas_attempts = static_cast<int>(rng.Uniform(2, 8));
}

// Re-sent writes answered "condition failed" and writes that land late,
// from `extra`: within reach in every class, frequent in store_faults. A
// late write lands within up to two of the longest leases (or sooner, after
// a few call boundaries).
void LaterFaults(ScenarioClass c, Scenario& s, Rng& extra) {
  const bool often = c == ScenarioClass::kStoreFaults;
  s.faults.write_applied_then_conflict =
      often ? 0.02 + extra.Real() * 0.1 : (extra.Chance(0.5) ? extra.Real() * 0.05 : 0);
  s.faults.write_late = often ? 0.02 + extra.Real() * 0.1 : (extra.Chance(0.5) ? extra.Real() * 0.05 : 0);
  int64_t longest_lease = 0;
  for (const auto& j : s.jobs) longest_lease = std::max(longest_lease, j.def.lease_ms);
  s.faults.late_ms = extra.Uniform(1, 2 * longest_lease);
}

// Month windows with DST changes in them: America/New_York on 14 March
// and Europe/London on 28 March 2027; London on 31 October and New York on
// 7 November 2027.
constexpr EpochMs kMarch2027Ms = 1'804'377'600'000;    // 2027-03-07T00:00:00Z
constexpr EpochMs kOctober2027Ms = 1'824'336'000'000;  // 2027-10-24T00:00:00Z
constexpr int64_t kMinuteMs = 60'000;
constexpr int64_t kHourMs = 60 * kMinuteMs;
constexpr int64_t kDayMs = 24 * kHourMs;

// A schedule, its time zone and its policies. Cron lines fire at wall
// times DST skips or repeats (01:30 in London, 02:30 in New York).
void DrawSchedule(JobDefinition& d, Rng& rng) {
  d.schedule = rng.Pick<std::string>({"rate(5 minutes)", "rate(15 minutes)", "rate(30 minutes)", "rate(1 hour)",
                                      "rate(2 hours)", "cron(30 1 * * ? *)", "cron(0/20 * * * ? *)",
                                      "cron(30 2 ? * SUN,WED *)", "cron(0 0-3 * * ? *)", "*/10 * * * *",
                                      "30 1 * * *", "0 */2 * * *", "45 0-3 * * *", "30 2 * * 1-5", "@hourly"});
  d.time_zone = rng.Pick<std::string>({"UTC", "Europe/London", "America/New_York"});
  d.catch_up = rng.Pick<CatchUp>({CatchUp::kLatest, CatchUp::kAll, CatchUp::kNone});
  d.catch_up_limit = rng.Chance(0.5) ? rng.Uniform(1, 4) : 100;
  d.starting_deadline_ms = rng.Chance(0.4) ? rng.Pick<int64_t>({30'000, 5 * kMinuteMs, kHourMs, 6 * kHourMs}) : 0;
  d.overlap = rng.Chance(0.5) ? Overlap::kSkip : Overlap::kReplace;
}

JobPlan MakeScheduledJob(int index, int64_t max_skew_ms, Rng& rng) {
  JobPlan j;
  j.def = BaseDefinition(index, rng);
  j.def.lease_ms = rng.Pick<int64_t>({15'000, 30'000, 60'000, 2 * kMinuteMs, 5 * kMinuteMs});
  j.def.max_clock_skew_ms = max_skew_ms;
  j.def.backoff_cap_ms = std::min<int64_t>(j.def.backoff_cap_ms, kHourMs);
  if (j.def.request_ttl_ms < kDayMs) j.def.request_ttl_ms = kDayMs;
  DrawSchedule(j.def, rng);
  AddGates(j.def, rng, 0.2);
  // Runs by hand, now and then: one plain invoker with no slot.
  j.period_ms = rng.Pick<int64_t>({6 * kHourMs, kDayMs});
  if (rng.Chance(0.5)) j.skews_ms = SkewsWithin(1, max_skew_ms, rng);
  return j;
}

TickerPlan MakeTickers(const Scenario& s, int64_t max_skew_ms, Rng& rng) {
  TickerPlan t;
  const int n = static_cast<int>(rng.Uniform(2, 4));
  t.skews_ms = s.report_clock_offset ? SkewsAroundStore(n, max_skew_ms, rng) : SkewsWithin(n, max_skew_ms, rng);
  t.runners = static_cast<int>(rng.Uniform(1, 3));
  // (serve's default is a second; read ahead by the poll, due times are met
  // all the same, and a month stays cheap.)
  t.poll_ms = rng.Pick<int64_t>({5 * kMinuteMs, 15 * kMinuteMs, 30 * kMinuteMs});
  t.due_limit = static_cast<size_t>(rng.Chance(0.3) ? rng.Uniform(1, 2) : 256);
  t.launch_ms = rng.Pick<int64_t>({0, 200, 2'000});
  t.crash = rng.Real() * 0.01;
  t.down_ms = rng.Pick<int64_t>({10 * kMinuteMs, 3 * kHourMs, 2 * kDayMs});
  if (rng.Chance(0.6)) {
    t.outage_at = s.start_ms + rng.Uniform(0, s.span_ms);
    t.outage_ms = rng.Pick<int64_t>({5 * kMinuteMs, 2 * kHourMs, 30 * kHourMs});
  }
  t.redeliver = rng.Real() * 0.1;
  t.twice = rng.Real() * 0.1;
  t.request_ids = rng.Pick<double>({0.0, 0.5, 1.0});
  return t;
}

// Scheduled jobs over weeks of virtual time: several tickers, runs that
// overlap their next slot, crashes, downtime to catch up after, skew, and
// the usual store faults at lower rates (there are many more calls).
Scenario MakeScheduleScenario(Rng& rng, Rng& extra) {
  Scenario s;
  MixedDefaults(s, rng);
  s.faults.write_fail_before /= 2;
  s.faults.write_fail_after /= 2;
  s.faults.interleave /= 2;
  s.crash /= 2;
  s.stall /= 3;
  s.manual = 1;  // the plain invokers of scheduled jobs run them by hand only
  s.stale_slot = 0;
  s.report_clock_offset = rng.Chance(0.3);
  s.start_ms = rng.Chance(0.5) ? kMarch2027Ms : kOctober2027Ms;
  s.span_ms = rng.Chance(0.5) ? 31 * kDayMs : rng.Uniform(1, 7) * kDayMs;
  s.steps = 5'000'000;  // a bound; virtual time ends the run
  const int64_t max_skew_ms = rng.Pick<int64_t>({200, 1'000, 2'000, 5'000});
  const int jobs = static_cast<int>(rng.Uniform(2, 5));
  for (int i = 0; i < jobs; ++i) s.jobs.push_back(MakeScheduledJob(i, max_skew_ms, rng));
  s.tickers = MakeTickers(s, max_skew_ms, rng);
  s.faults.max_latency_ms = rng.Chance(0.5) ? rng.Uniform(1, 200) : 0;
  if (rng.Chance(0.5)) {
    s.faults.slow_call = rng.Real() * 0.002;
    s.faults.slow_call_ms = 15 * kMinuteMs;
  }
  s.operator_gap_ms = rng.Chance(0.8) ? rng.Pick<int64_t>({2 * kHourMs, 12 * kHourMs}) : 0;
  LaterFaults(ScenarioClass::kSchedules, s, extra);
  s.faults.write_applied_then_conflict /= 2;
  s.faults.write_late /= 2;
  return s;
}

}  // namespace

Scenario MakeScenario(ScenarioClass c, Rng& rng, Rng& extra) {
  if (c == ScenarioClass::kSchedules) return MakeScheduleScenario(rng, extra);
  Scenario s;
  MixedDefaults(s, rng);
  int jobs = static_cast<int>(rng.Uniform(1, 3));
  int hosts = static_cast<int>(rng.Uniform(2, 8));
  switch (c) {
    case ScenarioClass::kContention:
      jobs = 1;
      hosts = static_cast<int>(rng.Uniform(5, 8));
      s.faults.interleave = 0.2 + rng.Real() * 0.3;
      s.duplicate = 0.2 + rng.Real() * 0.4;
      break;
    case ScenarioClass::kGates:
      // Slot-less runs are not held back by slot_done, so hosts with
      // different clocks reach the limiter back to back.
      s.instant_run = 0.6;
      s.manual = 0.3 + rng.Real() * 0.4;
      break;
    case ScenarioClass::kStoreFaults:
      s.faults.write_fail_before = 0.05 + rng.Real() * 0.2;
      s.faults.write_fail_after = 0.05 + rng.Real() * 0.2;
      s.faults.read_fail = 0.02 + rng.Real() * 0.15;
      break;
    case ScenarioClass::kBeyondSkew:
      s.late_heartbeat = 0.1 + rng.Real() * 0.3;
      s.tolerate_exclusion = true;
      break;
    case ScenarioClass::kObservedOffset:
      s.late_heartbeat = 0.1 + rng.Real() * 0.3;
      s.report_clock_offset = true;
      break;
    case ScenarioClass::kOverconfidentClock:
      s.late_heartbeat = 0.1 + rng.Real() * 0.3;
      s.instant_run = 0.6;
      s.manual = 0.3 + rng.Real() * 0.4;
      s.report_clock_offset = true;
      s.understate_clock = true;
      break;
    case ScenarioClass::kBrokenCas:
      s.broken_cas = true;
      s.faults.interleave = 0.2 + rng.Real() * 0.3;
      break;
    default:
      break;
  }
  for (int i = 0; i < jobs; ++i) {
    JobPlan j = MakeJob(i, hosts, rng);
    const bool gates = c == ScenarioClass::kGates || c == ScenarioClass::kOverconfidentClock;
    AddGates(j.def, rng, gates ? 0.8 : 0.3);
    if (c == ScenarioClass::kBeyondSkew) {
      j.skews_ms = SkewsBeyond(hosts, j.def.max_clock_skew_ms, j.def.lease_ms, rng);
    }
    if (c == ScenarioClass::kObservedOffset || c == ScenarioClass::kOverconfidentClock) {
      if (j.def.max_clock_skew_ms == 0) j.def.max_clock_skew_ms = 1'000;
      j.skews_ms = SkewsAroundStore(hosts, j.def.max_clock_skew_ms, rng);
    }
    if (c == ScenarioClass::kGates) j.period_ms = std::max<int64_t>(100, j.period_ms / 4);
    if (c == ScenarioClass::kGates && rng.Chance(0.5)) RateLimiterUnderSkew(j, rng);
    s.jobs.push_back(std::move(j));
  }
  // Ordinary latency stays well below every lease; longer pauses are the
  // explicit slow calls (the caller freezes while the world goes on).
  int64_t shortest_lease = s.jobs[0].def.lease_ms;
  int64_t longest_lease = 0;
  for (const auto& j : s.jobs) {
    shortest_lease = std::min(shortest_lease, j.def.lease_ms);
    longest_lease = std::max(longest_lease, j.def.lease_ms + j.def.max_clock_skew_ms);
  }
  s.faults.max_latency_ms = rng.Chance(0.5) ? shortest_lease / rng.Uniform(20, 200) : 0;
  if (rng.Chance(0.5)) {
    s.faults.slow_call = rng.Real() * 0.01;
    s.faults.slow_call_ms = longest_lease * rng.Uniform(1, 3);
  }
  s.operator_gap_ms = rng.Chance(0.8) ? s.jobs[0].def.lease_ms * rng.Uniform(1, 8) : 0;
  LaterFaults(c, s, extra);
  return s;
}

std::string Describe(const Scenario& s) {
  std::string out;
  for (const auto& j : s.jobs) {
    const auto& d = j.def;
    out += fmt::format("{}: lease {} skew<= {} cooldown {} backoff {}..{} park {} rate {}/{}ms ttl {} period {} "
                       "hosts {}; ",
                       d.job, d.lease_ms, d.max_clock_skew_ms, d.cooldown_ms, d.backoff_base_ms, d.backoff_cap_ms,
                       d.park_after, d.rate_limit_count, d.rate_limit_window_ms, d.request_ttl_ms, j.period_ms,
                       j.skews_ms.size());
    if (!d.schedule.empty()) {
      out += fmt::format("  schedule \"{}\" in {} catch_up {} (limit {}) starting_deadline {} overlap {}; ", d.schedule,
                         d.time_zone, CatchUpName(d.catch_up), d.catch_up_limit, d.starting_deadline_ms, OverlapName(d.overlap));
    }
  }
  if (!s.tickers.skews_ms.empty()) {
    const TickerPlan& t = s.tickers;
    out += fmt::format("tickers {} (skews {}) runners {} poll {} limit {} crash {:.3f} down<= {} outage {}+{} "
                       "redeliver {:.2f} twice {:.2f} request ids {:.1f}; from {} for {} ms{}; ",
                       t.skews_ms.size(), fmt::join(t.skews_ms, ","), t.runners, t.poll_ms, t.due_limit, t.crash,
                       t.down_ms, t.outage_at, t.outage_ms, t.redeliver, t.twice, t.request_ids,
                       FormatRfc3339(s.start_ms), s.span_ms, s.report_clock_offset ? ", store time" : "");
  }
  out += fmt::format("faults before {:.2f} after {:.2f} conflict after {:.2f} lands late {:.2f} (<= {} ms) read {:.2f} "
                     "latency {} interleave {:.2f} slow call {:.3f} "
                     "(<= {} ms); crash {:.3f} stall {:.3f} late {:.3f} dup {:.2f} op every {} ms",
                     s.faults.write_fail_before, s.faults.write_fail_after, s.faults.write_applied_then_conflict,
                     s.faults.write_late, s.faults.late_ms, s.faults.read_fail,
                     s.faults.max_latency_ms, s.faults.interleave, s.faults.slow_call, s.faults.slow_call_ms, s.crash,
                     s.stall, s.late_heartbeat, s.duplicate, s.operator_gap_ms);
  return out;
}

}  // namespace jobgate::sim
