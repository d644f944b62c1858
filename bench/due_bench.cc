// `jobgate tick` on SQLite with 1,000,000 jobs of which 100 are due
// (docs/benchmarks.md, "Schedules"):
//   list_due/paired  SqliteStore::ListDue(now, 256) against its floor, the
//                    same indexed query (SqliteStore::ListDueSql()) stepped
//                    on the SQLite C API, alternately, timed call by call;
//   tick/jobgate     Scheduler::Tick with a launcher that starts nothing (no
//                    processes): the due index read and 100 starts; it
//                    counts the store calls per tick.
// The database is filled once per run: one transaction of prepared inserts
// of state rows, 100 due in the past, the rest in the future. The run
// refuses to start when the query's plan does not use the partial due_at
// index, and reports the SQLite VM steps per query: work proportional to the
// due rows, not to the jobs.
#include <sqlite3.h>
#include <stdlib.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "jobgate/clock.h"
#include "scheduler/scheduler.h"
#include "store/sqlite_store.h"

namespace jobgate::bench {
namespace {

constexpr int kJobs = 1'000'000;
constexpr int kDue = 100;
constexpr size_t kBatch = 256;  // SchedulerOptions::batch's default
constexpr EpochMs kNow = 1'800'000'000'000;

std::string DbPath() {
  static const std::string* path = [] {
    char tmpl[] = "/tmp/jobgate-due-bench-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      std::perror("mkdtemp");
      std::exit(1);
    }
    return new std::string(std::string(tmpl) + "/due.db");
  }();
  return *path;
}

bool Check(int rc, sqlite3* db, const char* what) {
  if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW) return true;
  std::fprintf(stderr, "due_bench: %s: %s\n", what, sqlite3_errmsg(db));
  return false;
}

// The rows: job-0000000 ... job-0999999; every 10,000th is due (due_at in
// the last 100 s), the others fall due in the next days. A state row as the
// store writes one for a scheduled job that has not run: status IDLE,
// version 1, next_fire_ts = due_at.
bool InsertRows(sqlite3* db) {
  sqlite3_stmt* insert = nullptr;
  if (!Check(sqlite3_prepare_v2(db,
                                "INSERT INTO job_state (job, status, version, next_fire_ts, updated_at, due_at) "
                                "VALUES (?1, 'IDLE', 1, ?2, ?3, ?2)",
                                -1, &insert, nullptr),
             db, "prepare insert")) {
    return false;
  }
  bool ok = Check(sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr), db, "begin");
  const int every = kJobs / kDue;
  for (int i = 0; ok && i < kJobs; ++i) {
    const std::string job = fmt::format("job-{:07}", i);
    const EpochMs due_at = i % every == 0 ? kNow - 1000 * (i / every + 1) : kNow + 60'000 + i * 100LL;
    sqlite3_bind_text(insert, 1, job.c_str(), static_cast<int>(job.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(insert, 2, due_at);
    sqlite3_bind_int64(insert, 3, kNow - 86'400'000);
    ok = Check(sqlite3_step(insert), db, "insert");
    sqlite3_reset(insert);
  }
  sqlite3_finalize(insert);
  return ok && Check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db, "commit");
}

// The schema is SqliteStore's own (it creates it); the rows go in raw.
bool Populate() {
  const auto start = std::chrono::steady_clock::now();
  {
    auto store = SqliteStore::Open(DbPath());
    if (!store.ok()) {
      std::fprintf(stderr, "due_bench: %s\n", store.status().ToString().c_str());
      return false;
    }
  }
  sqlite3* db = nullptr;
  bool ok = Check(sqlite3_open(DbPath().c_str(), &db), db, "open") && InsertRows(db) &&
            Check(sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr), db, "checkpoint");
  sqlite3_close(db);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("populated %d jobs (%d due) in %.1f s: %s\n", kJobs, kDue, s, DbPath().c_str());
  return ok;
}

