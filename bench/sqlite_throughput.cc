// Library throughput on one SQLite file (issue 14, item 5; docs/benchmarks.md,
// "Library throughput"): guarded runs per second from 1, 2 and 8 threads of
// this process and from 8 processes, against the same writes done by the
// raw SQLite floor (bench/sqlite_floor.h) in the same run.
//
// A point is N workers, each with its own connection and its own job (job
// names distinct per worker: no run is skipped by the gate, so this is the
// throughput of the write path on one file, serialised by SQLite's write
// lock). Every worker loops guarded runs for --window seconds:
//   jobgate  Controller::Acquire + Commit on a SqliteStore, no-op workload,
//            cooldown 0 (1 store read, 2 writes, the run-history trim every
//            16th run: the calls sqlite_bench measures one at a time);
//   floor    floor_sql::GuardedAttempt: the same SELECT, CAS to RUNNING and
//            BEGIN IMMEDIATE + CAS to IDLE + INSERT run + COMMIT on the C API.
// Both sides wait on a locked file the same way: SqliteStore::Open sets
// sqlite3_busy_timeout(10 s) (SqliteOptions::busy_timeout_ms) and so does
// floor_sql::Open, i.e. SQLite's default busy handler, which sleeps 1, 2, 5,
// 10, 15, 20, 25, 25, 25, 50, 50, 100 ms... between retries. Same pragmas
// (WAL, synchronous NORMAL), same checkpoint policy (PASSIVE at 1000 frames,
// no checkpoint on close below 64 frames).
// Only runs completed before the window's end count; the rate is their sum
// over the window. Each round runs both sides on fresh files created by
// SqliteStore::Open (so both use the store's tables), each job primed by one
// run through the Controller; the side that goes first alternates. The table
// has the medians over rounds of each side's rate and of the per-round ratio
// floor_rate / jobgate_rate (jobgate's time per run over the floor's), target
// <= 1.2x at every point, and each side's thread CPU time per run (wall time
// minus CPU time is time spent waiting: on the write lock, in the busy
// handler's sleeps, in fsync, or preempted).
// Exit status 1 when a jobgate run was skipped, a store call failed or a run
// made other than 1 read and 2 writes (+ the trim); a missed 1.2x only prints
// MISSED (a shared VM is noisy).
// Flags: --window=S seconds per side and round (default 2), --rounds=R
// (default 5).
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "core/random.h"
#include "jobgate/controller.h"
#include "sqlite_floor.h"
#include "store/sqlite_store.h"

namespace jobgate::bench {
namespace {

using Clock = std::chrono::steady_clock;

// The directory of this run's database files, removed at exit (by the parent
// only: forked workers leave with _exit).
std::string* bench_dir = nullptr;

const std::string& BenchDir() {
  if (bench_dir == nullptr) {
    char tmpl[] = "/tmp/jobgate-sqlite-throughput-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      std::perror("mkdtemp");
      std::exit(1);
    }
    bench_dir = new std::string(tmpl);
  }
  return *bench_dir;
}

void RemoveBenchDir() {
  std::error_code ignored;
  if (bench_dir != nullptr) std::filesystem::remove_all(*bench_dir, ignored);
}

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "sqlite_throughput: %s\n", why.c_str());
  RemoveBenchDir();
  std::exit(1);
}

std::string FreshDb(const std::string& name) {
  std::string path = BenchDir() + "/" + name + ".db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  return path;
}

std::string JobName(int worker) { return fmt::format("throughput-job-{}", worker); }
std::string HolderName(int worker) { return fmt::format("benchhost:{}", 1000 + worker); }

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

