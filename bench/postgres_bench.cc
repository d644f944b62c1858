// jobgate on PostgreSQL against pgbench, in one run (docs/benchmarks.md,
// "PostgreSQL"):
//   guarded/N  N invokers (threads, one connection and one job each), each
//              looping Controller::Acquire + Commit with a no-op workload
//              and cooldown 0: ReadJob, the acquiring CAS, the commit (and
//              the run-history trim every 16th run);
//   skip/N     the same on jobs in their cooldown: Acquire alone, which
//              must make exactly 1 store read and 0 writes.
// The floor of each is pgbench (-n -M extended, N clients, N threads)
// running the same statements as a custom script: the text comes from
// PostgresStore::SqlForBench(), its parameters become pgbench variables
// holding the values jobgate wrote, on tables made by the store's Init in a
// schema of their own, one job per client (:client_id). Each round runs both
// sides one after the other (alternating which goes first), the same number
// of runs per invoker as transactions per client (pgbench -t), sized to
// about --window seconds by a first, untimed pgbench -T 1: short windows,
// because the load of a shared machine changes within seconds. A round's
// ratio is jobgate's time per run over pgbench's time per transaction; the
// figure is the median over the rounds.
// Each round also runs the comparison paired: every invoker thread alternates
// one jobgate call and one call of the same statements, with the same
// parameters, on libpq directly (LibpqFloor), timed call by call in wall and
// thread CPU time. pgbench, a process of its own, can only be compared
// window by window, which a busy machine makes noisy; the paired ratio is
// the steadier one, and says what jobgate adds to the statements' own cost.
//
// The server: JOBGATE_BENCH_POSTGRES_URL or JOBGATE_TEST_POSTGRES_URL
// (postgres://USER@HOST:PORT/DB; any ?schema= is replaced), or --url=.
// Flags: --window=S seconds per side and round (default 0.25), --rounds=R
// (default 9), --invokers=1,8, --pgbench=PATH (default: the
// newest /usr/lib/postgresql/*/bin/pgbench, else pgbench on PATH),
// --only=guarded|skip, --fresh-connections (jobgate's invokers reconnect
// every round, as pgbench's clients do), --print-scripts.
#include <fmt/format.h>
#include <glob.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/random.h"
#include "jobgate/controller.h"
#include "store/item_codec.h"
#include "store/postgres_conn.h"
#include "store/postgres_store.h"

namespace jobgate::bench {
namespace {

constexpr const char* kHolder = "benchhost:12345";
// Job names are numbers: pgbench can compute a client's job name
// (base + :client_id) but has no string operations.
constexpr int kGuardedBase = 1000;
constexpr int kSkipBase = 2000;
constexpr int64_t kSkipCooldownMs = 24LL * 3600 * 1000;

using SteadyClock = std::chrono::steady_clock;

struct Config {
  std::string url;  // without schema
  std::string pgbench;
  double window_s = 0.25;
  int rounds = 9;
  std::vector<int> invokers = {1, 8};
  bool guarded = true, skip = true;
  bool fresh_connections = false;
  bool print_scripts = false;
};

// What exit, Die's included, removes: the schemas and the scripts' directory.
struct Cleanup {
  std::string url, drop_sql, dir;
};
Cleanup* cleanup = nullptr;

void CleanUp() {
  if (cleanup == nullptr) return;
  if (auto parsed = ParsePostgresUrl(cleanup->url); parsed.ok()) {
    SystemClock clock;
    if (auto conn = PgConnection::Connect(*parsed, clock); conn.ok())
      (void)(*conn)->ExecScript("drop", cleanup->drop_sql);
  }
  std::error_code ignored;
  std::filesystem::remove_all(cleanup->dir, ignored);
}

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "postgres_bench: %s\n", why.c_str());
  std::exit(1);
}

