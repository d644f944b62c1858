// Schedule::NextAfter throughput: fire times per second, each computed from
// the previous one (as a scheduler walks a schedule), for a few
// representative expressions; then croner (npm, tools/cron/next.mjs
// --bench) doing the same in the same run, and the ratio
// (docs/benchmarks.md, "Schedules"). Without node or tools/cron's packages
// only jobgate's rates are printed (scripts/bench.sh schedule installs them).
#include <stdio.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "schedule/schedule.h"

namespace jobgate::bench {
namespace {

constexpr EpochMs kStart = 1'767'225'600'000;  // 2026-01-01T00:00:00Z

struct Expr {
  const char* expression;
  const char* zone;
};
constexpr Expr kExprs[] = {
    {"*/5 * * * *", "UTC"},
    {"0 9 * * MON-FRI", "America/New_York"},
    {"30 2 * * *", "America/New_York"},  // a fixed time in the spring-forward gap once a year
    {"cron(0 12 ? * 2#1 *)", "Europe/Berlin"},
};

std::string Key(const Expr& e) { return fmt::format("{} ({})", e.expression, e.zone); }

void NextAfter(benchmark::State& state, Expr e) {
  auto schedule = Schedule::Parse(e.expression, e.zone);
  if (!schedule.ok()) return state.SkipWithError(schedule.status().ToString().c_str());
  EpochMs t = kStart;
  for (auto _ : state) {
    const auto next = schedule->NextAfter(t);
    t = next ? *next : kStart;
    benchmark::DoNotOptimize(t);
  }
  state.counters["fires_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

// Keeps the median fires/s of each expression over the repetitions.
class RateReporter final : public benchmark::ConsoleReporter {
 public:
  RateReporter() : ConsoleReporter(OO_Tabular) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred) failed_ = true;
      if (run.run_type != Run::RT_Iteration || run.error_occurred) continue;
      auto it = run.counters.find("fires_per_s");
      if (it != run.counters.end()) rates_[run.run_name.function_name].push_back(it->second.value);
    }
  }
  double Median(const std::string& name) const {
    auto it = rates_.find(name);
    if (it == rates_.end() || it->second.empty()) return 0;
    std::vector<double> v = it->second;
    std::sort(v.begin(), v.end());
    return v.size() % 2 == 1 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  }
  bool failed() const { return failed_; }

 private:
  std::map<std::string, std::vector<double>> rates_;
  bool failed_ = false;
};

// croner's fires/s per expression, from next.mjs --bench; empty when node or
// the package is missing.
std::map<std::string, double> CronerRates(double seconds) {
  const std::filesystem::path tools = JOBGATE_CRON_TOOLS_DIR;
  std::map<std::string, double> rates;
  if (!std::filesystem::exists(tools / "node_modules" / "croner")) return rates;
  const std::string in = (std::filesystem::temp_directory_path() / "jobgate-next-bench.tsv").string();
  {
    std::ofstream f(in);
    for (const Expr& e : kExprs) f << e.expression << '\t' << e.zone << '\t' << kStart << "\t1\n";
  }
  const std::string cmd = fmt::format("node '{}' --bench {} < '{}'", (tools / "next.mjs").string(), seconds, in);
  FILE* out = popen(cmd.c_str(), "r");
  if (out == nullptr) return rates;
  char line[512];
  while (fgets(line, sizeof(line), out) != nullptr) {
    std::istringstream fields(line);
    std::string expression, zone, rate;
    if (std::getline(fields, expression, '\t') && std::getline(fields, zone, '\t') && std::getline(fields, rate, '\t')) {
      rates[fmt::format("{} ({})", expression, zone)] = std::stod(rate);
    }
  }
  pclose(out);
  std::filesystem::remove(in);
  return rates;
}

void PrintRatios(const RateReporter& reporter, const std::map<std::string, double>& croner) {
  std::printf("\nfire times per second, each from the previous one (jobgate: median over repetitions)\n");
  std::printf("%-45s %14s %14s %8s\n", "expression (zone)", "jobgate", "croner", "ratio");
  for (const Expr& e : kExprs) {
    const double ours = reporter.Median("next/" + Key(e));
    auto it = croner.find(Key(e));
    if (it == croner.end()) {
      std::printf("%-45s %14.0f %14s %8s\n", Key(e).c_str(), ours, "-", "-");
      continue;
    }
    std::printf("%-45s %14.0f %14.0f %7.1fx\n", Key(e).c_str(), ours, it->second, ours / it->second);
  }
  if (croner.empty()) std::printf("(croner not run: node or tools/cron/node_modules missing)\n");
  std::fflush(stdout);
}

}  // namespace
}  // namespace jobgate::bench

int main(int argc, char** argv) {
  using namespace jobgate::bench;
  std::vector<char*> args(argv, argv + argc);
  std::string reps = "--benchmark_repetitions=5", min_time = "--benchmark_min_time=0.3";
  args.insert(args.begin() + 1, {reps.data(), min_time.data()});
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 2;
  // Wall time, as croner is measured (process.hrtime).
  for (const Expr& e : kExprs) benchmark::RegisterBenchmark(("next/" + Key(e)).c_str(), &NextAfter, e)->UseRealTime();
  RateReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  PrintRatios(reporter, CronerRates(1.5));
  return reporter.failed() ? 1 : 0;
}