// This thread's CPU time (user + sys), ns.
int64_t ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// A fresh file made by the store, with every worker's job primed by one
// guarded run (the floor needs an existing state row; jobgate's first run
// would otherwise insert it). The store is closed before any worker starts.
void PrepareDb(const std::string& path, int workers) {
  auto store = SqliteStore::Open(path);
  if (!store.ok()) Die(store.status().ToString());
  SystemClock clock;
  SeededRandom random(1);
  Controller controller(**store, clock, random);
  for (int w = 0; w < workers; ++w) {
    RunRequest req;
    req.job = JobName(w);
    req.holder = "primer:1";
    req.overrides.cooldown_ms = 0;
    auto acq = controller.Acquire(req);
    if (!acq.ok()) Die(acq.status().ToString());
    if (!acq->lease) Die("priming: the first acquisition was skipped");
    auto done = controller.Commit(*acq->lease, WorkResult{});
    if (!done.ok()) Die(done.status().ToString());
  }
}

// ---- one worker: its connection, its job, runs until the deadline ------------------

// What a worker reports (a plain struct: forked workers write it to a pipe).
struct WorkerResult {
  int64_t runs = 0;           // completed before the deadline
  int64_t reads = 0;          // jobgate: store calls summed over counted runs
  int64_t writes = 0;
  int64_t cpu_ns = 0;         // thread CPU time over the window
  int64_t max_writes = 0;     // jobgate: the most writes one run made
  int64_t min_writes = 0;     // jobgate: the fewest (0 when no run)
  char error[256] = {};       // a failed call or a skipped run; empty when fine
};

void SetError(WorkerResult* r, const std::string& what) {
  std::snprintf(r->error, sizeof(r->error), "%s", what.c_str());
}
bool Failed(WorkerResult* r, const std::string& what) {
  SetError(r, what);
  return false;
}

// One side's guarded-run loop on a connection opened before the start.
class Worker {
 public:
  virtual ~Worker() = default;
  // One guarded run; fills `reads`/`writes` on the jobgate side.
  virtual bool Once(WorkerResult* r, int64_t* reads, int64_t* writes) = 0;
};

class JobgateWorker final : public Worker {
 public:
  JobgateWorker(const std::string& path, int worker, WorkerResult* r) : random_(100 + worker) {
    auto store = SqliteStore::Open(path);
    if (!store.ok()) {
      SetError(r, store.status().ToString());
      return;
    }
    store_ = std::move(store.value());
    controller_ = std::make_unique<Controller>(*store_, clock_, random_);
    req_.job = JobName(worker);
    req_.holder = HolderName(worker);
    req_.overrides.cooldown_ms = 0;
  }
  bool ok() const { return controller_ != nullptr; }

  bool Once(WorkerResult* r, int64_t* reads, int64_t* writes) override {
    auto acq = controller_->Acquire(req_);
    if (!acq.ok()) return Failed(r, acq.status().ToString());
    if (!acq->lease) return Failed(r, fmt::format("a guarded run of {} was skipped", req_.job));
    auto out = controller_->Commit(*acq->lease, WorkResult{});
    if (!out.ok()) return Failed(r, out.status().ToString());
    if (out->kind != RunOutcomeKind::kSucceeded) return Failed(r, "a commit did not succeed");
    *reads = out->store_reads;  // Commit's counts include Acquire's
    *writes = out->store_writes;
    return true;
  }

 private:
  std::unique_ptr<SqliteStore> store_;
  SystemClock clock_;
  SeededRandom random_;
  std::unique_ptr<Controller> controller_;
  RunRequest req_;
};

class FloorWorker final : public Worker {
 public:
  FloorWorker(const std::string& path, int worker, WorkerResult* r)
      : job_(JobName(worker)), holder_(HolderName(worker)) {
    if (floor_sql::Open(&conn_, path.c_str(), false, floor_sql::Close::kJobgatePolicy) != 0) SetError(r, conn_.error);
  }
  ~FloorWorker() override { floor_sql::CloseConn(&conn_); }

  bool Once(WorkerResult* r, int64_t*, int64_t*) override {
    const floor_sql::Attempt got = floor_sql::GuardedAttempt(&conn_, job_.c_str(), holder_.c_str(), 0, row_.get());
    if (got == floor_sql::kRan) return true;
    SetError(r, conn_.error[0] ? conn_.error : "a floor attempt did not run (skipped or lost its CAS)");
    return false;
  }

