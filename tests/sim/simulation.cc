#include "sim/simulation.h"
#include "core/random.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "core/lease_keeper.h"
#include "jobgate/controller.h"
#include "store/memory_store.h"
#include "store/postgres_conn.h"
#include "store/postgres_store.h"

namespace jobgate::sim {

namespace {

// The wake time of a host with nothing to do until somebody starts it.
constexpr EpochMs kNever = std::numeric_limits<EpochMs>::max();

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0); }

// The controller's randomness (run ids, backoff jitter), drawn from the
// seed. SplitMix64 rather than SeededRandom: an mt19937_64 per invocation
// costs more to seed than the rest of the invocation.
class SimRandom final : public Random {
 public:
  explicit SimRandom(uint64_t seed) : rng_(seed) {}
  uint64_t Next() override { return rng_.Next(); }

 private:
  Rng rng_;
};

// A host: an invoker of one job (one invocation at a time, each with a
// fresh Controller like a Lambda), or the operator.
struct Host {
  Host(int actor_id, ActorKind k, int job_index, const SimTime& time, int64_t skew_ms, RecordingStore& recorder,
       FaultInjector& faults)
      : actor(actor_id), kind(k), job(job_index), clock(time, skew_ms), store(recorder, faults, actor_id) {}

  const int actor;
  const ActorKind kind;
  const int job;  // -1 for the operator
  SkewedClock clock;
  FaultyStore store;
  EpochMs wake_at = 0;   // true time of its next step
  bool busy = false;     // inside a controller call (others may act meanwhile)
  bool stalled = false;  // a long pause: it does nothing until wake_at
  // The current invocation.
  std::unique_ptr<SimRandom> random;
  std::unique_ptr<Controller> controller;
  RunRequest request;
  std::optional<Lease> lease;
  // The holder's lease keeping: the real policy of `jobgate run` and
  // Controller::Run, on this host's clock.
  std::optional<LeaseKeeper> keeper;
  EpochMs finish_local = 0;     // when the work is done, by its clock
  EpochMs beat_not_before = 0;  // a late beat: not handed to the store before this
  bool terminated = false;      // the keeper asked the work to stop; it ends by the kill
  bool stopping = false;        // stopped working; commits next
  // kSchedules. A ticker (a `jobgate serve`) lists the due index and
  // launches runners: invokers on its host that run one scheduled
  // invocation each time they are launched, and sleep otherwise.
  bool ticker = false;
  bool runner = false;
  bool applier = false;           // writes the definitions' schedules (Controller::Apply), once
  bool launched = false;          // a runner with an invocation to run (or running)
  RunRequest launch;              // ... this one
  std::vector<Host*> runners;     // a ticker's runners (each for one job)
  std::map<int, EpochMs> started; // a ticker's latest due time started, by job
  // Not to be stepped: an idle runner, the applier.
  bool Dormant() const { return applier || (runner && !launched); }
};

class Simulation {
 public:
  Simulation(ScenarioClass c, uint64_t seed, const SimOptions& options);
  SimResult Run();

 private:
  std::vector<JobDefinition> Definitions() const;
  void AddHosts();
  Host& NextHost();
  void Step(Host& h);
  void Interleave(int outer_actor);
  void Freeze(int outer_actor, int64_t pause_ms);

  void StartInvocation(Host& h);
  RunRequest NextRequest(Host& h);
  void HolderStep(Host& h);
  void Stall(Host& h);
  void Heartbeat(Host& h);
  bool Obey(Host& h, const KeeperOrders& orders);
  void CommitRun(Host& h, const WorkResult& work);
  void EndInvocation(Host& h);
  void ScheduleHolder(Host& h);
  WorkResult DrawWork();
  void OperatorStep(Host& h);

  // kSchedules.
  void AddTickers();
  void ApplyDefinitions();
  void TickerStep(Host& h);
  // Starts what is due of `due` (listed at the ticker's `now`); returns the
  // soonest later due time seen.
  EpochMs StartDue(Host& h, const std::vector<DueJob>& due, EpochMs now);
  Host* FreeRunner(Host& ticker, int job);
  void Launch(Host& runner, const DueJob& d);
  int JobOf(const std::string& name) const;

  // `snapshot`: keep the stored state (and request record) from before the
  // call, which the checker needs to judge a skip.
  CallContext BeginCall(Host& h, int job, const std::string& request_id, bool snapshot = false);
  void EndCall(Host& h, CallContext& c);
  // `describe` is only called when the trace is on.
  template <typename F>
  void Log(const Host& h, F&& describe) {
    trace_.Add(time_.now(), [&] { return fmt::format("a{} (clock {:+}) {}", h.actor, h.clock.skew_ms(), describe()); });
  }
  void WakeAtLocal(Host& h, EpochMs local_ms) { h.wake_at = std::max(time_.now(), local_ms - h.clock.skew_ms()); }
  const JobPlan& Plan(const Host& h) const { return sc_.jobs[static_cast<size_t>(h.job)]; }