std::string WithSchema(const std::string& url, const std::string& schema) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + "schema=" + schema;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double CpuSeconds(int who) {
  rusage ru;
  getrusage(who, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

// ---- preparing the jobs -----------------------------------------------------------

// What jobgate wrote in one guarded run: the state as the acquiring CAS left
// it, as the commit left it, and the run record. The floor sends these values.
struct Snapshot {
  JobState running, idle;
  RunRecord run;
};

std::unique_ptr<Store> OpenOrDie(const std::string& url) {
  auto store = OpenStore(url);
  if (!store.ok()) Die(store.status().ToString());
  return std::move(store.value());
}

// One guarded run of `job` (cooldown as given), as `jobgate run` would do
// it; snapshots what it wrote.
Snapshot RunOnce(Store& store, const std::string& job, int64_t cooldown_ms) {
  SystemClock clock;
  SeededRandom random(1);
  Controller controller(store, clock, random);
  RunRequest req;
  req.job = job;
  req.holder = kHolder;
  req.overrides.cooldown_ms = cooldown_ms;
  auto acq = controller.Acquire(req);
  if (!acq.ok() || !acq->lease) Die(fmt::format("prepare {}: the first run did not acquire", job));
  Snapshot snap;
  auto running = store.ReadState(job);
  if (!running.ok() || !*running) Die(fmt::format("prepare {}: no state", job));
  snap.running = **running;
  auto done = controller.Commit(*acq->lease, WorkResult{});
  if (!done.ok() || done->kind != RunOutcomeKind::kSucceeded) Die(fmt::format("prepare {}: commit failed", job));
  auto idle = store.ReadState(job);
  auto runs = store.ListRuns(job, 1);
  if (!idle.ok() || !*idle || !runs.ok() || runs->size() != 1) Die(fmt::format("prepare {}: no record", job));
  snap.idle = **idle;
  snap.run = runs->front();
  return snap;
}

// Creates the schema (the store's Init) and, for each of `jobs` invokers,
// one guarded job (IDLE after one run) and one skip job (in its cooldown).
Snapshot PrepareSchema(const std::string& url, int jobs) {
  auto store = OpenOrDie(url);
  if (Status st = store->Init(); !st.ok()) Die(st.ToString());
  Snapshot snap;
  for (int i = 0; i < jobs; ++i) {
    snap = RunOnce(*store, std::to_string(kGuardedBase + i), 0);
    RunOnce(*store, std::to_string(kSkipBase + i), kSkipCooldownMs);
  }
  return snap;
}

// A plain statement on its own connection (set-up, resets, clean-up).
void ExecOrDie(const std::string& url, const std::string& sql) {
  auto parsed = ParsePostgresUrl(url);
  if (!parsed.ok()) Die(parsed.status().ToString());
  SystemClock clock;
  auto conn = PgConnection::Connect(*parsed, clock);
  if (!conn.ok()) Die(conn.status().ToString());
  if (Status st = (*conn)->ExecScript("bench", sql); !st.ok()) Die(st.ToString());
}

// ---- the pgbench scripts --------------------------------------------------------

// The store's statements with each $k replaced by a pgbench variable or a
// literal. Strings pgbench cannot hold in a variable (the empty string:
// -D refuses it) and SQL NULL become literals; with the unnamed statement
// the server plans with the parameters' values either way.
class ScriptWriter {
 public:
  // Replaces $1..$n; `tokens[k]` for $k (tokens[0] unused). Dies when the
  // statement's parameters do not match the layout the bench expects.
  std::string Substitute(const std::string& sql, const std::vector<std::string>& tokens) const {
    std::string out;
    size_t max_seen = 0;
    for (size_t i = 0; i < sql.size(); ++i) {
      if (sql[i] != '$' || i + 1 >= sql.size() || !std::isdigit(static_cast<unsigned char>(sql[i + 1]))) {
        out += sql[i];
        continue;
      }
      size_t j = i + 1;
      while (j < sql.size() && std::isdigit(static_cast<unsigned char>(sql[j]))) ++j;
      const size_t k = std::stoul(sql.substr(i + 1, j - i - 1));
      if (k == 0 || k >= tokens.size()) Die(fmt::format("statement parameter ${} is not in the bench's layout", k));
      max_seen = std::max(max_seen, k);
      out += tokens[k];
      i = j - 1;
    }
    if (max_seen + 1 != tokens.size()) {
      Die(fmt::format("the statement has {} parameters, the bench's layout {}", max_seen, tokens.size() - 1));
    }
    return out;
  }

  // A value jobgate sent: a variable defined with -D, or ''.
  std::string Value(const std::string& v) {
    if (v.empty()) return "''";
    const std::string name = fmt::format("x{}", defines_.size());
    defines_.push_back(name + "=" + v);
    return ":" + name;
  }

  const std::vector<std::string>& defines() const { return defines_; }

 private:
  std::vector<std::string> defines_;
};

// The parameters of a state write (postgres_store.cc's layout: $1 job, $2
// status, StateFields(), due_at, the expected version) with version and
// expected version as variables; a commit's run record follows.
std::vector<std::string> StateTokens(ScriptWriter& w, const JobState& s, const char* version, const char* expected) {
  std::vector<std::string> t = {"", ":job", w.Value(std::string(JobStatusName(s.status)))};
  for (const auto& f : StateFields())
    t.push_back(std::string(f.name) == "version" ? version : w.Value(FieldText(s, f)));
  if (DueAt(s)) Die("the bench's jobs are unscheduled: due_at must be NULL");
  t.push_back("NULL");  // what jobgate binds for an unscheduled job
  t.push_back(expected);
  return t;
}

// The acquiring CAS's time guard (Store::ReplaceState's not_before, a
// parameter after the expected version): applied only once the server's
// clock has reached it. The controller passes the earliest it placed the
// server's clock at when it gated, a moment before the write; any past time
// makes the same condition true.
EpochMs NotBefore(const Snapshot& snap) { return snap.running.last_run_ts; }

// The run record's key (job, start_ms, run_id) is new in every transaction,
// as jobgate's is: start_ms = :start.
void AddRunTokens(ScriptWriter& w, const RunRecord& run, std::vector<std::string>* t) {
  for (const auto& f : RunFields())
    t->push_back(std::string(f.name) == "start_ms" ? ":start" : w.Value(FieldText(run, f)));
}

struct Scripts {
  std::string guarded, skip;
  std::vector<std::string> defines;
};

Scripts MakeScripts(const PostgresStore::GuardedRunSql& sql, const Snapshot& snap) {
  ScriptWriter w;
  const std::vector<std::string> read_tokens = {"", ":job", "''"};  // no request key
  const std::string read = w.Substitute(sql.read_job, read_tokens);
  std::vector<std::string> acquire_tokens = StateTokens(w, snap.running, ":v1", ":v");
  acquire_tokens.push_back(w.Value(std::to_string(NotBefore(snap))));
  const std::string acquire = w.Substitute(sql.replace_state, acquire_tokens);
  std::vector<std::string> commit_tokens = StateTokens(w, snap.idle, ":v2", ":v1");
  AddRunTokens(w, snap.run, &commit_tokens);
  const std::string commit = w.Substitute(sql.commit, commit_tokens);
  Scripts s;
  // :v is the job's version, per client; it persists across transactions.
  s.guarded = fmt::format(
      "\\set job {} + :client_id\n\\set v1 :v + 1\n\\set v2 :v + 2\n\\set start :base + :v\n{};\n{};\n{};\n"
      "\\set v :v + 2\n",
      kGuardedBase, read, acquire, commit);
  s.skip = fmt::format("\\set job {} + :client_id\n{};\n", kSkipBase, read);
  s.defines = w.defines();
  return s;
}

// ---- pgbench ------------------------------------------------------------------------

struct PgbenchResult {
  double tps = 0;
  int64_t transactions = 0;
  double cpu_s = 0;  // the pgbench process's user + sys
};

std::string RunCapture(const std::vector<std::string>& argv, int* status) {
  int fds[2];
  if (pipe(fds) != 0) Die("pipe");
  const pid_t pid = fork();
  if (pid < 0) Die("fork");
  if (pid == 0) {
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    std::perror(args[0]);
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof(buf))) > 0;) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  waitpid(pid, status, 0);
  return out;
}

