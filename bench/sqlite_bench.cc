// jobgate on SQLite against its floor, in one run (docs/benchmarks.md):
//   skip/...     Controller::Acquire on a job RUNNING under another live
//                lease (exactly 1 store read, 0 writes) vs the same SELECT
//                on the C API;
//   guarded/...  Acquire + Commit with a no-op workload, cooldown 0, vs the
//                SELECT + conditional UPDATE + {UPDATE + INSERT} of
//                sqlite_floor.h; synchronous NORMAL (the default) and FULL.
// Each comparison is three benchmarks, KIND/SIDE/VARIANT: SIDE jobgate and
// floor alone, and paired (both alternately, timed call by call, in wall and
// CPU time). Every one keeps one connection open throughout. Repetitions
// are interleaved at random; the table printed at the end has the medians
// over repetitions and the ratios, all from this one process.
// --iterations=N runs each benchmark exactly N times, once (for profiling).
#include <sqlite3.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "jobgate/controller.h"
#include "core/random.h"
#include "sqlite_floor.h"
#include "store/item_codec.h"
#include "store/sqlite_store.h"

namespace jobgate::bench {
namespace {

constexpr const char* kJob = "bench-job";
constexpr const char* kHolder = "benchhost:12345";

// The directory of this run's database files, removed at exit.
const std::string& BenchDir() {
  static const std::string* dir = [] {
    char tmpl[] = "/tmp/jobgate-sqlite-bench-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      std::perror("mkdtemp");
      std::exit(1);
    }
    return new std::string(tmpl);
  }();
  return *dir;
}

std::string FreshDb(const std::string& name) {
  std::string path = BenchDir() + "/" + name + ".db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  return path;
}

// What a benchmark measures on: a store-created database in which the job
// is RUNNING under another holder (skip) or IDLE after one run (guarded).
struct Setup {
  bool skip = false;             // skip path; else guarded run
  bool with_definition = false;  // a stored definition (`jobgate apply`)
  bool synchronous_full = false;
  std::string db;                // file name, unique per benchmark
};

Status Prepare(const std::string& path, const Setup& setup) {
  SqliteOptions options;
  options.synchronous_full = setup.synchronous_full;
  auto store = SqliteStore::Open(path, options);
  if (!store.ok()) return store.status();
  if (setup.with_definition) {
    JobDefinition def;
    def.job = kJob;
    def.command = {"/usr/local/bin/nightly-report", "--since", "1d"};
    def.schedule = "cron(0 3 * * ? *)";
    def.time_zone = "Europe/Paris";
    def.cooldown_ms = 0;
    def.timeout_ms = 3'600'000;
    JOBGATE_RETURN_IF_ERROR((*store)->PutDefinition(def));
  }
  SystemClock clock;
  SeededRandom random(1);
  Controller controller(**store, clock, random);
  RunRequest req;
  req.job = kJob;
  req.holder = "otherhost:999";
  req.overrides.cooldown_ms = 0;
  req.overrides.lease_ms = 24LL * 3600 * 1000;
  auto acq = controller.Acquire(req);
  if (!acq.ok()) return acq.status();
  if (!acq->lease) return Status::Internal("setup: the first acquisition was skipped");
  if (setup.skip) return Status::Ok();  // the lease is never released
  auto done = controller.Commit(*acq->lease, WorkResult{});
  return done.status();
}

// ---- the two sides: jobgate and its floor --------------------------------------

// Controller + SqliteStore on one kept connection. Once() is one skip-path
// Acquire, or one Acquire + Commit with a no-op workload and cooldown 0.
class JobgateSide {
 public:
  Status Open(const std::string& path, const Setup& setup) {
    JOBGATE_RETURN_IF_ERROR(Prepare(path, setup));
    skip_ = setup.skip;
    SqliteOptions options;
    options.synchronous_full = setup.synchronous_full;
    auto store = SqliteStore::Open(path, options);
    if (!store.ok()) return store.status();
    store_ = std::move(store.value());
    controller_ = std::make_unique<Controller>(*store_, clock_, random_);
    req_.job = kJob;
    req_.holder = kHolder;
    req_.overrides.cooldown_ms = 0;
    return Status::Ok();
  }