 private:
  std::string job_, holder_;
  floor_sql::Conn conn_;
  std::unique_ptr<floor_sql::Row> row_ = std::make_unique<floor_sql::Row>();
};

// Loops until `deadline`; a run that ends after it is not counted.
void RunUntil(Worker& worker, Clock::time_point deadline, WorkerResult* r) {
  const int64_t cpu_start = ThreadCpuNs();
  r->min_writes = INT64_MAX;
  for (;;) {
    int64_t reads = 0, writes = 0;
    if (!worker.Once(r, &reads, &writes)) break;
    if (Clock::now() >= deadline) break;
    ++r->runs;
    r->reads += reads;
    r->writes += writes;
    r->max_writes = std::max(r->max_writes, writes);
    r->min_writes = std::min(r->min_writes, writes);
  }
  if (r->runs == 0) r->min_writes = 0;
  r->cpu_ns = ThreadCpuNs() - cpu_start;
}

std::unique_ptr<Worker> MakeWorker(bool jobgate, const std::string& path, int worker, WorkerResult* r) {
  if (!jobgate) {
    auto w = std::make_unique<FloorWorker>(path, worker, r);
    return r->error[0] ? nullptr : std::move(w);
  }
  auto w = std::make_unique<JobgateWorker>(path, worker, r);
  return w->ok() ? std::move(w) : nullptr;
}

// ---- N threads or N processes ------------------------------------------------------

Clock::duration Window(double seconds) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

// Threads: every worker opens its connection, then all start together.
std::vector<WorkerResult> RunThreads(bool jobgate, const std::string& path, int n, double window_s) {
  std::vector<WorkerResult> results(static_cast<size_t>(n));
  std::atomic<int> ready{0};
  std::atomic<int64_t> deadline_ns{0};  // 0 until the start
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      WorkerResult* r = &results[static_cast<size_t>(i)];
      auto worker = MakeWorker(jobgate, path, i, r);
      ready.fetch_add(1);
      int64_t d;
      while ((d = deadline_ns.load()) == 0) std::this_thread::yield();
      if (worker) RunUntil(*worker, Clock::time_point(Clock::duration(d)), r);
    });
  }
  while (ready.load() < n) std::this_thread::yield();
  const auto deadline = Clock::now() + Window(window_s);
  deadline_ns.store(deadline.time_since_epoch().count());
  for (auto& t : threads) t.join();
  return results;
}

bool ReadAll(int fd, void* buf, size_t n) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    const ssize_t got = read(fd, p, n);
    if (got <= 0) return false;
    p += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

// A forked worker: opens its connection, says so on `out`, waits for the
// deadline on `in` (steady_clock is CLOCK_MONOTONIC, the same in every
// process), runs, writes its WorkerResult to `out`. _exit: the parent owns
// the temp directory and the stdio buffers.
[[noreturn]] void ChildWorker(bool jobgate, const std::string& path, int i, int in, int out) {
  WorkerResult r;
  auto worker = MakeWorker(jobgate, path, i, &r);
  const char ready = 1;
  int64_t d = 0;
  if (write(out, &ready, 1) != 1 || !ReadAll(in, &d, sizeof(d))) _exit(2);
  if (worker) RunUntil(*worker, Clock::time_point(Clock::duration(d)), &r);
  worker.reset();  // closes the connection (and its checkpoint policy) before reporting
  const bool sent = write(out, &r, sizeof(r)) == static_cast<ssize_t>(sizeof(r));
  _exit(sent ? 0 : 2);
}