double Field(const std::string& out, const std::string& label) {
  const size_t at = out.find(label);
  return at == std::string::npos ? -1 : std::atof(out.c_str() + at + label.size());
}

// `per_client` transactions per client (-t), or 0 for one second (-T 1).
PgbenchResult RunPgbench(const Config& cfg, const std::string& script, const std::vector<std::string>& defines,
                         int clients, int64_t per_client, int64_t base) {
  std::vector<std::string> argv = {
      cfg.pgbench, "-n", "-M", "extended", "-f", script, "-c", std::to_string(clients), "-j", std::to_string(clients)};
  if (per_client > 0) {
    argv.insert(argv.end(), {"-t", std::to_string(per_client)});
  } else {
    argv.insert(argv.end(), {"-T", "1"});
  }
  for (const auto& d : defines) argv.insert(argv.end(), {"-D", d});
  argv.insert(argv.end(), {"-D", fmt::format("base={}", base), cfg.url});
  const double cpu0 = CpuSeconds(RUSAGE_CHILDREN);
  int status = 0;
  const std::string out = RunCapture(argv, &status);
  PgbenchResult r;
  r.cpu_s = CpuSeconds(RUSAGE_CHILDREN) - cpu0;
  r.tps = Field(out, "tps = ");
  r.transactions = static_cast<int64_t>(Field(out, "number of transactions actually processed: "));
  const double failed = Field(out, "number of failed transactions: ");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || r.tps <= 0 || failed > 0) {
    Die("pgbench failed:\n" + out);
  }
  return r;
}

// ---- jobgate ------------------------------------------------------------------------

// One invoker: its own connection (OpenStore), controller and job. Once()
// is one guarded run with a no-op workload, or one skip-path Acquire.
class Invoker {
 public:
  Invoker(const std::string& url, int index, bool skip)
      : store_(OpenOrDie(url)), controller_(*store_, clock_, random_), skip_(skip) {
    req_.job = std::to_string((skip ? kSkipBase : kGuardedBase) + index);
    req_.holder = kHolder;
    req_.overrides.cooldown_ms = skip ? kSkipCooldownMs : 0;
  }

  Status Once() {
    auto acq = controller_.Acquire(req_);
    if (!acq.ok()) return acq.status();
    if (skip_) {
      const Outcome& out = acq->outcome;
      if (acq->lease || out.kind != RunOutcomeKind::kSkipped) return Status::Internal("expected a skip (cooldown)");
      if (out.store_reads != 1 || out.store_writes != 0) {
        return Status::Internal(fmt::format("the skip path made {} reads and {} writes; the contract is 1 and 0",
                                            out.store_reads, out.store_writes));
      }
      Count(out);
      return Status::Ok();
    }
    if (!acq->lease) return Status::Internal("the guarded run was skipped");
    auto out = controller_.Commit(*acq->lease, WorkResult{});
    if (!out.ok()) return out.status();
    if (out->kind != RunOutcomeKind::kSucceeded) return Status::Internal("the commit did not succeed");
    Count(*out);  // Commit's counts include Acquire's
    return Status::Ok();
  }