  uint64_t seed_;
  ScenarioClass class_;
  Rng rng_;
  Rng extra_rng_;  // for the faults added later (MakeScenario, FaultInjector)
  Scenario sc_;
  SimTime time_;
  Trace trace_;
  SimBackend backend_;
  EpochMs end_ms_ = 0;  // kSchedules: the run ends here (true time)
  SkewedClock store_clock_;  // the store's: true time
  std::unique_ptr<Store> bottom_;
  std::unique_ptr<Store> broken_;
  Checker checker_;
  RecordingStore recorder_;
  FaultInjector faults_;
  std::vector<std::unique_ptr<Host>> hosts_;
  std::vector<std::vector<RunRequest>> delivered_;  // per job, for duplicate deliveries
  int depth_ = 0;
  int64_t interleavings_ = 0;
  int64_t all_steps_ = 0;
  int64_t manual_ids_ = 0;
};

Scenario DrawScenario(ScenarioClass c, Rng& rng, Rng& extra, bool later_faults) {
  Scenario s = MakeScenario(c, rng, extra);
  if (!later_faults) {
    s.faults.write_applied_then_conflict = 0;
    s.faults.write_late = 0;
  }
  return s;
}

SimBackend BackendFor(uint64_t seed, SimBackend wanted) {
  if (wanted != SimBackend::kBySeed) return wanted;
  return seed % 2 == 0 ? SimBackend::kSqlite : SimBackend::kMemory;
}

// A fresh schema on the test server, named after the class and the seed
// (replaced if a run before left it), with the server's clock off: the
// hosts live in virtual time.
Result<std::unique_ptr<Store>> OpenSimPostgres(const StoreOptions& options, ScenarioClass c, uint64_t seed) {
  const char* server = std::getenv("JOBGATE_TEST_POSTGRES_URL");
  if (server == nullptr || *server == '\0') return Status::InvalidArgument("JOBGATE_TEST_POSTGRES_URL is not set");
  const std::string schema = fmt::format("sim_{}_{}", static_cast<int>(c), seed);
  const std::string url = fmt::format("{}{}schema={}", server,
                                      std::string_view(server).find('?') == std::string_view::npos ? '?' : '&', schema);
  auto parsed = ParsePostgresUrl(url);
  if (!parsed.ok()) return parsed.status();
  SystemClock real;
  auto admin = PgConnection::Connect(*parsed, real);
  if (!admin.ok()) return admin.status();
  JOBGATE_RETURN_IF_ERROR((*admin)->ExecScript("drop", fmt::format("DROP SCHEMA IF EXISTS \"{}\" CASCADE", schema)));
  auto store = PostgresStore::Open(url, options, PostgresOptions{/*server_clock=*/false});
  if (!store.ok()) return store.status();
  JOBGATE_RETURN_IF_ERROR((*store)->Init());
  return std::unique_ptr<Store>(std::move(store.value()));
}

// One private database per seed; SQLite's ":memory:" keeps it off the disk
// (journal_mode "memory" instead of WAL, the same SQL otherwise). SqliteStore
// reads no clock: every time it compares or stores comes in the calls (the
// `now` of ReadRequest, CreateRequest, ListDue, ExpireRequests), and its
// opener ignores StoreOptions::clock. The store's virtual clock is passed
// all the same, so that a backend which starts stamping stamps sim time.
std::unique_ptr<Store> OpenBottom(SimBackend backend, Clock& clock, ScenarioClass c, uint64_t seed) {
  if (backend == SimBackend::kMemory) return std::make_unique<MemoryStore>();
  StoreOptions options;
  options.clock = &clock;
  auto store =
      backend == SimBackend::kPostgres ? OpenSimPostgres(options, c, seed) : OpenStore("sqlite::memory:", options);
  if (!store.ok()) {
    // The harness cannot run this seed at all: stop loudly rather than
    // quietly run it on another backend.
    fmt::print(stderr, "sim: cannot open the {} store: {}\n", SimBackendName(backend), store.status().ToString());
    std::abort();
  }
  return std::move(*store);
}