  Status Once() {
    auto acq = controller_->Acquire(req_);
    if (!acq.ok()) return acq.status();
    if (skip_) {
      const Outcome& out = acq->outcome;
      if (acq->lease || out.reason != SkipReason::kRunning) return Status::Internal("expected a skip (running)");
      if (out.store_reads != 1 || out.store_writes != 0) {
        return Status::Internal(fmt::format("the skip path made {} reads and {} writes; the contract is 1 and 0",
                                            out.store_reads, out.store_writes));
      }
      Count(out);
      return Status::Ok();
    }
    if (!acq->lease) return Status::Internal("the guarded run was skipped");
    auto out = controller_->Commit(*acq->lease, WorkResult{});  // succeeded, exit code 0
    if (!out.ok()) return out.status();
    if (out->kind != RunOutcomeKind::kSucceeded) return Status::Internal("the commit did not succeed");
    Count(*out);  // Commit's counts include Acquire's
    return Status::Ok();
  }

  void ReportCounts(benchmark::State& state) const {
    state.counters["store_reads"] = benchmark::Counter(static_cast<double>(reads_), benchmark::Counter::kAvgIterations);
    state.counters["store_writes"] =
        benchmark::Counter(static_cast<double>(writes_), benchmark::Counter::kAvgIterations);
  }

 private:
  void Count(const Outcome& out) {
    reads_ += out.store_reads;
    writes_ += out.store_writes;
  }

  bool skip_ = false;
  std::unique_ptr<SqliteStore> store_;
  SystemClock clock_;
  SeededRandom random_{2};
  std::unique_ptr<Controller> controller_;
  RunRequest req_;
  int64_t reads_ = 0, writes_ = 0;
};

// The same work on the SQLite C API (sqlite_floor.h), same settings.
class FloorSide {
 public:
  ~FloorSide() { floor_sql::CloseConn(&conn_); }

  Status Open(const std::string& path, const Setup& setup) {
    JOBGATE_RETURN_IF_ERROR(Prepare(path, setup));
    skip_ = setup.skip;
    if (floor_sql::Open(&conn_, path.c_str(), setup.synchronous_full, floor_sql::Close::kJobgatePolicy) != 0) {
      return Status::Unavailable(conn_.error);
    }
    return Status::Ok();
  }

  Status Once() {
    const floor_sql::Attempt want = skip_ ? floor_sql::kSkipped : floor_sql::kRan;
    const floor_sql::Attempt got = skip_ ? floor_sql::SkipCheck(&conn_, kJob, row_.get())
                                         : floor_sql::GuardedAttempt(&conn_, kJob, kHolder, 0, row_.get());
    if (got == want) return Status::Ok();
    return Status::Internal(conn_.error[0] ? conn_.error : "the floor did not behave as jobgate must");
  }

  void ReportCounts(benchmark::State&) const {}