  int64_t runs = 0, reads = 0, writes = 0;

 private:
  void Count(const Outcome& out) {
    ++runs;
    reads += out.store_reads;
    writes += out.store_writes;
  }

  std::unique_ptr<Store> store_;
  SystemClock clock_;
  SeededRandom random_{2};
  Controller controller_;
  bool skip_;
  RunRequest req_;
};

struct Side {
  double us_per_op = 0;      // per invoker (client): elapsed x N / operations
  double cpu_us_per_op = 0;  // this side's client process, user + sys
  int64_t ops = 0;
};

// Every invoker makes `per_invoker` calls on a thread of its own, all
// started together; the phase lasts until the last one's call returns.
Side RunJobgate(std::vector<std::unique_ptr<Invoker>>& invokers, int64_t per_invoker) {
  std::vector<int64_t> before;
  for (const auto& inv : invokers) before.push_back(inv->runs);
  std::atomic<bool> go{false}, failed{false};
  std::vector<SteadyClock::time_point> ends(invokers.size());
  std::vector<std::thread> threads;
  const double cpu0 = CpuSeconds(RUSAGE_SELF);
  const auto start = SteadyClock::now();
  for (size_t i = 0; i < invokers.size(); ++i) {
    threads.emplace_back([&, i] {
      while (!go.load()) std::this_thread::yield();
      for (int64_t n = 0; n < per_invoker && !failed.load(); ++n) {
        if (Status st = invokers[i]->Once(); !st.ok()) {
          std::fprintf(stderr, "postgres_bench: %s\n", st.ToString().c_str());
          failed = true;
        }
      }
      ends[i] = SteadyClock::now();
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  if (failed) Die("a jobgate invocation failed");
  Side side;
  for (size_t i = 0; i < invokers.size(); ++i) side.ops += invokers[i]->runs - before[i];
  const double elapsed = std::chrono::duration<double>(*std::max_element(ends.begin(), ends.end()) - start).count();
  side.us_per_op = elapsed * 1e6 * static_cast<double>(invokers.size()) / static_cast<double>(side.ops);
  side.cpu_us_per_op = (CpuSeconds(RUSAGE_SELF) - cpu0) * 1e6 / static_cast<double>(side.ops);
  return side;
}

// ---- the paired floor: libpq in this process -------------------------------------

// The same statements with the same parameters (NULL and '' included) on a
// libpq connection of its own, with nothing of jobgate around them: the
// floor that can be run call by call beside jobgate (Paired), which pgbench,
// a process of its own, cannot.
class LibpqFloor {
 public:
  LibpqFloor(const std::string& url, const PostgresStore::GuardedRunSql& sql, const Snapshot& snap, int index,
             bool skip)
      : conn_(PQconnectdb(url.c_str())), sql_(sql), snap_(snap), skip_(skip) {
    if (PQstatus(conn_) != CONNECTION_OK) Die(std::string("libpq floor: ") + PQerrorMessage(conn_));
    job_ = std::to_string((skip ? kSkipBase : kGuardedBase) + index);
  }
  ~LibpqFloor() { PQfinish(conn_); }

  // The job's version now (the floor's jobs are reset between phases) and a
  // new range of run record keys.
  void Start(int64_t version, int64_t base) { version_ = version, base_ = base; }

  Status Once() {
    JOBGATE_RETURN_IF_ERROR(Exec(sql_.read_job, {job_, ""}, false));
    if (skip_) return Status::Ok();
    PgParams acquire = StateValues(snap_.running, version_ + 1, version_);
    acquire.push_back(std::to_string(NotBefore(snap_)));
    JOBGATE_RETURN_IF_ERROR(Exec(sql_.replace_state, acquire, true));
    PgParams commit = StateValues(snap_.idle, version_ + 2, version_ + 1);
    for (const auto& f : RunFields()) {
      commit.push_back(std::string(f.name) == "start_ms" ? std::to_string(base_ + version_) : FieldText(snap_.run, f));
    }
    JOBGATE_RETURN_IF_ERROR(Exec(sql_.commit, commit, true));
    version_ += 2;
    return Status::Ok();
  }

 private:
  PgParams StateValues(const JobState& s, int64_t version, int64_t expected) const {
    PgParams p = {job_, std::string(JobStatusName(s.status))};
    for (const auto& f : StateFields()) {
      p.push_back(std::string(f.name) == "version" ? std::to_string(version) : FieldText(s, f));
    }
    p.push_back(std::nullopt);  // due_at: the jobs are unscheduled
    p.push_back(std::to_string(expected));
    return p;
  }

  // One statement; a write's count (column 1) must be 1: its CAS applied.
  Status Exec(const std::string& sql, const PgParams& params, bool write) {
    std::vector<const char*> values;
    for (const auto& v : params) values.push_back(v ? v->c_str() : nullptr);
    PGresult* r =
        PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0);
    Status st = Status::Ok();
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
      st = Status::Internal(std::string("libpq floor: ") + PQerrorMessage(conn_));
    } else if (write && std::string(PQgetvalue(r, 0, 1)) != "1") {
      st = Status::Internal("libpq floor: a CAS did not apply");
    }
    PQclear(r);
    return st;
  }

  PGconn* conn_;
  const PostgresStore::GuardedRunSql& sql_;
  const Snapshot& snap_;
  bool skip_;
  std::string job_;
  int64_t version_ = 0, base_ = 0;
};

// ---- rounds -------------------------------------------------------------------------

struct Comparison {
  std::string name;
  int invokers = 0;
  bool skip = false;
  std::vector<double> jobgate_us, pgbench_us, ratio, jobgate_cpu_us, pgbench_cpu_us;
  std::vector<double> paired_jobgate_us, paired_floor_us, paired_ratio, paired_cpu_ratio;
  double reads_per_run = 0, writes_per_run = 0;
  int64_t runs = 0, reads = 0, writes = 0;  // of invokers replaced by new ones
};

// The floor's schema: its guarded jobs' versions are reset before each
// pgbench run (every client starts from -D v=...), and checked after it:
// every transaction's CAS must have applied, as jobgate's must.
class Floor {
 public:
  Floor(const std::string& url, const std::string& schema, int64_t version, int jobs) : url_(url), version_(version) {
    std::vector<std::string> names;
    for (int i = 0; i < jobs; ++i) names.push_back(fmt::format("'{}'", kGuardedBase + i));
    table_ = fmt::format("\"{}\".job_state", schema);
    jobs_ = fmt::format("job IN ({})", fmt::join(names, ", "));
  }

  void Reset() const { ExecOrDie(url_, fmt::format("UPDATE {} SET version = {} WHERE {}", table_, version_, jobs_)); }

  void Check(int64_t transactions) const {
    auto parsed = ParsePostgresUrl(url_);
    SystemClock clock;
    auto conn = PgConnection::Connect(*parsed, clock);
    if (!conn.ok()) Die(conn.status().ToString());
    auto r = (*conn)->Exec("check", fmt::format("SELECT sum(version - {}) FROM {} WHERE {}", version_, table_, jobs_),
                           {}, PgConnection::Resend::kSafe);
    if (!r.ok()) Die(r.status().ToString());
    auto advanced = r->Int(0, 0);
    if (!advanced.ok() || *advanced != 2 * transactions) {
      Die(fmt::format("pgbench: {} transactions but the versions advanced by {}: a CAS did not apply", transactions,
                      advanced.ok() ? *advanced : -1));
    }
  }

  int64_t version() const { return version_; }

 private:
  std::string url_, table_, jobs_;
  int64_t version_;
};

struct Run {
  Config cfg;
  std::string jobgate_url;  // with its schema
  std::string guarded_script, skip_script;
  std::vector<std::string> defines;
  std::unique_ptr<Floor> floor;
  PostgresStore::GuardedRunSql floor_sql;  // the floor schema's statements
  Snapshot snap;
  int64_t base = 0;  // start_ms of the floor's run records: new in every pgbench run
};

Side RunFloor(Run& run, const Comparison& cmp, int64_t per_client) {
  std::vector<std::string> defines = run.defines;
  if (!cmp.skip) {
    run.floor->Reset();
    defines.push_back(fmt::format("v={}", run.floor->version()));
  }
  run.base += 100'000'000;
  const PgbenchResult r =
      RunPgbench(run.cfg, cmp.skip ? run.skip_script : run.guarded_script, defines, cmp.invokers, per_client, run.base);
  if (!cmp.skip) run.floor->Check(r.transactions);
  Side side;
  side.ops = r.transactions;
  side.us_per_op = 1e6 * cmp.invokers / r.tps;
  side.cpu_us_per_op = r.cpu_s * 1e6 / static_cast<double>(r.transactions);
  return side;
}

int64_t ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Sums of wall and thread CPU time, ns: [0] jobgate, [1] the libpq floor.
struct PairedSums {
  int64_t wall[2] = {}, cpu[2] = {}, calls = 0;
};

// Every invoker thread alternates one jobgate call and one floor call (each
// side's first in turn), on its own two connections, timing each: load
// from elsewhere then hits both within microseconds of each other.
PairedSums RunPaired(std::vector<std::unique_ptr<Invoker>>& invokers, std::vector<std::unique_ptr<LibpqFloor>>& floors,
                     int64_t per_invoker) {
  std::vector<PairedSums> sums(invokers.size());
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (size_t i = 0; i < invokers.size(); ++i) {
    threads.emplace_back([&, i] {
      for (int64_t n = 0; n < per_invoker && !failed.load(); ++n) {
        for (int turn = 0; turn < 2; ++turn) {
          const int side = (turn + n) % 2;
          const auto start = SteadyClock::now();
          const int64_t start_cpu = ThreadCpuNs();
          Status st = side == 0 ? invokers[i]->Once() : floors[i]->Once();
          sums[i].cpu[side] += ThreadCpuNs() - start_cpu;
          sums[i].wall[side] +=
              std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now() - start).count();
          if (!st.ok()) {
            std::fprintf(stderr, "postgres_bench: %s\n", st.ToString().c_str());
            failed = true;
          }
        }
        ++sums[i].calls;
      }
    });
  }
  for (auto& t : threads) t.join();
  if (failed) Die("a paired call failed");
  PairedSums total;
  for (const auto& s : sums) {
    for (int side = 0; side < 2; ++side) total.wall[side] += s.wall[side], total.cpu[side] += s.cpu[side];
    total.calls += s.calls;
  }
  return total;
}

