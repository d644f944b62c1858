// serve's /metrics (docs/operations.md, "Metrics"): what this process saw
// (the invocations it started and how they ended, its own store calls, its
// loop), and, read from the store when scraped, what every host did (the
// counts in the jobs' state items, jobs by status). The first kind is per
// serve and sums across the serves of one store; the second is the same
// from every serve of one store (aggregate it with max, not sum).
#pragma once

#include <string>

#include "jobgate/clock.h"
#include "jobgate/store.h"
#include "metrics/metrics.h"
#include "scheduler/scheduler.h"

namespace jobgate {

class ServeMetrics final : public SchedulerObserver {
 public:
  explicit ServeMetrics(const std::string& version);

  void Pass(EpochMs now, bool due_read, size_t running) override;
  void Started(const std::string& job, EpochMs due_at, EpochMs now) override;
  void Ended(const EndedRun& run) override;

  // One call of serve's own stores (InstrumentedStore).
  void StoreCall(const char* operation, double seconds, const Status& status);
  // One answer of the HTTP API: `handler` is its route (a bounded set, see
  // http::Api::RouteName), `code` the HTTP status.
  void HttpRequest(const std::string& handler, int code, double seconds);

  // The exposition, with the store-wide families read from `store` now.
  // One scrape at a time (the API serialises its store calls).
  std::string Scrape(Store& store);

 private:
  void ScrapeStore(Store& store);

  metrics::Registry registry_;
  metrics::Counter& runs_;
  metrics::Counter& skips_;
  metrics::Counter& invocation_errors_;
  metrics::Counter& takeovers_;
  metrics::Histogram& run_duration_;
  metrics::Counter& starts_;
  metrics::Histogram& tick_lag_;
  metrics::Gauge& running_;
  metrics::Gauge& last_pass_;
  metrics::Counter& due_read_errors_;
  metrics::Histogram& store_latency_;
  metrics::Counter& store_errors_;
  metrics::Gauge& clock_offset_;
  metrics::Gauge& store_up_;
  metrics::Gauge& jobs_;
  metrics::Counter& job_runs_;
  metrics::Counter& job_successes_;
  metrics::Counter& job_failures_;
  metrics::Counter& job_abandoned_;
  metrics::Counter& job_slots_missed_;
  metrics::Counter& job_slots_skipped_;
  metrics::Gauge& job_consecutive_failures_;
  metrics::Gauge& job_last_success_;
  metrics::Gauge& job_next_fire_;
  metrics::Counter& http_requests_;
  metrics::Histogram& http_latency_;
};

// A store whose calls are timed and counted into ServeMetrics by operation
// (the calls serve itself makes: the due index, the API's reads and
// changes, the scrapes).
class InstrumentedStore final : public StoreWrapper {
 public:
  InstrumentedStore(Store& target, ServeMetrics& metrics) : StoreWrapper(target), metrics_(metrics) {}

  Result<std::optional<JobState>> ReadState(const std::string& job) override;
  Result<JobRecord> ReadJob(const std::string& job, const std::string& request_key) override;
  Result<std::vector<DueJob>> ListDue(EpochMs now_ms, size_t limit) override;
  Result<std::vector<JobState>> ListStates() override;
  Result<std::optional<JobDefinition>> ReadDefinition(const std::string& job) override;
  Result<std::vector<JobDefinition>> ListDefinitions() override;
  Status AppendRun(const RunRecord& run) override;
  Result<std::vector<RunRecord>> ListRuns(const std::string& job, size_t limit) override;

 protected:
  Result<WriteOutcome> DoCreateState(const JobState& state, std::optional<EpochMs> due_at) override;
  Result<WriteOutcome> DoReplaceState(const JobState& state, int64_t expected_version,
                                      std::optional<EpochMs> due_at) override;

 private:
  template <typename F>
  auto Timed(const char* operation, F&& call) -> decltype(call());
  ServeMetrics& metrics_;
};

}  // namespace jobgate