Simulation::Simulation(ScenarioClass c, uint64_t seed, const SimOptions& options)
    : seed_(seed),
      class_(c),
      rng_(Rng::Mix(seed) ^ (static_cast<uint64_t>(c) + 1) * 0x9e3779b97f4a7c15ULL),
      extra_rng_(Rng::Mix(seed ^ 0x6c8e9cf570932bd5ULL) ^ (static_cast<uint64_t>(c) + 1)),
      sc_(DrawScenario(c, rng_, extra_rng_, options.later_faults)),
      time_(sc_.start_ms),
      trace_(options.trace, options.echo_trace),
      backend_(BackendFor(seed, options.backend)),
      end_ms_(sc_.span_ms > 0 ? sc_.start_ms + sc_.span_ms : kNever),
      store_clock_(time_, 0),
      bottom_(OpenBottom(backend_, store_clock_, c, seed)),
      broken_(sc_.broken_cas ? std::make_unique<BrokenCasStore>(*bottom_) : nullptr),
      checker_(time_, *bottom_, trace_, Definitions(),
               CheckerOptions{sc_.tolerate_exclusion, /*tolerate_known_bugs=*/!options.strict}),
      recorder_(broken_ ? *broken_ : *bottom_, checker_),
      faults_(time_, rng_, extra_rng_, trace_, sc_.faults) {
  (void)bottom_->Init();
  for (const auto& def : Definitions()) (void)bottom_->PutDefinition(def);
  faults_.on_boundary = [this](int actor) { Interleave(actor); };
  faults_.on_freeze = [this](int actor, int64_t pause_ms) { Freeze(actor, pause_ms); };
  faults_.on_land = [this] { ++interleavings_; };
  delivered_.resize(sc_.jobs.size());
  AddHosts();
  AddTickers();
}

std::vector<JobDefinition> Simulation::Definitions() const {
  std::vector<JobDefinition> defs;
  for (const auto& j : sc_.jobs) defs.push_back(j.def);
  return defs;
}

void Simulation::AddHosts() {
  for (size_t j = 0; j < sc_.jobs.size(); ++j) {
    for (int64_t skew : sc_.jobs[j].skews_ms) {
      int id = static_cast<int>(hosts_.size());
      hosts_.push_back(
          std::make_unique<Host>(id, ActorKind::kInvoker, static_cast<int>(j), time_, skew, recorder_, faults_));
      hosts_.back()->wake_at = sc_.start_ms + rng_.Uniform(0, sc_.jobs[j].period_ms);
      std::optional<Checker::ClockSource> source;
      if (sc_.report_clock_offset) {
        Host& h = *hosts_.back();
        h.store.ReportTime(&h.clock, sc_.understate_clock);
        source = Checker::ClockSource{[&h] { return h.store.last_view(); }, [&h] { return h.store.honest_estimate(); }};
      }
      checker_.AddActor(id, ActorKind::kInvoker, skew, std::move(source));
    }
  }
  if (sc_.operator_gap_ms > 0) {
    int id = static_cast<int>(hosts_.size());
    hosts_.push_back(std::make_unique<Host>(id, ActorKind::kOperator, -1, time_, 0, recorder_, faults_));
    hosts_.back()->wake_at = sc_.start_ms + rng_.Uniform(0, sc_.operator_gap_ms);
    checker_.AddActor(id, ActorKind::kOperator, 0);
  }
}

SimResult Simulation::Run() {
  SimResult r;
  r.seed = seed_;
  r.scenario_class = class_;
  r.backend = backend_;
  r.scenario = fmt::format("store {}; {}", SimBackendName(backend_), Describe(sc_));
  ApplyDefinitions();
  for (; r.steps < sc_.steps && !checker_.stopped(); ++r.steps) {
    Host& h = NextHost();
    if (h.wake_at >= end_ms_) break;
    time_.AdvanceTo(h.wake_at);
    faults_.LandDue(/*boundary=*/false);  // late writes whose delay has passed, between steps
    Step(h);
    checker_.AfterStep();
  }
  checker_.AtEnd();
  r.violation = checker_.first();
  r.trace = checker_.trace_at_violation();
  r.exclusion_violations = checker_.exclusion_violations();
  r.first_exclusion = checker_.first_exclusion();
  r.exclusion_trace = checker_.trace_at_exclusion();
  r.counters = checker_.counters();
  r.known_bugs = checker_.known_bugs();
  r.counters["store_faults"] = faults_.total_faults();
  r.counters["interleavings"] = interleavings_;
  for (const auto& [k, v] : faults_.counters()) r.counters[k] += v;
  ++r.counters[std::string("seeds_on_") + SimBackendName(backend_)];
  return r;
}

Host& Simulation::NextHost() {
  Host* next = hosts_.front().get();
  for (auto& h : hosts_) {
    if (h->wake_at < next->wake_at) next = h.get();
  }
  return *next;
}

void Simulation::Step(Host& h) {
  checker_.set_step(++all_steps_);  // nested ones too: how long a reproduction's trace is
  if (h.Dormant()) return;
  if (h.ticker) return TickerStep(h);
  if (h.kind == ActorKind::kOperator) return OperatorStep(h);
  if (h.stalled) {
    h.stalled = false;
    Log(h, [] { return "wakes from its stall"; });
  }
  if (h.lease) return HolderStep(h);
  StartInvocation(h);
}

