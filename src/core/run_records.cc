#include "core/run_records.h"

#include <utility>

namespace jobgate {

RunRecord FinishedRunRecord(const Lease& lease, EpochMs now, RecordedOutcome outcome, int64_t exit_code,
                            const std::string& error) {
  RunRecord r;
  r.job = lease.job();
  r.run_id = lease.run_id();
  r.fence = lease.fence();
  r.slot = lease.slot();
  r.start_ms = lease.started_ms();
  r.end_ms = now;
  r.outcome = outcome;
  r.exit_code = exit_code;
  r.error = error;
  r.holder = lease.holder();
  return r;
}

RunRecord AbandonedRunRecord(const JobState& dead, EpochMs now, std::string why) {
  RunRecord r;
  r.job = dead.job;
  r.run_id = dead.owner;
  r.fence = dead.fence;
  r.slot = dead.last_slot;
  r.start_ms = dead.last_run_ts;
  r.end_ms = now;
  r.outcome = RecordedOutcome::kAbandoned;
  r.error = std::move(why);
  r.holder = dead.holder;
  return r;
}

RunRecord NotRunRecord(const std::string& job, const std::string& run_id, const std::string& holder, int64_t fence,
                       EpochMs slot, EpochMs now, RecordedOutcome outcome, std::string why) {
  RunRecord r;
  r.job = job;
  r.run_id = run_id;
  r.fence = fence;
  r.slot = slot;
  r.start_ms = now;
  r.end_ms = now;
  r.outcome = outcome;
  r.error = std::move(why);
  r.holder = holder;
  return r;
}

RunRecord ContendedRunRecord(const std::string& job, const std::string& run_id, const std::string& holder,
                             int64_t fence, EpochMs now, std::string why) {
  return NotRunRecord(job, run_id, holder, fence, 0, now, RecordedOutcome::kContended, std::move(why));
}

}  // namespace jobgate