void AddPaired(Run& run, Comparison& cmp, std::vector<std::unique_ptr<Invoker>>& invokers,
               std::vector<std::unique_ptr<LibpqFloor>>& floors, int64_t per_round) {
  if (!cmp.skip) run.floor->Reset();
  run.base += 100'000'000;
  for (auto& f : floors) f->Start(run.floor->version(), run.base);
  const PairedSums p = RunPaired(invokers, floors, per_round);
  const double calls = static_cast<double>(p.calls);
  cmp.paired_jobgate_us.push_back(static_cast<double>(p.wall[0]) / 1e3 / calls);
  cmp.paired_floor_us.push_back(static_cast<double>(p.wall[1]) / 1e3 / calls);
  cmp.paired_ratio.push_back(static_cast<double>(p.wall[0]) / static_cast<double>(p.wall[1]));
  cmp.paired_cpu_ratio.push_back(static_cast<double>(p.cpu[0]) / static_cast<double>(p.cpu[1]));
}

void AddCounts(const std::vector<std::unique_ptr<Invoker>>& invokers, Comparison& cmp) {
  for (const auto& inv : invokers) cmp.runs += inv->runs, cmp.reads += inv->reads, cmp.writes += inv->writes;
}

// New invokers (connections), the old ones' counts kept.
void Reconnect(const Run& run, Comparison& cmp, std::vector<std::unique_ptr<Invoker>>* invokers) {
  AddCounts(*invokers, cmp);
  invokers->clear();
  for (int i = 0; i < cmp.invokers; ++i) invokers->push_back(std::make_unique<Invoker>(run.jobgate_url, i, cmp.skip));
}