// Processes: forked from this one (single-threaded here, no connection open).
std::vector<WorkerResult> RunProcesses(bool jobgate, const std::string& path, int n, double window_s) {
  std::vector<pid_t> pids;
  std::vector<int> to_child, from_child;
  for (int i = 0; i < n; ++i) {
    int down[2], up[2];
    if (pipe(down) != 0 || pipe(up) != 0) Die("pipe failed");
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid < 0) Die("fork failed");
    if (pid == 0) {
      close(down[1]);
      close(up[0]);
      for (int fd : to_child) close(fd);
      for (int fd : from_child) close(fd);
      ChildWorker(jobgate, path, i, down[0], up[1]);
    }
    close(down[0]);
    close(up[1]);
    pids.push_back(pid);
    to_child.push_back(down[1]);
    from_child.push_back(up[0]);
  }
  char ready;
  for (int fd : from_child) {
    if (!ReadAll(fd, &ready, 1)) Die("a worker process died while opening its connection");
  }
  const auto deadline = Clock::now() + Window(window_s);
  const int64_t d = deadline.time_since_epoch().count();
  for (int fd : to_child) {
    if (write(fd, &d, sizeof(d)) != static_cast<ssize_t>(sizeof(d))) Die("cannot start a worker process");
  }
  std::vector<WorkerResult> results(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const size_t k = static_cast<size_t>(i);
    if (!ReadAll(from_child[k], &results[k], sizeof(WorkerResult))) SetError(&results[k], "worker process died");
    close(from_child[k]);
    close(to_child[k]);
    int status = 0;
    waitpid(pids[k], &status, 0);
  }
  return results;
}

// ---- rounds, checks, the table ------------------------------------------------------

struct Point {
  std::string name;
  int workers = 1;
  bool processes = false;
  std::vector<double> rate[2];    // runs/s per round: [0] jobgate, [1] floor
  std::vector<double> cpu_us[2];  // CPU us per run per round
  std::vector<double> ratio;      // floor_rate / jobgate_rate per round
  int64_t runs = 0, reads = 0, writes = 0, min_writes = INT64_MAX, max_writes = 0;  // jobgate, all rounds
};

// Sums one side's window; false (and a message) on a worker's error.
bool Collect(const std::vector<WorkerResult>& results, bool jobgate, double window_s, Point* p) {
  const int side = jobgate ? 0 : 1;
  int64_t runs = 0, cpu_ns = 0;
  for (const WorkerResult& r : results) {
    if (r.error[0] != '\0') {
      std::fprintf(stderr, "sqlite_throughput: %s, %s: %s\n", p->name.c_str(), jobgate ? "jobgate" : "floor",
                   r.error);
      return false;
    }
    runs += r.runs;
    cpu_ns += r.cpu_ns;
    if (!jobgate || r.runs == 0) continue;
    p->runs += r.runs;
    p->reads += r.reads;
    p->writes += r.writes;
    p->min_writes = std::min(p->min_writes, r.min_writes);
    p->max_writes = std::max(p->max_writes, r.max_writes);
  }
  p->rate[side].push_back(static_cast<double>(runs) / window_s);
  p->cpu_us[side].push_back(runs > 0 ? static_cast<double>(cpu_ns) / 1e3 / static_cast<double>(runs) : 0);
  return true;
}

// One round of a point: both sides on fresh files, `jobgate_first` chooses the order.
bool RunRound(Point* p, int round, bool jobgate_first, double window_s) {
  for (int turn = 0; turn < 2; ++turn) {
    const bool jobgate = (turn == 0) == jobgate_first;
    const std::string path = FreshDb(fmt::format("{}{}-{}-{}", p->processes ? "processes" : "threads", p->workers,
                                                 jobgate ? "jobgate" : "floor", round));
    PrepareDb(path, p->workers);
    auto results = p->processes ? RunProcesses(jobgate, path, p->workers, window_s)
                                : RunThreads(jobgate, path, p->workers, window_s);
    if (!Collect(results, jobgate, window_s, p)) return false;
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  }
  const double j = p->rate[0].back(), f = p->rate[1].back();
  p->ratio.push_back(j > 0 ? f / j : 1e9);
  std::printf("  %-12s round %d: jobgate %8.0f runs/s, floor %8.0f runs/s, ratio %.2fx\n", p->name.c_str(), round + 1,
              j, f, p->ratio.back());
  std::fflush(stdout);
  return true;
}

