#include "scheduler/serve_metrics.h"

#include <chrono>
#include <nlohmann/json.hpp>

namespace jobgate {

namespace {

using metrics::Labels;

// Bucket bounds are made when a registry is (functions, not global vectors:
// those would be built at the start of every jobgate process).
// Run durations: from a second to four hours.
std::vector<double> RunBuckets() { return {0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 1800, 3600, 14400}; }
// How late a due job was started, and store calls: milliseconds to seconds.
std::vector<double> LagBuckets() { return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}; }
std::vector<double> StoreBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

const char* CodeLabel(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kInvalidArgument:
      return "invalid_argument";
    case StatusCode::kCorrupt:
      return "corrupt";
    case StatusCode::kNotFound:
      return "not_found";
    case StatusCode::kUnavailable:
      return "unavailable";
    case StatusCode::kContended:
      return "contended";
    case StatusCode::kInternal:
      return "internal";
  }
  return "unknown";
}

double Seconds(int64_t ms) { return static_cast<double>(ms) / 1000.0; }

}  // namespace

ServeMetrics::ServeMetrics(const std::string& version)
    : runs_(registry_.AddCounter("jobgate_runs_total",
                                 "Invocations started by this serve that ran the job, by how the run ended.",
                                 {"job", "outcome"})),
      skips_(registry_.AddCounter("jobgate_skips_total",
                                  "Invocations started by this serve that the gate stopped, by reason.",
                                  {"job", "reason"})),
      invocation_errors_(registry_.AddCounter(
          "jobgate_invocation_errors_total",
          "Invocations started by this serve that ended without an outcome (store down: exit 69; bad definition: 2).",
          {"job", "exit_code"})),
      takeovers_(registry_.AddCounter(
          "jobgate_lease_takeovers_total",
          "Runs started by this serve that took the job from another holder: its lease had expired "
          "(cause lease_expired) or overlap = replace stopped it (cause replaced).",
          {"job", "cause"})),
      run_duration_(registry_.AddHistogram(
          "jobgate_run_duration_seconds", "How long the runs of this serve's invocations took.", {"job"}, RunBuckets())),
      starts_(registry_.AddCounter("jobgate_serve_starts_total", "Scheduled invocations this serve started.", {"job"})),
      tick_lag_(registry_.AddHistogram("jobgate_serve_tick_lag_seconds",
                                       "How late this serve started a due job, from its due time.", {}, LagBuckets())),
      running_(registry_.AddGauge("jobgate_serve_running_children", "Invocations of this serve running now.", {})),
      last_pass_(registry_.AddGauge("jobgate_serve_last_pass_timestamp_seconds",
                                    "When this serve last read the due index (its loop is alive).", {})),
      due_read_errors_(registry_.AddCounter("jobgate_serve_due_read_errors_total",
                                            "Passes of this serve whose read of the due index failed.", {})),
      store_latency_(registry_.AddHistogram("jobgate_store_request_duration_seconds",
                                            "This serve's store calls, by operation.", {"operation"}, StoreBuckets())),
      store_errors_(registry_.AddCounter("jobgate_store_errors_total",
                                         "This serve's store calls that failed, by operation and error.",
                                         {"operation", "code"})),
      clock_offset_(registry_.AddGauge(
          "jobgate_store_clock_offset_seconds",
          "This host's clock minus the store's (remote stores that report their time), as last measured.", {"source"})),
      store_up_(registry_.AddGauge("jobgate_store_up", "1 when this scrape's read of the store succeeded.", {})),
      jobs_(registry_.AddGauge("jobgate_jobs", "Jobs by status, from the store.", {"status"})),
      job_runs_(
          registry_.AddCounter("jobgate_job_runs_total", "Runs of the job by every host, from the store.", {"job"})),
      job_successes_(registry_.AddCounter("jobgate_job_successes_total",
                                          "Successful runs of the job by every host, from the store.", {"job"})),
      job_failures_(registry_.AddCounter("jobgate_job_failures_total",
                                         "Failed and timed-out runs of the job by every host, from the store.",
                                         {"job"})),
      job_abandoned_(registry_.AddCounter(
          "jobgate_job_abandoned_total",
          "Runs whose lease expired and was taken over, or that were unlocked, from the store.", {"job"})),
      job_slots_missed_(registry_.AddCounter("jobgate_job_slots_missed_total",
                                             "Schedule slots that passed without a run (catch_up), from the store.",
                                             {"job"})),
      job_slots_skipped_(
          registry_.AddCounter("jobgate_job_slots_skipped_total",
                               "Schedule slots skipped because a run was going (overlap), from the store.", {"job"})),
      job_consecutive_failures_(registry_.AddGauge(
          "jobgate_job_consecutive_failures", "Failures of the job since its last success, from the store.", {"job"})),
      job_last_success_(registry_.AddGauge("jobgate_job_last_success_timestamp_seconds",
                                           "When the job last succeeded, from the store.", {"job"})),
      job_next_fire_(registry_.AddGauge("jobgate_job_next_fire_timestamp_seconds",
                                        "When the job's schedule next fires, from the store.", {"job"})),
      http_requests_(registry_.AddCounter("jobgate_http_requests_total",
                                          "HTTP requests this serve answered, by route and status code.",
                                          {"handler", "code"})),
      http_latency_(registry_.AddHistogram("jobgate_http_request_duration_seconds",
                                           "How long this serve took to answer HTTP requests, by route.", {"handler"},
                                           StoreBuckets())) {
  registry_.AddGauge("jobgate_build_info", "The jobgate binary serving these metrics.", {"version"}).Set({version}, 1);
}