// Runs another actor's step inside `outer_actor`'s store call: a concurrent
// invocation that reads, writes or commits between our read and our CAS,
// or between our write landing and its response.
void Simulation::Interleave(int outer_actor) {
  if (depth_ >= sc_.interleave_depth) return;
  std::vector<Host*> candidates;
  for (auto& h : hosts_) {
    if (!h->busy && !h->stalled && !h->Dormant() && h->actor != outer_actor) candidates.push_back(h.get());
  }
  if (candidates.empty()) return;
  Host& h = *candidates[static_cast<size_t>(rng_.Uniform(0, static_cast<int64_t>(candidates.size()) - 1))];
  ++depth_;
  ++interleavings_;
  Log(h, [&] { return fmt::format("acts inside a{}'s store call", outer_actor); });
  Step(h);
  checker_.AfterStep();
  --depth_;
}

// The caller freezes inside its store call (a GC pause, a VM migration, a
// request stuck in a retry loop) while every other host goes on as
// scheduled: the stale-holder case in the middle of Acquire or Commit.
void Simulation::Freeze(int outer_actor, int64_t pause_ms) {
  constexpr int kMaxFrozenSteps = 60;  // what the others do meanwhile; bounded, so a seed stays cheap
  if (depth_ > 0) return;  // one frozen host at a time keeps the world simple
  const EpochMs end = time_.now() + pause_ms;
  ++depth_;
  ++interleavings_;
  for (int n = 0; n < kMaxFrozenSteps && !checker_.stopped(); ++n) {
    Host* next = nullptr;
    for (auto& h : hosts_) {
      if (h->busy || h->actor == outer_actor || h->wake_at > end) continue;
      if (next == nullptr || h->wake_at < next->wake_at) next = h.get();
    }
    if (next == nullptr) break;
    time_.AdvanceTo(next->wake_at);
    Step(*next);
    checker_.AfterStep();
  }
  time_.AdvanceTo(end);
  --depth_;
}

// ------------------------------------------------------------ invokers

void Simulation::StartInvocation(Host& h) {
  h.request = h.runner ? h.launch : NextRequest(h);
  h.random = std::make_unique<SimRandom>(rng_.Next());
  ControllerOptions options;
  options.cas_attempts = sc_.cas_attempts;
  h.controller = std::make_unique<Controller>(h.store, h.clock, *h.random, options);
  checker_.BeginInvocation(h.actor, h.job, h.request.scheduled);
  CallContext c = BeginCall(h, h.job, h.request.request_id, /*snapshot=*/true);
  auto r = h.controller->Acquire(h.request);
  EndCall(h, c);
  auto what = [&] {
    return fmt::format("acquire {} slot={} req={}", Plan(h).def.job,
                       h.request.scheduled ? "scheduled"
                       : h.request.slot    ? std::to_string(*h.request.slot - kSimEpochMs)
                                           : "-",
                       h.request.request_id.empty() ? "-" : h.request.request_id);
  };
  if (!r.ok()) {
    Log(h, [&] { return what() + " -> error: " + r.status().message(); });
  } else if (r->lease) {
    Log(h, [&] {
      return fmt::format("{} -> LEASE fence {} slot {} until {}", what(), r->lease->fence(),
                         r->lease->slot() != 0 ? FormatRfc3339(r->lease->slot()) : "-",
                         r->lease->lease_until() - kSimEpochMs);
    });
  } else {
    Log(h, [&] { return fmt::format("{} -> skipped {}", what(), SkipReasonName(r->outcome.reason)); });
  }
  checker_.OnAcquire(c, h.request, r);
  if (!r.ok() || !r->lease) return EndInvocation(h);
  h.lease = *r->lease;
  const int64_t lease_ms = h.lease->lease_ms();
  const EpochMs now = h.clock.NowMs();
  h.keeper.emplace(LeaseTerms{lease_ms, h.lease->lease_until() - now, 0, h.lease->kill_grace_ms()}, now);
  h.finish_local = now + (rng_.Chance(sc_.instant_run) ? 0 : rng_.Uniform(0, 3 * lease_ms));
  h.beat_not_before = 0;
  h.terminated = false;
  h.stopping = false;
  ScheduleHolder(h);
}

