#include "scheduler/scheduler.h"

#include <signal.h>

#include <algorithm>
#include <deque>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace jobgate {

namespace {

using Json = nlohmann::ordered_json;

// A job whose invocation ended is not started again for the same due time
// within this long: its store may place that time in the future still (a
// remote store's clock), and the index would list it again and again.
constexpr int64_t kRestartMs = 1'000;
constexpr int64_t kMaxHoldOffMs = 60'000;
// How often a waiting scheduler looks at its stop flag.
constexpr int64_t kStopCheckMs = 100;

std::optional<EpochMs> Sooner(std::optional<EpochMs> a, EpochMs b) { return a ? std::min(*a, b) : b; }

// The outcome's fields an end line shows.
std::map<std::string, std::string> OutcomeFields(const EndedRun& e) {
  std::map<std::string, std::string> f{{"exit_code", std::to_string(e.exit_code)},
                                       {"duration_ms", std::to_string(e.duration_ms)}};
  Json j = Json::parse(e.outcome_json, nullptr, false);
  if (!j.is_object()) return f;
  for (const char* key : {"outcome", "reason", "slot", "fence", "error"}) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) continue;
    const std::string v = it->is_string() ? it->get<std::string>() : it->dump();
    if (!v.empty()) f[key] = v;
  }
  return f;
}

}  // namespace

Scheduler::Scheduler(Store& store, Clock& clock, Launcher& launcher, SchedulerOptions options, EventSink events)
    : store_(store), clock_(clock), launcher_(launcher), options_(options), events_(std::move(events)) {}

void Scheduler::Event(const std::string& what, const std::string& job,
                      const std::map<std::string, std::string>& fields) {
  if (!events_) return;
  if (options_.json) {
    Json j{{"ts", FormatRfc3339(clock_.NowMs())}, {"event", what}};
    if (!job.empty()) j["job"] = job;
    for (const auto& [k, v] : fields) j[k] = v;
    events_(j.dump(-1, ' ', false, Json::error_handler_t::replace));
    return;
  }
  std::string line = fmt::format("{} {}", FormatRfc3339(clock_.NowMs()), what);
  if (!job.empty()) line += " job=" + job;
  for (const auto& [k, v] : fields) {
    const bool quote = v.empty() || v.find_first_of(" \"=") != std::string::npos;
    line += fmt::format(" {}={}", k, quote ? Json(v).dump(-1, ' ', false, Json::error_handler_t::replace) : v);
  }
  events_(line);
}

std::optional<EpochMs> Scheduler::StartDue(const std::vector<DueJob>& due, EpochMs now) {
  std::optional<EpochMs> later;
  for (const DueJob& d : due) {
    if (d.due_at > now) {
      later = Sooner(later, d.due_at);
      continue;
    }
    // Started here for this due time already (a new one is a new slot: its
    // invocation records it as skipped, or replaces the run, by the job's
    // overlap policy).
    auto run = running_.find(d.job);
    if (run != running_.end() && run->second.second >= d.due_at) continue;
    auto held = hold_off_.find(d.job);
    if (held != hold_off_.end() && now < held->second.until) {
      later = Sooner(later, held->second.until);
      continue;
    }
    auto end = last_end_.find(d.job);
    if (end != last_end_.end() && end->second.first == d.due_at && now - end->second.second < kRestartMs) {
      later = Sooner(later, end->second.second + kRestartMs);
      continue;
    }
    if (launcher_.running() >= static_cast<size_t>(options_.max_concurrent)) continue;  // an end wakes us
    auto id = launcher_.Start(d.job);
    if (!id.ok()) {
      Event("error", d.job, {{"error", id.status().message()}});
      continue;
    }
    auto& [count, due_at] = running_[d.job];
    count += 1;
    due_at = std::max(due_at, d.due_at);
    Event("start", d.job, {{"pid", std::to_string(*id)}, {"due", FormatRfc3339(d.due_at)}});
    if (observer_) observer_->Started(d.job, d.due_at, now);
  }
  return later;
}