// The floor: the store's ListDue query on the C API, prepared once, every
// row's job name and due time copied out.
class Floor {
 public:
  bool Open() {
    if (!Check(sqlite3_open_v2(DbPath().c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr), db_,
               "open")) {
      return false;
    }
    return Check(sqlite3_prepare_v3(db_, SqliteStore::ListDueSql().c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmt_,
                                    nullptr),
                 db_, "prepare ListDue");
  }
  ~Floor() {
    sqlite3_finalize(stmt_);
    sqlite3_close(db_);
  }
  // The number of rows, or -1.
  int List(EpochMs now) {
    sqlite3_bind_int64(stmt_, 1, now);
    sqlite3_bind_int64(stmt_, 2, static_cast<int64_t>(kBatch));
    int n = 0, rc = 0;
    while ((rc = sqlite3_step(stmt_)) == SQLITE_ROW) {
      const int len = sqlite3_column_bytes(stmt_, 0);
      std::memcpy(jobs_[n], sqlite3_column_text(stmt_, 0), static_cast<size_t>(std::min(len, 31)));
      jobs_[n][std::min(len, 31)] = '\0';
      due_[n] = sqlite3_column_int64(stmt_, 1);
      ++n;
    }
    sqlite3_reset(stmt_);
    return rc == SQLITE_DONE ? n : -1;
  }
  // VM steps and full-scan steps of the last query (then reset).
  std::pair<int, int> Steps() {
    return {sqlite3_stmt_status(stmt_, SQLITE_STMTSTATUS_VM_STEP, 1),
            sqlite3_stmt_status(stmt_, SQLITE_STMTSTATUS_FULLSCAN_STEP, 1)};
  }
  // The query plan, one line per step.
  std::string Plan() {
    sqlite3_stmt* explain = nullptr;
    std::string plan;
    const std::string sql = "EXPLAIN QUERY PLAN " + SqliteStore::ListDueSql();
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &explain, nullptr) != SQLITE_OK) return "?";
    while (sqlite3_step(explain) == SQLITE_ROW) {
      plan += reinterpret_cast<const char*>(sqlite3_column_text(explain, 3));
      plan += "; ";
    }
    sqlite3_finalize(explain);
    return plan;
  }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  char jobs_[kBatch][32] = {};
  EpochMs due_[kBatch] = {};
};

int64_t ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Counts the store calls a tick makes.
class CountingStore final : public StoreWrapper {
 public:
  using StoreWrapper::StoreWrapper;
  Result<std::vector<DueJob>> ListDue(EpochMs now_ms, size_t limit) override {
    ++list_due;
    auto due = StoreWrapper::ListDue(now_ms, limit);
    if (due.ok()) rows += static_cast<int64_t>(due->size());
    return due;
  }
  Result<std::optional<JobState>> ReadState(const std::string& job) override {
    ++reads;
    return StoreWrapper::ReadState(job);
  }
  Result<JobRecord> ReadJob(const std::string& job, const std::string& request_key) override {
    ++reads;
    return StoreWrapper::ReadJob(job, request_key);
  }
  Result<std::optional<JobDefinition>> ReadDefinition(const std::string& job) override {
    ++reads;
    return StoreWrapper::ReadDefinition(job);
  }
  int64_t list_due = 0, rows = 0, reads = 0;
};

// Starts nothing: every started invocation has ended, with exit 0, by the
// next Reap. What is left of a tick is the scheduler's own work.
class NullLauncher final : public Launcher {
 public:
  Result<int64_t> Start(const std::string& job) override {
    started_.push_back(job);
    return static_cast<int64_t>(started_.size());
  }
  std::vector<EndedRun> Reap(int64_t) override {
    std::vector<EndedRun> ended;
    for (auto& job : started_) ended.push_back(EndedRun{std::move(job), 0, "", 0});
    started_.clear();
    return ended;
  }
  void SignalAll(int) override {}
  size_t running() const override { return started_.size(); }

 private:
  std::vector<std::string> started_;
};

// The number of due jobs SqliteStore lists, or -1.
int64_t JobgateList(SqliteStore& store) {
  auto due = store.ListDue(kNow, kBatch);
  return due.ok() ? static_cast<int64_t>(due->size()) : -1;
}

void ListDuePaired(benchmark::State& state) {
  auto store = SqliteStore::Open(DbPath());
  Floor floor;
  if (!store.ok() || !floor.Open()) return state.SkipWithError("cannot open the database");
  using Clock = std::chrono::steady_clock;
  Clock::duration wall[2] = {};  // [0] jobgate, [1] floor
  int64_t cpu_ns[2] = {};
  int64_t vm_steps = 0, fullscan_steps = 0;
  bool jobgate_first = false;
  for (auto _ : state) {
    jobgate_first = !jobgate_first;
    for (int turn = 0; turn < 2; ++turn) {
      const int side = (turn == 0) == jobgate_first ? 0 : 1;
      const auto start = Clock::now();
      const int64_t start_cpu = ThreadCpuNs();
      const int64_t rows = side == 0 ? JobgateList(**store) : floor.List(kNow);
      cpu_ns[side] += ThreadCpuNs() - start_cpu;
      wall[side] += Clock::now() - start;
      if (rows != kDue) return state.SkipWithError(fmt::format("{} due rows, not {}", rows, kDue).c_str());
    }
    const auto [vm, full] = floor.Steps();
    vm_steps += vm;
    fullscan_steps += full;
  }
  const auto us = [](Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); };
  const auto avg = benchmark::Counter::kAvgIterations;
  state.counters["jobgate_us"] = benchmark::Counter(us(wall[0]), avg);
  state.counters["floor_us"] = benchmark::Counter(us(wall[1]), avg);
  state.counters["ratio"] = us(wall[0]) / std::max(us(wall[1]), 1e-9);
  state.counters["cpu_ratio"] = static_cast<double>(cpu_ns[0]) / static_cast<double>(std::max<int64_t>(cpu_ns[1], 1));
  state.counters["vm_steps"] = benchmark::Counter(static_cast<double>(vm_steps), avg);
  state.counters["fullscan_steps"] = benchmark::Counter(static_cast<double>(fullscan_steps), avg);
}