void ServeMetrics::Pass(EpochMs now, bool due_read, size_t running) {
  last_pass_.Set({}, Seconds(now));
  running_.Set({}, static_cast<double>(running));
  if (!due_read) due_read_errors_.Add({});
}

void ServeMetrics::Started(const std::string& job, EpochMs due_at, EpochMs now) {
  starts_.Add({job});
  tick_lag_.Observe({}, Seconds(std::max<int64_t>(0, now - due_at)));
  running_.Add({}, 1);
}

void ServeMetrics::Ended(const EndedRun& run) {
  running_.Add({}, -1);
  const auto j = nlohmann::json::parse(run.outcome_json, nullptr, false);
  if (!j.is_object() || !j.contains("outcome") || !j["outcome"].is_string()) {
    invocation_errors_.Add({run.job, std::to_string(run.exit_code)});
    return;
  }
  const std::string outcome = j["outcome"];
  if (outcome == "skipped") {
    skips_.Add({run.job, j.value("reason", nlohmann::json("")).is_string() ? j.value("reason", "") : ""});
  } else {
    runs_.Add({run.job, outcome});
    if (j.contains("took_over") && j["took_over"].is_object()) {
      const auto& t = j["took_over"];
      takeovers_.Add({run.job, t.contains("cause") && t["cause"].is_string() ? t["cause"].get<std::string>() : ""});
    }
    if (j.contains("duration_ms") && j["duration_ms"].is_number()) {
      run_duration_.Observe({run.job}, Seconds(j["duration_ms"].get<int64_t>()));
    }
  }
  if (j.contains("clock_offset_ms") && j["clock_offset_ms"].is_number()) {
    clock_offset_.Set({"run"}, Seconds(j["clock_offset_ms"].get<int64_t>()));
  }
}

void ServeMetrics::StoreCall(const char* operation, double seconds, const Status& status) {
  store_latency_.Observe({operation}, seconds);
  if (!status.ok()) store_errors_.Add({operation, CodeLabel(status.code())});
}

void ServeMetrics::HttpRequest(const std::string& handler, int code, double seconds) {
  http_requests_.Add({handler, std::to_string(code)});
  http_latency_.Observe({handler}, seconds);
}