void Scheduler::Ended(const std::vector<EndedRun>& ended, TickReport* report) {
  const EpochMs now = clock_.NowMs();
  for (const EndedRun& e : ended) {
    auto run = running_.find(e.job);
    if (run != running_.end()) {
      last_end_[e.job] = {run->second.second, now};
      if (--run->second.first <= 0) running_.erase(run);
    }
    Event("end", e.job, OutcomeFields(e));
    if (observer_) observer_->Ended(e);
    if (e.outcome_json.empty()) {
      HoldOff& h = hold_off_[e.job];
      h.failures += 1;
      h.until = now + std::min<int64_t>(kMaxHoldOffMs, kRestartMs << std::min(h.failures - 1, 6));
    } else {
      hold_off_.erase(e.job);
    }
    if (!report) continue;
    if (e.exit_code == 0) {
      ++report->succeeded;
    } else {
      ++report->failed;
      if (e.exit_code == 69) ++report->unavailable;
    }
  }
}

Result<TickReport> Scheduler::Tick() {
  TickReport report;
  const EpochMs now = clock_.NowMs();
  JOBGATE_ASSIGN_OR_RETURN(std::vector<DueJob> due, store_.ListDue(now, options_.batch));
  std::deque<DueJob> pending(due.begin(), due.end());
  while (!pending.empty() || launcher_.running() > 0) {
    while (!pending.empty() && launcher_.running() < static_cast<size_t>(options_.max_concurrent)) {
      const size_t before = launcher_.running();
      StartDue({pending.front()}, now);
      if (launcher_.running() > before) ++report.started;
      pending.pop_front();
    }
    Ended(launcher_.Reap(kStopCheckMs), &report);
  }
  return report;
}

Status Scheduler::Serve(const std::atomic<bool>& stop, const std::function<void()>& heartbeat,
                        const std::function<void()>& stopping) {
  Event("serving", "", {{"max_concurrent", std::to_string(options_.max_concurrent)}});
  while (!stop) {
    if (heartbeat) heartbeat();
    const EpochMs now = clock_.NowMs();
    EpochMs wake = now + options_.poll_ms;
    // Read ahead by one poll interval: what falls due before the next read
    // sets how long to sleep. A store that fails starts nothing.
    auto due = store_.ListDue(now + options_.poll_ms, options_.batch);
    if (observer_) observer_->Pass(now, due.ok(), launcher_.running());
    if (!due.ok()) {
      Event("error", "", {{"error", due.status().message()}});
    } else if (auto later = StartDue(*due, now)) {
      wake = std::min(wake, *later);
    }
    while (!stop) {
      const int64_t left = wake - clock_.NowMs();
      if (left <= 0) break;
      std::vector<EndedRun> ended = launcher_.Reap(std::min(left, kStopCheckMs));
      if (ended.empty()) continue;
      Ended(ended, nullptr);
      break;  // a place is free: look at the index again
    }
  }
  if (stopping) stopping();
  Shutdown();
  return Status::Ok();
}

void Scheduler::Shutdown() {
  Event("stopping", "", {{"running", std::to_string(launcher_.running())}});
  auto drain = [this](int64_t for_ms) {
    const int64_t until = clock_.MonotonicMs() + for_ms;
    while (launcher_.running() > 0 && clock_.MonotonicMs() < until) {
      Ended(launcher_.Reap(std::min(kStopCheckMs, until - clock_.MonotonicMs())), nullptr);
    }
  };
  drain(options_.grace_ms);
  if (launcher_.running() > 0) {
    Event("terminating", "", {{"running", std::to_string(launcher_.running())}});
    launcher_.SignalAll(SIGTERM);  // each stops its workload and commits the run
    drain(options_.kill_after_ms);
  }
  if (launcher_.running() > 0) {
    launcher_.SignalAll(SIGKILL);
    drain(kStopCheckMs * 10);
  }
  Event("stopped", "", {});
}

}  // namespace jobgate