// A scheduler's firing of the current slot (by this host's clock), a late
// firing of an older one, a manual run, or a re-delivery of an earlier
// request with the same slot and id (Lambda async retries, EventBridge
// at-least-once delivery).
RunRequest Simulation::NextRequest(Host& h) {
  const JobPlan& plan = Plan(h);
  auto& seen = delivered_[static_cast<size_t>(h.job)];
  if (!seen.empty() && rng_.Chance(sc_.duplicate)) {
    int64_t lo = std::max<int64_t>(0, static_cast<int64_t>(seen.size()) - 8);
    RunRequest again = seen[static_cast<size_t>(rng_.Uniform(lo, static_cast<int64_t>(seen.size()) - 1))];
    again.holder = fmt::format("a{}", h.actor);
    return again;
  }
  RunRequest req;
  req.job = plan.def.job;
  req.holder = fmt::format("a{}", h.actor);
  if (rng_.Chance(sc_.manual)) {
    if (rng_.Chance(0.3)) req.request_id = fmt::format("manual-{}", ++manual_ids_);
  } else {
    int64_t k = FloorDiv(h.clock.NowMs() - kSimEpochMs, plan.period_ms);
    if (rng_.Chance(sc_.stale_slot)) k -= rng_.Uniform(1, 2);
    req.slot = kSimEpochMs + k * plan.period_ms;
    if (rng_.Chance(0.7)) req.request_id = fmt::format("exec-{}-{}", k, rng_.Uniform(0, 1));
  }
  seen.push_back(req);
  return req;
}

void Simulation::HolderStep(Host& h) {
  if (h.stopping) return CommitRun(h, {WorkResult::Kind::kFailed, 75, "stopped: the lease could not be renewed"});
  if (rng_.Chance(sc_.crash)) {
    Log(h, [&] { return fmt::format("CRASHES holding fence {}", h.lease->fence()); });
    checker_.OnCrash(h.actor);
    return EndInvocation(h);
  }
  if (rng_.Chance(sc_.stall)) return Stall(h);
  const EpochMs now = h.clock.NowMs();
  if (Obey(h, h.keeper->Tick(now))) return ScheduleHolder(h);
  if (now >= h.finish_local) {
    return CommitRun(h, h.terminated ? WorkResult{WorkResult::Kind::kFailed, 75, "stopped: the lease could not be renewed"}
                                     : DrawWork());
  }
  if (auto due = h.keeper->NextBeatAt(); due && now >= std::max(*due, h.beat_not_before)) {
    if (!rng_.Chance(sc_.late_heartbeat)) return Heartbeat(h);
    const int64_t lease_ms = h.lease->lease_ms();
    h.beat_not_before = now + rng_.Uniform(lease_ms / 3, lease_ms);
    Log(h, [] { return "its heartbeat is late"; });
    return ScheduleHolder(h);
  }
  checker_.OnResourceWrite(h.actor);
  ScheduleHolder(h);
}

// Carries out the keeper's orders. A kill ends the work at once; a request
// to stop lets it run on until a point before the kill (a workload that
// takes its time over SIGTERM). True when the work is over.
bool Simulation::Obey(Host& h, const KeeperOrders& orders) {
  if (orders.kill || h.keeper->killed()) {
    if (!h.stopping) {
      h.stopping = true;
      checker_.OnStopped(h.actor);
      Log(h, [&] { return fmt::format("killed by its keeper holding fence {}", h.lease->fence()); });
    }
    return true;
  }
  if (orders.terminate && !h.terminated) {
    h.terminated = true;
    const EpochMs now = h.clock.NowMs();
    const EpochMs kill_at = h.keeper->NextDeadline().value_or(now);
    h.finish_local = std::min(h.finish_local, now + rng_.Uniform(0, std::max<int64_t>(0, kill_at - now - 1)));
    Log(h, [&] { return fmt::format("told to stop by its keeper holding fence {}", h.lease->fence()); });
  }
  return false;
}

// A pause longer than the lease (GC, VM freeze, SIGSTOP): the holder wakes
// up believing it holds the job, and must find out that it does not.
void Simulation::Stall(Host& h) {
  const JobDefinition& def = Plan(h).def;
  int64_t pause = rng_.Uniform(def.lease_ms + def.lease_ms / 10, 3 * def.lease_ms) + def.max_clock_skew_ms;
  h.stalled = true;
  h.wake_at = time_.now() + pause;
  Log(h, [&] { return fmt::format("STALLS for {} ms holding fence {}", pause, h.lease->fence()); });
}