void ServeMetrics::ScrapeStore(Store& store) {
  auto states = store.ListStates();
  store_up_.Set({}, states.ok() ? 1 : 0);
  if (!states.ok()) return;  // the store-wide families keep their last values
  for (metrics::Counter* c :
       {&job_runs_, &job_successes_, &job_failures_, &job_abandoned_, &job_slots_missed_, &job_slots_skipped_}) {
    c->Clear();
  }
  for (metrics::Gauge* g : {&jobs_, &job_consecutive_failures_, &job_last_success_, &job_next_fire_}) g->Clear();
  for (JobStatus s : {JobStatus::kIdle, JobStatus::kRunning, JobStatus::kPaused}) jobs_.Set({JobStatusName(s)}, 0);
  for (const JobState& s : *states) {
    const Labels job{s.job};
    jobs_.Add({JobStatusName(s.status)}, 1);
    job_runs_.Set(job, static_cast<double>(s.run_count));
    job_successes_.Set(job, static_cast<double>(s.success_count));
    job_failures_.Set(job, static_cast<double>(s.failure_count));
    job_abandoned_.Set(job, static_cast<double>(s.abandoned_count));
    job_slots_missed_.Set(job, static_cast<double>(s.slots_missed));
    job_slots_skipped_.Set(job, static_cast<double>(s.slots_skipped));
    job_consecutive_failures_.Set(job, static_cast<double>(s.consecutive_failures));
    if (s.last_success_ts > 0) job_last_success_.Set(job, Seconds(s.last_success_ts));
    if (s.next_fire_ts > 0) job_next_fire_.Set(job, Seconds(s.next_fire_ts));
  }
  if (auto clock = store.ObservedClock()) clock_offset_.Set({"serve"}, Seconds(clock->offset_ms));
}

std::string ServeMetrics::Scrape(Store& store) {
  ScrapeStore(store);
  return registry_.Text();
}

template <typename F>
auto InstrumentedStore::Timed(const char* operation, F&& call) -> decltype(call()) {
  const auto start = std::chrono::steady_clock::now();
  auto result = call();
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  if constexpr (std::is_same_v<decltype(result), Status>) {
    metrics_.StoreCall(operation, took.count(), result);
  } else {
    metrics_.StoreCall(operation, took.count(), result.status());
  }
  return result;
}

Result<std::optional<JobState>> InstrumentedStore::ReadState(const std::string& job) {
  return Timed("read_state", [&] { return StoreWrapper::ReadState(job); });
}
Result<JobRecord> InstrumentedStore::ReadJob(const std::string& job, const std::string& request_key) {
  return Timed("read_job", [&] { return StoreWrapper::ReadJob(job, request_key); });
}
Result<std::vector<DueJob>> InstrumentedStore::ListDue(EpochMs now_ms, size_t limit) {
  return Timed("list_due", [&] { return StoreWrapper::ListDue(now_ms, limit); });
}
Result<std::vector<JobState>> InstrumentedStore::ListStates() {
  return Timed("list_states", [&] { return StoreWrapper::ListStates(); });
}
Result<std::optional<JobDefinition>> InstrumentedStore::ReadDefinition(const std::string& job) {
  return Timed("read_definition", [&] { return StoreWrapper::ReadDefinition(job); });
}
Result<std::vector<JobDefinition>> InstrumentedStore::ListDefinitions() {
  return Timed("list_definitions", [&] { return StoreWrapper::ListDefinitions(); });
}
Status InstrumentedStore::AppendRun(const RunRecord& run) {
  return Timed("append_run", [&] { return StoreWrapper::AppendRun(run); });
}
Result<std::vector<RunRecord>> InstrumentedStore::ListRuns(const std::string& job, size_t limit) {
  return Timed("list_runs", [&] { return StoreWrapper::ListRuns(job, limit); });
}
Result<WriteOutcome> InstrumentedStore::DoCreateState(const JobState& state, std::optional<EpochMs> due_at) {
  return Timed("create_state", [&] { return StoreWrapper::DoCreateState(state, due_at); });
}
Result<WriteOutcome> InstrumentedStore::DoReplaceState(const JobState& state, int64_t expected_version,
                                                       std::optional<EpochMs> due_at) {
  return Timed("replace_state", [&] { return StoreWrapper::DoReplaceState(state, expected_version, due_at); });
}

}  // namespace jobgate