void TickJobgate(benchmark::State& state) {
  auto sqlite = SqliteStore::Open(DbPath());
  if (!sqlite.ok()) return state.SkipWithError(sqlite.status().ToString().c_str());
  CountingStore store(**sqlite);
  ManualClock clock(kNow);
  NullLauncher launcher;
  int64_t started = 0;
  for (auto _ : state) {
    // A scheduler per tick, as `jobgate tick` is: nothing remembered of the
    // previous tick's starts.
    Scheduler scheduler(store, clock, launcher, SchedulerOptions{}, [](const std::string&) {});
    auto report = scheduler.Tick();
    if (!report.ok()) return state.SkipWithError(report.status().ToString().c_str());
    started += report->started;
  }
  const auto avg = benchmark::Counter::kAvgIterations;
  state.counters["started"] = benchmark::Counter(static_cast<double>(started), avg);
  state.counters["list_due_calls"] = benchmark::Counter(static_cast<double>(store.list_due), avg);
  state.counters["rows_listed"] = benchmark::Counter(static_cast<double>(store.rows), avg);
  state.counters["store_reads"] = benchmark::Counter(static_cast<double>(store.reads), avg);
}

// Prints the console table, then the median paired ratio over repetitions.
class RatioReporter final : public benchmark::ConsoleReporter {
 public:
  RatioReporter() : ConsoleReporter(OO_Tabular) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred) failed_ = true;
      if (run.run_type != Run::RT_Iteration || run.error_occurred) continue;
      auto get = [&](const char* name) {
        auto it = run.counters.find(name);
        return it == run.counters.end() ? -1.0 : it->second.value;
      };
      if (get("ratio") >= 0) {
        ratio_.push_back(get("ratio"));
        cpu_ratio_.push_back(get("cpu_ratio"));
        jobgate_us_.push_back(get("jobgate_us"));
        floor_us_.push_back(get("floor_us"));
      }
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\nListDue(now, %zu) with %d of %d jobs due, median over %zu repetitions: jobgate %.1f us, "
                "floor %.1f us, paired wall ratio %.2fx, CPU ratio %.2fx\n",
                kBatch, kDue, kJobs, ratio_.size(), Median(jobgate_us_), Median(floor_us_), Median(ratio_),
                Median(cpu_ratio_));
    std::fflush(stdout);
  }
  bool failed() const { return failed_; }

 private:
  static double Median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v.size() % 2 == 1 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  }
  std::vector<double> ratio_, cpu_ratio_, jobgate_us_, floor_us_;
  bool failed_ = false;
};

// The plan must be a range over the partial due_at index, or every tick
// would read all jobs.
bool PlanUsesDueIndex() {
  Floor floor;
  if (!floor.Open()) return false;
  const std::string plan = floor.Plan();
  std::printf("ListDue plan: %s\n", plan.c_str());
  if (plan.find("job_state_due") != std::string::npos) return true;
  std::fprintf(stderr, "due_bench: ListDue does not use the job_state_due index\n");
  return false;
}

}  // namespace
}  // namespace jobgate::bench

int main(int argc, char** argv) {
  using namespace jobgate::bench;
  // Defaults for a shared machine; --benchmark_* flags given later win.
  std::vector<char*> args(argv, argv + argc);
  std::string reps = "--benchmark_repetitions=9", interleave = "--benchmark_enable_random_interleaving=true",
              min_time = "--benchmark_min_time=0.2";
  args.insert(args.begin() + 1, {reps.data(), interleave.data(), min_time.data()});
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 2;
  if (!Populate() || !PlanUsesDueIndex()) return 1;
  benchmark::RegisterBenchmark("list_due/paired", &ListDuePaired)->UseRealTime()->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("tick/jobgate", &TickJobgate)->UseRealTime()->Unit(benchmark::kMicrosecond);
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  std::filesystem::remove_all(std::filesystem::path(DbPath()).parent_path());
  return reporter.failed() ? 1 : 0;
}