void Simulation::Heartbeat(Host& h) {
  h.keeper->BeatStarted(h.clock.NowMs());
  CallContext c = BeginCall(h, h.job, "");
  auto r = h.controller->Heartbeat(*h.lease);
  EndCall(h, c);
  checker_.OnHeartbeat(c, *h.lease, r);
  const EpochMs now = h.clock.NowMs();
  // As guarded_run's heartbeat callback answers the runner's keeper.
  const HeartbeatReply reply{!r.ok() || *r == HeartbeatResult::kExtended, h.lease->lease_until() - now};
  const KeeperOrders orders = h.keeper->BeatAnswered(now, reply);
  if (!reply.held) {
    // Another owner holds the job: the workload is stopped now.
    h.stopping = true;
    checker_.OnStopped(h.actor);
    Log(h, [&] { return fmt::format("heartbeat fence {} -> LOST: stops working", h.lease->fence()); });
  } else if (r.ok()) {
    Log(h, [&] { return fmt::format("heartbeat fence {} -> until {}", h.lease->fence(), h.lease->lease_until() - kSimEpochMs); });
  } else {
    Log(h, [&] { return "heartbeat error, retries next beat: " + r.status().message(); });
  }
  if (!h.stopping) (void)Obey(h, orders);
  ScheduleHolder(h);
}

void Simulation::CommitRun(Host& h, const WorkResult& work) {
  checker_.OnStopped(h.actor);
  CallContext c = BeginCall(h, h.job, h.lease->request_id());
  auto r = h.controller->Commit(*h.lease, work);
  EndCall(h, c);
  Log(h, [&] { return fmt::format("commit fence {} work={} -> {}", h.lease->fence(),
                     work.kind == WorkResult::Kind::kSucceeded ? "ok" : "fail",
                     r.ok() ? RunOutcomeName(r->kind) : "error: " + r.status().message()); });
  checker_.OnCommit(c, *h.lease, work, r);
  EndInvocation(h);
}

WorkResult Simulation::DrawWork() {
  double r = rng_.Real();
  if (r < sc_.success) return {WorkResult::Kind::kSucceeded, 0, ""};
  if (r < sc_.success + (1 - sc_.success) * 0.75) return {WorkResult::Kind::kFailed, rng_.Uniform(1, 3), "boom"};
  return {WorkResult::Kind::kTimedOut, 124, ""};
}

void Simulation::EndInvocation(Host& h) {
  checker_.EndInvocation(h.actor);
  h.lease.reset();
  h.keeper.reset();
  h.controller.reset();
  h.random.reset();
  h.terminated = false;
  h.stopping = false;
  if (h.runner) {
    // Delivered again now and then (the same request, at least once);
    // otherwise it sleeps until its ticker launches it.
    if (rng_.Chance(sc_.tickers.redeliver)) {
      h.wake_at = time_.now() + rng_.Uniform(1'000, 120'000);
      Log(h, [] { return "its invocation will be delivered again"; });
    } else {
      h.launched = false;
      h.wake_at = kNever;
    }
    return;
  }
  // Next: soon (a retry, a second scheduler) or at the next slot by our clock.
  const int64_t period = Plan(h).period_ms;
  if (rng_.Chance(0.25)) {
    h.wake_at = time_.now() + rng_.Uniform(period / 4, period);
  } else {
    EpochMs next_slot = kSimEpochMs + (FloorDiv(h.clock.NowMs() - kSimEpochMs, period) + 1) * period;
    WakeAtLocal(h, next_slot + rng_.Uniform(0, 50));
  }
}

void Simulation::ScheduleHolder(Host& h) {
  const int64_t lease_ms = h.lease->lease_ms();
  const EpochMs now = h.clock.NowMs();
  EpochMs next = std::min(h.finish_local, now + rng_.Uniform(lease_ms / 10, lease_ms / 3));
  if (auto deadline = h.keeper->NextDeadline()) next = std::min(next, *deadline);
  if (auto due = h.keeper->NextBeatAt()) next = std::min(next, std::max(*due, h.beat_not_before));
  WakeAtLocal(h, h.stopping ? now : next);
}

// ------------------------------------------------------------ operator

void Simulation::OperatorStep(Host& h) {
  const int job = static_cast<int>(rng_.Uniform(0, static_cast<int64_t>(sc_.jobs.size()) - 1));
  const std::string& name = sc_.jobs[static_cast<size_t>(job)].def.job;
  double pick = rng_.Real();
  OperatorOp op = pick < 0.25   ? OperatorOp::kPause
                  : pick < 0.65 ? OperatorOp::kResume
                  : pick < 0.9  ? OperatorOp::kTrigger
                                : OperatorOp::kUnlock;
  SimRandom random(rng_.Next());
  Controller controller(h.store, h.clock, random);
  checker_.BeginOperatorOp(h.actor, op, job);
  CallContext c = BeginCall(h, job, "");
  Status s;
  switch (op) {
    case OperatorOp::kPause: s = controller.Pause(name, "sim pause"); break;
    case OperatorOp::kResume: s = controller.Resume(name); break;
    case OperatorOp::kTrigger: s = controller.Trigger(name); break;
    default: s = controller.Unlock(name).status(); break;
  }
  EndCall(h, c);
  Log(h, [&] { return fmt::format("operator {} {} -> {}", OperatorOpName(op), name, s.ok() ? "ok" : s.ToString()); });
  checker_.OnOperator(c, op, s);
  h.wake_at = time_.now() + rng_.Uniform(sc_.operator_gap_ms / 2, sc_.operator_gap_ms * 3 / 2);
}