// Both sides in every round, alternating which goes first: load from
// elsewhere on the machine then weighs on both alike.
void RunComparison(Run& run, Comparison& cmp) {
  std::vector<std::unique_ptr<Invoker>> invokers;
  Reconnect(run, cmp, &invokers);
  std::vector<std::unique_ptr<LibpqFloor>> floors;
  for (int i = 0; i < cmp.invokers; ++i) {
    floors.push_back(std::make_unique<LibpqFloor>(run.cfg.url, run.floor_sql, run.snap, i, cmp.skip));
  }
  // The server's caches and each connection's (a new backend's first
  // statements load its catalog caches), before timing: both sides alike.
  if (!cmp.skip) run.floor->Reset();
  run.base += 100'000'000;
  for (auto& f : floors) f->Start(run.floor->version(), run.base);
  for (int i = 0; i < cmp.invokers; ++i) {
    for (int n = 0; n < 20; ++n) {
      if (Status st = invokers[i]->Once(); !st.ok()) Die(st.ToString());
      if (Status st = floors[i]->Once(); !st.ok()) Die(st.ToString());
    }
  }
  // Calibration (and the server's warm-up): the work of one window.
  const Side probe = RunFloor(run, cmp, 0);
  const int64_t per_round = std::max<int64_t>(10, static_cast<int64_t>(run.cfg.window_s * 1e6 / probe.us_per_op));
  for (int round = 0; round < run.cfg.rounds; ++round) {
    Side jobgate, floor;
    // As pgbench's clients do: each round on new connections (new server backends).
    if (run.cfg.fresh_connections) Reconnect(run, cmp, &invokers);
    if (round % 2 == 0) {
      jobgate = RunJobgate(invokers, per_round);
      floor = RunFloor(run, cmp, per_round);
    } else {
      floor = RunFloor(run, cmp, per_round);
      jobgate = RunJobgate(invokers, per_round);
    }
    cmp.jobgate_us.push_back(jobgate.us_per_op);
    cmp.pgbench_us.push_back(floor.us_per_op);
    cmp.ratio.push_back(jobgate.us_per_op / floor.us_per_op);
    cmp.jobgate_cpu_us.push_back(jobgate.cpu_us_per_op);
    cmp.pgbench_cpu_us.push_back(floor.cpu_us_per_op);
    AddPaired(run, cmp, invokers, floors, per_round);
    std::printf(
        "%-10s round %2d: jobgate %8.1f us/run, pgbench %8.1f us/txn, %.2fx (%lld each); paired: "
        "%8.1f / %8.1f us, %.2fx\n",
        cmp.name.c_str(), round + 1, jobgate.us_per_op, floor.us_per_op, cmp.ratio.back(),
        static_cast<long long>(jobgate.ops), cmp.paired_jobgate_us.back(), cmp.paired_floor_us.back(),
        cmp.paired_ratio.back());
    std::fflush(stdout);
  }
  AddCounts(invokers, cmp);
  cmp.reads_per_run = static_cast<double>(cmp.reads) / static_cast<double>(cmp.runs);
  cmp.writes_per_run = static_cast<double>(cmp.writes) / static_cast<double>(cmp.runs);
}