 private:
  bool skip_ = false;
  floor_sql::Conn conn_;
  std::unique_ptr<floor_sql::Row> row_ = std::make_unique<floor_sql::Row>();
};

// One side alone: Google Benchmark's own timing.
template <typename Side>
void Single(benchmark::State& state, Setup setup) {
  Side side;
  if (Status st = side.Open(FreshDb(setup.db), setup); !st.ok()) return state.SkipWithError(st.ToString().c_str());
  for (auto _ : state) {
    if (Status st = side.Once(); !st.ok()) return state.SkipWithError(st.ToString().c_str());
  }
  side.ReportCounts(state);
}

using Clock = std::chrono::steady_clock;

// This thread's CPU time (user + sys) in ns: what a call costs the process,
// without the time it spent preempted by other work on the machine (but
// also without time blocked in fsync).
int64_t ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Both sides alternately, each iteration one call of each (in alternating
// order), timed separately in wall time and in CPU time: load from
// elsewhere on the machine hits both sides within microseconds of each
// other, so their ratio is steadier than that of two benchmarks run seconds
// apart. jobgate's run-history trim (every 16th commit) is amortised over
// the iterations like everything else.
void Paired(benchmark::State& state, Setup setup) {
  JobgateSide jobgate;
  FloorSide floor;
  if (Status st = jobgate.Open(FreshDb(setup.db + "-jobgate"), setup); !st.ok()) {
    return state.SkipWithError(st.ToString().c_str());
  }
  if (Status st = floor.Open(FreshDb(setup.db + "-floor"), setup); !st.ok()) {
    return state.SkipWithError(st.ToString().c_str());
  }
  Clock::duration wall[2] = {};  // [0] jobgate, [1] floor
  int64_t cpu_ns[2] = {};
  bool jobgate_first = false;
  for (auto _ : state) {
    jobgate_first = !jobgate_first;
    for (int turn = 0; turn < 2; ++turn) {
      const int side = (turn == 0) == jobgate_first ? 0 : 1;
      const auto start = Clock::now();
      const int64_t start_cpu = ThreadCpuNs();
      Status st = side == 0 ? jobgate.Once() : floor.Once();
      cpu_ns[side] += ThreadCpuNs() - start_cpu;
      wall[side] += Clock::now() - start;
      if (!st.ok()) return state.SkipWithError(st.ToString().c_str());
    }
  }
  const auto us = [](Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); };
  const auto avg = benchmark::Counter::kAvgIterations;
  state.counters["jobgate_us"] = benchmark::Counter(us(wall[0]), avg);
  state.counters["floor_us"] = benchmark::Counter(us(wall[1]), avg);
  state.counters["ratio"] = us(wall[0]) / std::max(us(wall[1]), 1e-9);
  state.counters["jobgate_cpu_us"] = benchmark::Counter(static_cast<double>(cpu_ns[0]) / 1e3, avg);
  state.counters["floor_cpu_us"] = benchmark::Counter(static_cast<double>(cpu_ns[1]) / 1e3, avg);
  state.counters["cpu_ratio"] = static_cast<double>(cpu_ns[0]) / static_cast<double>(std::max<int64_t>(cpu_ns[1], 1));
  jobgate.ReportCounts(state);
}

// ---- the floor's SQL matches the store's layout ----------------------------------

std::vector<std::string> TableColumns(sqlite3* db, const std::string& table) {
  std::vector<std::string> names;
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db, fmt::format("SELECT name FROM pragma_table_info('{}')", table).c_str(), -1, &stmt, nullptr);
  while (stmt != nullptr && sqlite3_step(stmt) == SQLITE_ROW) {
    names.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
  }
  sqlite3_finalize(stmt);
  return names;
}

// The floor hard-codes its SQL (it is the baseline, free of jobgate code):
// refuse to run when the store's layout has moved away from it.
bool FloorMatchesLayout() {
  const std::string path = FreshDb("layout");
  if (auto store = SqliteStore::Open(path); !store.ok()) {
    std::fprintf(stderr, "sqlite_bench: %s\n", store.status().ToString().c_str());
    return false;
  }
  std::vector<std::string> state_cols = {"job", "status"};
  for (const char* name : floor_sql::kStateColNames) state_cols.emplace_back(name);
  state_cols.emplace_back("due_at");
  std::vector<std::string> run_cols = {"job"};
  for (const char* name : floor_sql::kRunColNames) run_cols.emplace_back(name);
  bool types_match = StateFields().size() == floor_sql::kNumStateCols;
  for (size_t i = 0; types_match && i < StateFields().size(); ++i) {
    types_match = (StateFields()[i].type == FieldType::kString) == floor_sql::IsText(static_cast<int>(i)) &&
                  std::string(StateFields()[i].name) == floor_sql::kStateColNames[i];
  }
  sqlite3* db = nullptr;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  const bool match = types_match && TableColumns(db, "job_state") == state_cols &&
                     TableColumns(db, "job_run") == run_cols;
  sqlite3_close(db);
  if (!match) {
    std::fprintf(stderr, "sqlite_bench: bench/sqlite_floor.h no longer matches SqliteStore's tables "
                         "(store/item_codec.cc): update the floor's column lists and SQL\n");
  }
  return match;
}