// ------------------------------------------------------------ schedulers

// Each ticker gets `runners` runner processes per job, on its host (its
// clock), started by it as a `jobgate serve` starts `jobgate run
// --scheduled`; and the applier, which places the schedules.
void Simulation::AddTickers() {
  const TickerPlan& tp = sc_.tickers;
  auto add = [&](ActorKind kind, int job, int64_t skew) -> Host& {
    const int id = static_cast<int>(hosts_.size());
    hosts_.push_back(std::make_unique<Host>(id, kind, job, time_, skew, recorder_, faults_));
    Host& h = *hosts_.back();
    std::optional<Checker::ClockSource> source;
    if (sc_.report_clock_offset && kind == ActorKind::kInvoker) {
      h.store.ReportTime(&h.clock, sc_.understate_clock);
      source = Checker::ClockSource{[&h] { return h.store.last_view(); }, [&h] { return h.store.honest_estimate(); }};
    }
    if (job >= 0 || kind == ActorKind::kOperator) checker_.AddActor(id, kind, skew, std::move(source));
    return h;
  };
  if (tp.skews_ms.empty()) return;
  Host& applier = add(ActorKind::kOperator, -1, 0);
  applier.applier = true;
  applier.wake_at = kNever;
  for (int64_t skew : tp.skews_ms) {
    Host& ticker = add(ActorKind::kInvoker, -1, skew);
    ticker.ticker = true;
    ticker.wake_at = sc_.start_ms + rng_.Uniform(0, tp.poll_ms);
    for (size_t j = 0; j < sc_.jobs.size(); ++j) {
      for (int k = 0; k < tp.runners; ++k) {
        Host& runner = add(ActorKind::kInvoker, static_cast<int>(j), skew);
        runner.runner = true;
        runner.wake_at = kNever;
        ticker.runners.push_back(&runner);
      }
    }
  }
}

// `jobgate apply` of every scheduled job, before any ticker runs: the
// schedule's first fire time after now becomes next_fire_ts. Retried
// through store faults, as a deploy script would.
void Simulation::ApplyDefinitions() {
  Host* applier = nullptr;
  for (auto& h : hosts_) applier = h->applier ? h.get() : applier;
  if (applier == nullptr) return;
  for (size_t j = 0; j < sc_.jobs.size() && !checker_.stopped(); ++j) {
    const JobDefinition& def = sc_.jobs[j].def;
    for (int attempt = 0; attempt < 20; ++attempt) {
      SimRandom random(rng_.Next());
      Controller controller(applier->store, applier->clock, random);
      checker_.BeginOperatorOp(applier->actor, OperatorOp::kApply, static_cast<int>(j));
      CallContext c = BeginCall(*applier, static_cast<int>(j), "");
      auto r = controller.Apply(def);
      EndCall(*applier, c);
      Log(*applier, [&] {
        return fmt::format("apply {} \"{}\" ({}) -> {}", def.job, def.schedule, def.time_zone,
                           r.ok() ? "next fire " + FormatRfc3339(*r) : r.status().ToString());
      });
      checker_.OnOperator(c, OperatorOp::kApply, r.status());
      if (r.ok()) break;
      if (r.status().code() == StatusCode::kInvalidArgument) {
        fmt::print(stderr, "sim: the scenario drew a bad definition: {}\n", r.status().ToString());
        std::abort();
      }
    }
  }
}

int Simulation::JobOf(const std::string& name) const {
  for (size_t j = 0; j < sc_.jobs.size(); ++j) {
    if (sc_.jobs[j].def.job == name) return static_cast<int>(j);
  }
  return -1;
}

