// The checkpoint policy of the SQLite store (docs/backends/sqlite.md): one
// CLI-like invocation (open, read, CAS, close) under jobgate's policy
// (checkpoint_frames=64) and under SQLite's default checkpoint-on-close,
// with synchronous NORMAL and FULL, in two rounds. Prints p50/p90/p99/mean.
//   build/bench/sqlite_checkpoint_bench [INVOCATIONS]   (default 1000)
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "store/sqlite_store.h"

namespace jobgate {
namespace {

// One invocation of a short-lived process: open, read, CAS, close.
bool Invocation(const std::string& path, const SqliteOptions& options) {
  auto store = SqliteStore::Open(path, options);
  if (!store.ok()) return false;
  auto state = (*store)->ReadState("j");
  if (!state.ok()) return false;
  JobState next = state->value_or(JobState{});
  next.job.assign(1, 'j');  // not = "j": g++ 12 warns a false -Wrestrict on it here
  ++next.version;
  ++next.run_count;
  ++next.success_count;
  auto outcome = *state ? (*store)->ReplaceState(next, (*state)->version) : (*store)->CreateState(next);
  return outcome.ok() && *outcome == WriteOutcome::kApplied;
}

struct Config {
  const char* name;
  bool full;
  int frames;
};

int Measure(const Config& c, int round, int n) {
  char tmpl[] = "/tmp/jobgate-checkpoint-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return 1;
  const std::string path = (std::filesystem::path(tmpl) / "bench.db").string();
  SqliteOptions options;
  options.synchronous_full = c.full;
  options.checkpoint_frames = c.frames;
  if (!Invocation(path, options)) return 1;
  std::vector<double> us;
  for (int i = 0; i < n; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    if (!Invocation(path, options)) return 1;
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  std::filesystem::remove_all(tmpl);
  std::sort(us.begin(), us.end());
  double sum = 0;
  for (double u : us) sum += u;
  std::printf("round %d  %-40s p50 %7.0f us  p90 %7.0f us  p99 %7.0f us  mean %7.0f us\n", round, c.name,
              us[us.size() / 2], us[us.size() * 9 / 10], us[us.size() * 99 / 100], sum / n);
  return 0;
}

}  // namespace
}  // namespace jobgate

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::max(10, atoi(argv[1])) : 1000;
  using jobgate::Config;
  for (int round = 1; round <= 2; ++round) {
    for (const Config& c : {Config{"NORMAL, checkpoint_frames=64 (default)", false, 64},
                            Config{"NORMAL, SQLite checkpoint-on-close", false, 0},
                            Config{"FULL, checkpoint_frames=64", true, 64},
                            Config{"FULL, SQLite checkpoint-on-close", true, 0}}) {
      if (jobgate::Measure(c, round, n) != 0) {
        std::fprintf(stderr, "sqlite_checkpoint_bench: an invocation failed (%s)\n", c.name);
        return 1;
      }
    }
  }
  return 0;
}