// The store-call contract of a guarded run: exactly 1 read, and 2 writes
// (acquire, commit) plus the run-history trim on every 16th run of a job.
bool CallsOnTarget(const Point& p) {
  if (p.runs == 0) return false;
  const int64_t trims_max = p.runs / 16 + p.workers * static_cast<int64_t>(p.rate[0].size());
  return p.reads == p.runs && p.min_writes >= 2 && p.max_writes <= 3 && p.writes >= 2 * p.runs &&
         p.writes <= 2 * p.runs + trims_max;
}

bool PrintTable(const std::vector<Point>& points) {
  std::printf("\nmedians over rounds; ratio = floor runs/s / jobgate runs/s (jobgate's time per run over the "
              "floor's)\n");
  std::printf("per run and worker: CPU us (thread CPU time) and wait us (wall time per run minus CPU: the write lock, "
              "the busy handler's sleeps, fsync, preemption)\n");
  std::printf("%-12s %10s %10s %6s | %7s %7s | %7s %7s | %4s %12s  %s\n", "point", "jobgate/s", "floor/s", "ratio",
              "j cpu", "f cpu", "j wait", "f wait", "rnds", "reads/writes", "target");
  bool calls_ok = true;
  for (const Point& p : points) {
    const bool calls = CallsOnTarget(p);
    calls_ok = calls_ok && calls;
    const double ratio = Median(p.ratio);
    const double runs = static_cast<double>(std::max<int64_t>(p.runs, 1));
    double wait_us[2];
    for (int side = 0; side < 2; ++side) {
      wait_us[side] = p.workers * 1e6 / std::max(Median(p.rate[side]), 1e-9) - Median(p.cpu_us[side]);
    }
    std::printf("%-12s %10.0f %10.0f %5.2fx | %7.1f %7.1f | %7.1f %7.1f | %4zu %5.3f/%-6.3f  1 read, 2(+trim) "
                "writes: %s; <= 1.2x: %s\n",
                p.name.c_str(), Median(p.rate[0]), Median(p.rate[1]), ratio, Median(p.cpu_us[0]), Median(p.cpu_us[1]),
                wait_us[0], wait_us[1], p.ratio.size(), static_cast<double>(p.reads) / runs,
                static_cast<double>(p.writes) / runs, calls ? "met" : "MISSED", ratio <= 1.2 ? "met" : "MISSED");
  }
  std::fflush(stdout);
  return calls_ok;
}

}  // namespace
}  // namespace jobgate::bench

int main(int argc, char** argv) {
  using namespace jobgate::bench;
  double window_s = 2;
  int rounds = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.starts_with("--window=")) {
      window_s = std::atof(arg.c_str() + 9);
    } else if (arg.starts_with("--rounds=")) {
      rounds = std::atoi(arg.c_str() + 9);
    } else {
      std::fprintf(stderr, "usage: sqlite_throughput [--window=SECONDS] [--rounds=N]\n");
      return 2;
    }
  }
  if (!(window_s > 0) || rounds < 1) Die("--window must be positive and --rounds at least 1");
  std::printf("sqlite_throughput: %.2f s per side and round, %d rounds, %u CPUs, load average %s\n", window_s, rounds,
              std::thread::hardware_concurrency(), LoadAverage().c_str());
  std::vector<Point> points(4);
  const std::pair<int, bool> shapes[] = {{1, false}, {2, false}, {8, false}, {8, true}};
  for (size_t i = 0; i < points.size(); ++i) {
    points[i].workers = shapes[i].first;
    points[i].processes = shapes[i].second;
    points[i].name = fmt::format("{}/{}", shapes[i].second ? "processes" : "threads", shapes[i].first);
  }
  bool ok = true;
  for (Point& p : points) {
    for (int r = 0; ok && r < rounds; ++r) ok = RunRound(&p, r, r % 2 == 0, window_s);
  }
  const bool calls_ok = ok && PrintTable(points);
  std::printf("load average %s\n", LoadAverage().c_str());
  RemoveBenchDir();
  return ok && calls_ok ? 0 : 1;
}