// One pass of `jobgate serve`'s loop: read the due index ahead by one poll
// interval, start what is due, sleep until the next due time or the poll.
// It may die (its runners go on, as processes of their own) and come back
// after a while; during the scenario's outage every ticker is down.
void Simulation::TickerStep(Host& h) {
  const TickerPlan& tp = sc_.tickers;
  const EpochMs t = time_.now();
  if (tp.outage_ms > 0 && t >= tp.outage_at && t < tp.outage_at + tp.outage_ms) {
    h.wake_at = tp.outage_at + tp.outage_ms + rng_.Uniform(0, tp.poll_ms);
    h.started.clear();
    Log(h, [&] { return fmt::format("ticker down (outage) until {}", FormatRfc3339(h.wake_at)); });
    return;
  }
  if (rng_.Chance(tp.crash)) {
    h.wake_at = t + rng_.Uniform(tp.down_ms / 10, tp.down_ms);
    h.started.clear();
    Log(h, [&] { return fmt::format("ticker CRASHES, back at {}", FormatRfc3339(h.wake_at)); });
    return;
  }
  const EpochMs now = h.clock.NowMs();
  h.busy = true;
  auto due = h.store.ListDue(now + tp.poll_ms, tp.due_limit);
  h.busy = false;
  EpochMs wake = now + tp.poll_ms;
  if (!due.ok()) {
    Log(h, [&] { return "ticker: ListDue error: " + due.status().message(); });
  } else {
    checker_.OnListDue(now + tp.poll_ms, tp.due_limit, *due);
    wake = std::min(wake, StartDue(h, *due, now));
  }
  WakeAtLocal(h, std::max(wake, now + 1));
}

EpochMs Simulation::StartDue(Host& h, const std::vector<DueJob>& due, EpochMs now) {
  EpochMs later = kNever;
  for (const DueJob& d : due) {
    if (d.due_at > now) {
      later = std::min(later, d.due_at);
      continue;
    }
    const int job = JobOf(d.job);
    if (job < 0) continue;
    // As Scheduler::StartDue: not again for a due time it has started
    // while that invocation still runs.
    auto started = h.started.find(job);
    bool going = false;
    for (const Host* r : h.runners) going = going || (r->job == job && r->launched);
    if (started != h.started.end() && started->second >= d.due_at && going) continue;
    Host* runner = FreeRunner(h, job);
    if (runner == nullptr) continue;
    Launch(*runner, d);
    h.started[job] = std::max(started != h.started.end() ? started->second : EpochMs{0}, d.due_at);
    // A duplicate start (a retried launch, a second process for one due time).
    if (rng_.Chance(sc_.tickers.twice)) {
      if (Host* again = FreeRunner(h, job)) Launch(*again, d);
    }
  }
  return later;
}

Host* Simulation::FreeRunner(Host& ticker, int job) {
  for (Host* r : ticker.runners) {
    if (r->job == job && !r->launched) return r;
  }
  return nullptr;
}

void Simulation::Launch(Host& runner, const DueJob& d) {
  RunRequest req;
  req.job = d.job;
  req.scheduled = true;
  req.holder = fmt::format("a{}", runner.actor);
  // A scheduler that names its deliveries by due time: two tickers firing
  // the same due time carry the same request id.
  if (rng_.Chance(sc_.tickers.request_ids)) req.request_id = fmt::format("due-{}", d.due_at - sc_.start_ms);
  runner.launch = req;
  runner.launched = true;
  runner.wake_at = time_.now() + rng_.Uniform(0, sc_.tickers.launch_ms);
  Log(runner, [&] { return fmt::format("launched for {} due {}", d.job, FormatRfc3339(d.due_at)); });
}

// ------------------------------------------------------------ calls

CallContext Simulation::BeginCall(Host& h, int job, const std::string& request_id, bool snapshot) {
  const std::string& name = sc_.jobs[static_cast<size_t>(job)].def.job;
  CallContext c;
  c.actor = h.actor;
  c.job = job;
  c.clock_start = h.clock.NowMs();
  auto st = snapshot ? bottom_->ReadState(name) : Result<std::optional<JobState>>(std::nullopt);
  if (st.ok()) c.state_before = *st;
  if (snapshot && !request_id.empty()) {
    auto rec = bottom_->ReadRequest(name, request_id, kReadExpiredToo);
    if (rec.ok()) c.request_before = *rec;
  }
  c.interleave_mark = interleavings_;
  c.fault_mark = faults_.faults_for(h.actor);
  c.resent_mark = faults_.resent_for(h.actor);
  h.busy = true;
  return c;
}

void Simulation::EndCall(Host& h, CallContext& c) {
  h.busy = false;
  c.clock_end = h.clock.NowMs();
  c.interleaved = interleavings_ != c.interleave_mark;
  c.faulted = faults_.faults_for(h.actor) != c.fault_mark;
  c.resent_conflict = faults_.resent_for(h.actor) != c.resent_mark;
}


}  // namespace

const char* SimBackendName(SimBackend b) {
  switch (b) {
    case SimBackend::kBySeed: return "by_seed";
    case SimBackend::kMemory: return "memory";
    case SimBackend::kSqlite: return "sqlite";
    case SimBackend::kPostgres: return "postgres";
  }
  return "?";
}

SimResult RunSimulation(ScenarioClass c, uint64_t seed, const SimOptions& options) {
  Simulation sim(c, seed, options);
  SimResult r = sim.Run();
  r.later_faults = options.later_faults;
  return r;
}

}  // namespace jobgate::sim