// issue: a guarded run at most 1.3x the pgbench floor; the skip path 1
// round trip (1 read, 0 writes: checked on every call as well).
std::string Target(const Comparison& c) {
  if (c.skip) return c.reads_per_run == 1 && c.writes_per_run == 0 ? "1 round trip: met" : "1 round trip: MISSED";
  return Median(c.ratio) <= 1.3 ? "<= 1.3x: met" : "<= 1.3x: MISSED";
}

void PrintTable(const std::vector<Comparison>& comparisons, int rounds) {
  std::printf(
      "\nmedians over %d rounds, us per run (jobgate) or transaction (floor) and invoker (client), wall; "
      "CPU: pgbench's is its process's, jobgate's this process's, paired ones the thread's\n",
      rounds);
  std::printf("%-10s %8s %8s %6s | %7s %7s | %6s %6s | %8s %8s %6s %6s | %13s  %s\n", "comparison", "jobgate",
              "pgbench", "ratio", "runs/s", "txn/s", "j cpu", "p cpu", "paired j", "libpq", "ratio", "cpu",
              "trips r + w", "target (ratio to pgbench)");
  for (const Comparison& c : comparisons) {
    const double j = Median(c.jobgate_us), p = Median(c.pgbench_us);
    std::printf("%-10s %8.1f %8.1f %5.2fx | %7.0f %7.0f | %6.1f %6.1f | %8.1f %8.1f %5.2fx %5.2fx | %g + %-5.3f  %s\n",
                c.name.c_str(), j, p, Median(c.ratio), 1e6 * c.invokers / j, 1e6 * c.invokers / p,
                Median(c.jobgate_cpu_us), Median(c.pgbench_cpu_us), Median(c.paired_jobgate_us),
                Median(c.paired_floor_us), Median(c.paired_ratio), Median(c.paired_cpu_ratio), c.reads_per_run,
                c.writes_per_run, Target(c).c_str());
  }
  std::fflush(stdout);
}

// ---- set-up -------------------------------------------------------------------------

// The newest server installation's pgbench: Debian's /usr/bin/pgbench is a
// Perl wrapper, whose start-up would count in pgbench's CPU time.
std::string FindPgbench() {
  glob_t g;
  std::string found = "pgbench";
  if (glob("/usr/lib/postgresql/*/bin/pgbench", 0, nullptr, &g) == 0) {
    std::vector<std::string> paths(g.gl_pathv, g.gl_pathv + g.gl_pathc);
    std::sort(paths.begin(), paths.end(), [](const std::string& a, const std::string& b) {
      return std::atoi(a.c_str() + 20) < std::atoi(b.c_str() + 20);  // after "/usr/lib/postgresql/"
    });
    found = paths.back();
  }
  globfree(&g);
  return found;
}