// ---- ratios ----------------------------------------------------------------------

// Prints what the console reporter prints, keeps every repetition's result
// and, at the end, one line per comparison: the medians over repetitions of
// the separate jobgate and floor benchmarks and their ratio, and the median
// of the paired benchmark's per-repetition ratios (the steadier estimate, on
// which the target is judged). Benchmark names are KIND/SIDE/VARIANT with
// SIDE one of jobgate, floor, paired.
class RatioReporter final : public benchmark::ConsoleReporter {
 public:
  RatioReporter() : ConsoleReporter(OO_Tabular) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred) failed_ = true;
      if (run.run_type != Run::RT_Iteration || run.error_occurred) continue;
      const std::string& name = run.run_name.function_name;
      const size_t a = name.find('/'), b = name.find('/', a + 1);
      if (a == std::string::npos || b == std::string::npos) continue;
      Pair& pair = pairs_[name.substr(0, a) + name.substr(b)];
      const std::string side = name.substr(a + 1, b - a - 1);
      if (side == "jobgate") pair.jobgate_us.push_back(run.GetAdjustedRealTime() * Multiplier(run.time_unit));
      if (side == "floor") pair.floor_us.push_back(run.GetAdjustedRealTime() * Multiplier(run.time_unit));
      if (side == "paired") {
        pair.paired.push_back(Counter(run, "ratio"));
        pair.paired_jobgate_us.push_back(Counter(run, "jobgate_us"));
        pair.paired_floor_us.push_back(Counter(run, "floor_us"));
        pair.paired_cpu.push_back(Counter(run, "cpu_ratio"));
        pair.paired_jobgate_cpu_us.push_back(Counter(run, "jobgate_cpu_us"));
        pair.paired_floor_cpu_us.push_back(Counter(run, "floor_cpu_us"));
      }
      if (run.counters.count("store_reads") != 0) {
        pair.reads = Counter(run, "store_reads");
        pair.writes = Counter(run, "store_writes");
      }
    }
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\nmedians over repetitions, us per call: separate benchmarks (wall), then the paired one "
                "(wall, then CPU)\n");
    std::printf("%-22s %8s %8s %6s | %8s %8s %6s | %8s %8s %6s | %4s %12s  %s\n", "comparison", "jobgate", "floor",
                "ratio", "jobgate", "floor", "ratio", "j cpu", "f cpu", "ratio", "reps", "reads/writes",
                "target (paired wall ratio)");
    for (const auto& [name, p] : pairs_) {
      const double paired = Median(p.paired);
      std::printf("%-22s %8.2f %8.2f %5.2fx | %8.2f %8.2f %5.2fx | %8.2f %8.2f %5.2fx | %4zu %5.3f/%-6.3f  %s\n",
                  name.c_str(), Median(p.jobgate_us), Median(p.floor_us), Median(p.jobgate_us) / Median(p.floor_us),
                  Median(p.paired_jobgate_us), Median(p.paired_floor_us), paired, Median(p.paired_jobgate_cpu_us),
                  Median(p.paired_floor_cpu_us), Median(p.paired_cpu), p.paired.size(), p.reads, p.writes,
                  Target(name, p, paired).c_str());
    }
    std::fflush(stdout);
  }

  bool failed() const { return failed_; }

 private:
  struct Pair {
    std::vector<double> jobgate_us, floor_us, paired, paired_jobgate_us, paired_floor_us;
    std::vector<double> paired_cpu, paired_jobgate_cpu_us, paired_floor_cpu_us;
    double reads = -1, writes = -1;
  };

  // The skip path makes exactly 1 read and 0 writes (each call is also
  // checked as it runs) and costs at most 1.5x the floor, with a stored
  // definition or without; a guarded run costs at most 1.25x the floor.
  static std::string Target(const std::string& name, const Pair& p, double paired) {
    if (name.starts_with("skip/")) {
      const bool calls = p.reads == 1 && p.writes == 0;
      return fmt::format("1 read, 0 writes: {}; <= 1.5x: {}", calls ? "met" : "MISSED",
                         paired <= 1.5 ? "met" : "MISSED");
    }
    if (name.starts_with("guarded/")) return paired <= 1.25 ? "<= 1.25x: met" : "<= 1.25x: MISSED";
    return "";
  }
  static double Counter(const Run& run, const char* name) {
    auto it = run.counters.find(name);
    return it == run.counters.end() ? 0 : it->second.value;
  }
  static double Multiplier(benchmark::TimeUnit unit) {
    switch (unit) {
      case benchmark::kNanosecond: return 1e-3;
      case benchmark::kMicrosecond: return 1;
      case benchmark::kMillisecond: return 1e3;
      case benchmark::kSecond: return 1e6;
    }
    return 1;
  }
  static double Median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  }

  std::map<std::string, Pair> pairs_;
  bool failed_ = false;
};