Config ParseArgs(int argc, char** argv) {
  Config cfg;
  for (const char* env : {"JOBGATE_BENCH_POSTGRES_URL", "JOBGATE_TEST_POSTGRES_URL"}) {
    if (cfg.url.empty() && getenv(env) != nullptr) cfg.url = getenv(env);
  }
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](const char* flag) { return arg.substr(std::string(flag).size()); };
    if (arg.starts_with("--url=")) {
      cfg.url = value("--url=");
    } else if (arg.starts_with("--pgbench=")) {
      cfg.pgbench = value("--pgbench=");
    } else if (arg.starts_with("--window=")) {
      cfg.window_s = std::atof(value("--window=").c_str());
    } else if (arg.starts_with("--rounds=")) {
      cfg.rounds = std::atoi(value("--rounds=").c_str());
    } else if (arg.starts_with("--invokers=")) {
      cfg.invokers.clear();
      for (std::string list = value("--invokers="); !list.empty();) {
        cfg.invokers.push_back(std::atoi(list.c_str()));
        const size_t comma = list.find(',');
        list = comma == std::string::npos ? "" : list.substr(comma + 1);
      }
    } else if (arg == "--only=guarded" || arg == "--only=skip") {
      cfg.guarded = arg == "--only=guarded";
      cfg.skip = !cfg.guarded;
    } else if (arg == "--fresh-connections") {
      cfg.fresh_connections = true;
    } else if (arg == "--print-scripts") {
      cfg.print_scripts = true;
    } else {
      Die("unknown argument " + arg + " (see the comment at the top of bench/postgres_bench.cc)");
    }
  }
  if (cfg.url.empty()) Die("no server: set JOBGATE_BENCH_POSTGRES_URL or JOBGATE_TEST_POSTGRES_URL, or --url=");
  auto parsed = ParsePostgresUrl(cfg.url);
  if (!parsed.ok()) Die(parsed.status().ToString());
  cfg.url = parsed->conninfo;  // without jobgate's schema parameter: pgbench reads it too
  if (cfg.pgbench.empty()) cfg.pgbench = FindPgbench();
  const bool bad = cfg.window_s <= 0 || cfg.rounds < 1 || cfg.invokers.empty() ||
                   std::any_of(cfg.invokers.begin(), cfg.invokers.end(), [](int n) { return n < 1 || n > 64; });
  if (bad) Die("--window must be positive, --rounds at least 1, --invokers from 1 to 64");
  return cfg;
}

std::string WriteFile(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string path = dir + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// Both schemas made by the store's Init, the same jobs prepared in each;
// the floor's scripts from the floor schema's statements.
void SetUp(Run& run, const std::string& dir, const std::string& floor_schema) {
  const int jobs = *std::max_element(run.cfg.invokers.begin(), run.cfg.invokers.end());
  PrepareSchema(run.jobgate_url, jobs);
  const std::string floor_url = WithSchema(run.cfg.url, floor_schema);
  const Snapshot snap = PrepareSchema(floor_url, jobs);
  auto store = PostgresStore::Open(floor_url);
  if (!store.ok()) Die(store.status().ToString());
  const Scripts scripts = MakeScripts((*store)->SqlForBench(), snap);
  run.guarded_script = WriteFile(dir, "guarded.sql", scripts.guarded);
  run.skip_script = WriteFile(dir, "skip.sql", scripts.skip);
  run.defines = scripts.defines;
  run.floor = std::make_unique<Floor>(run.cfg.url, floor_schema, snap.idle.version, jobs);
  run.floor_sql = (*store)->SqlForBench();
  run.snap = snap;
  run.base = snap.run.start_ms;
  if (run.cfg.print_scripts) {
    std::printf("-- guarded.sql\n%s-- skip.sql\n%s-- variables:", scripts.guarded.c_str(), scripts.skip.c_str());
    for (const auto& d : scripts.defines) std::printf(" -D '%s'", d.c_str());
    std::printf("\n");
  }
}

int Main(int argc, char** argv) {
  Run run;
  run.cfg = ParseArgs(argc, argv);
  char tmpl[] = "/tmp/jobgate-postgres-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) Die("mkdtemp");
  const std::string dir = tmpl;
  const std::string jobgate_schema = fmt::format("jgbench_{}_jobgate", getpid());
  const std::string floor_schema = fmt::format("jgbench_{}_floor", getpid());
  const std::string drop = fmt::format("DROP SCHEMA IF EXISTS \"{}\" CASCADE; DROP SCHEMA IF EXISTS \"{}\" CASCADE",
                                       jobgate_schema, floor_schema);
  ExecOrDie(run.cfg.url, drop);
  cleanup = new Cleanup{run.cfg.url, drop, dir};
  std::atexit(&CleanUp);
  run.jobgate_url = WithSchema(run.cfg.url, jobgate_schema);
  SetUp(run, dir, floor_schema);
  int status = 0;
  std::string version = RunCapture({run.cfg.pgbench, "--version"}, &status);
  while (!version.empty() && version.back() == '\n') version.pop_back();
  std::printf("== %s (%s); %u CPUs, load average %s\n", version.c_str(), run.cfg.pgbench.c_str(),
              std::thread::hardware_concurrency(), LoadAverage().c_str());
  std::vector<Comparison> comparisons;
  for (bool skip : {false, true}) {
    if (skip ? !run.cfg.skip : !run.cfg.guarded) continue;
    for (int n : run.cfg.invokers) {
      Comparison c;
      c.name = fmt::format("{}/{}", skip ? "skip" : "guarded", n);
      c.invokers = n;
      c.skip = skip;
      RunComparison(run, c);
      comparisons.push_back(std::move(c));
    }
  }
  PrintTable(comparisons, run.cfg.rounds);
  std::printf("load average at the end %s\n", LoadAverage().c_str());
  return 0;  // CleanUp drops the schemas
}

}  // namespace
}  // namespace jobgate::bench

int main(int argc, char** argv) { return jobgate::bench::Main(argc, argv); }