// fixed_iterations > 0 runs every benchmark exactly that often, once: for
// profiling, where the difference between two iteration counts is the cost
// of the iterations alone (setup cancels out).
void Register(int64_t fixed_iterations) {
  auto add = [fixed_iterations](const std::string& kind, const std::string& variant, Setup setup) {
    const std::pair<const char*, void (*)(benchmark::State&, Setup)> sides[] = {
        {"jobgate", &Single<JobgateSide>}, {"floor", &Single<FloorSide>}, {"paired", &Paired}};
    for (const auto& [side, fn] : sides) {
      const std::string name = fmt::format("{}/{}/{}", kind, side, variant);
      setup.db = fmt::format("{}-{}-{}", kind, side, variant);
      auto* b = benchmark::RegisterBenchmark(name.c_str(), fn, setup)->UseRealTime()->Unit(benchmark::kMicrosecond);
      // An fsync per commit varies by 10x on a shared disk: more samples.
      if (fixed_iterations > 0) {
        b->Iterations(fixed_iterations)->Repetitions(1);
      } else if (setup.synchronous_full) {
        b->MinTime(1.0);
      }
    }
  };
  auto setup = [](bool skip, bool with_definition, bool synchronous_full) {
    Setup s;
    s.skip = skip;
    s.with_definition = with_definition;
    s.synchronous_full = synchronous_full;
    return s;
  };
  add("skip", "no_definition", setup(true, false, false));
  add("skip", "with_definition", setup(true, true, false));
  add("guarded", "sync_normal", setup(false, false, false));
  add("guarded", "sync_full", setup(false, false, true));
}

}  // namespace
}  // namespace jobgate::bench

int main(int argc, char** argv) {
  using namespace jobgate::bench;
  // Defaults that make the ratios meaningful on a shared machine; any
  // --benchmark_* flag given on the command line comes later and wins.
  std::vector<char*> args;
  int64_t fixed_iterations = 0;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.starts_with("--iterations=")) {
      fixed_iterations = std::atoll(arg.c_str() + 13);
    } else {
      args.push_back(argv[i]);
    }
  }
  std::string reps = "--benchmark_repetitions=9", interleave = "--benchmark_enable_random_interleaving=true",
              min_time = "--benchmark_min_time=0.2";
  args.insert(args.begin() + 1, {reps.data(), interleave.data(), min_time.data()});
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 2;
  if (!FloorMatchesLayout()) return 1;
  Register(fixed_iterations);
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  std::filesystem::remove_all(BenchDir());
  return reporter.failed() ? 1 : 0;
}
