// Real multi-process tests of the jobgate binary on SQLite: many processes,
// SIGKILL, signals, bad input. Each test gets its own temporary directory.
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

struct Proc {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Starts jobgate with args; stdout/stderr to files in dir (no pipe deadlocks).
pid_t Start(const std::vector<std::string>& args, const std::string& out_file, const std::string& err_file) {
  pid_t pid = fork();
  if (pid == 0) {
    int o = open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(o, 1);
    dup2(e, 2);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(JOBGATE_BINARY));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(JOBGATE_BINARY, argv.data());
    _exit(127);
  }
  return pid;
}

int Wait(pid_t pid) {
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool Alive(pid_t pid) { return kill(pid, 0) == 0; }

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/jobgate-cli-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    store_ = "sqlite:" + dir_ + "/state.db";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  Proc Run(std::vector<std::string> args) {
    args.insert(args.begin(), {"--store", store_});
    return RunRaw(args);
  }
  Proc RunRaw(const std::vector<std::string>& args) {
    static int n = 0;
    std::string o = Path("out." + std::to_string(++n)), e = Path("err." + std::to_string(n));
    Proc p;
    p.exit_code = Wait(Start(args, o, e));
    p.out = ReadFile(o);
    p.err = ReadFile(e);
    return p;
  }
  nlohmann::json Json(const Proc& p) {
    // The outcome is the last line; the workload's own output comes before it.
    std::string text = p.out;
    while (!text.empty() && text.back() == '\n') text.pop_back();
    auto j = nlohmann::json::parse(text.substr(text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1),
                                   nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << p.out << " / " << p.err;
    return j;
  }
  nlohmann::json StateOf(const std::string& job) {
    Proc p = Run({"status", job, "--json"});
    EXPECT_EQ(p.exit_code, 0) << p.err;
    return Json(p);
  }

  // Polls `status NAME --json` until the job has `status` (it may have no
  // state at all yet while the invocation starts).
  bool WaitForStatus(const std::string& job, const std::string& status) {
    for (int i = 0; i < 200; ++i) {
      Proc p = Run({"status", job, "--json"});
      auto j = nlohmann::json::parse(p.out, nullptr, false);
      if (p.exit_code == 0 && !j.is_discarded() && j.value("status", "") == status) return true;
      std::this_thread::sleep_for(25ms);
    }
    return false;
  }

  std::string dir_;
  std::string store_;
};

TEST_F(CliTest, ThirtyTwoConcurrentInvocationsRunTheCommandExactlyOnce) {
  ASSERT_EQ(Run({"init"}).exit_code, 0);
  const std::string marker = Path("ran");
  std::vector<pid_t> pids;
  for (int i = 0; i < 32; ++i) {
    pids.push_back(Start({"--store", store_, "run", "race", "--cooldown", "1h", "--json", "--", "sh", "-c",
                          "echo x >> " + marker + "; sleep 0.3"},
                         Path("race.out." + std::to_string(i)), Path("race.err." + std::to_string(i))));
  }
  int succeeded = 0, skipped = 0;
  for (int i = 0; i < 32; ++i) {
    EXPECT_EQ(Wait(pids[i]), 0) << ReadFile(Path("race.err." + std::to_string(i)));
    std::string out = ReadFile(Path("race.out." + std::to_string(i)));
    auto j = nlohmann::json::parse(out, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << out;
    if (j["outcome"] == "succeeded") ++succeeded;
    if (j["outcome"] == "skipped") ++skipped;
  }
  EXPECT_EQ(succeeded, 1);
  EXPECT_EQ(skipped, 31);
  EXPECT_EQ(ReadFile(marker), "x\n");
  auto s = StateOf("race");
  EXPECT_EQ(s["run_count"], 1);
  EXPECT_EQ(s["success_count"], 1);
  EXPECT_EQ(s["status"], "IDLE");
}

TEST_F(CliTest, KillNineOfHolderKillsWorkloadAndJobIsTakenOverAfterLease) {
  const std::string pidfile = Path("workload.pid");
  pid_t holder = Start({"--store", store_, "run", "k", "--lease", "2s", "--", "sh", "-c",
                        "echo $$ > " + pidfile + "; exec sleep 60"},
                       Path("k.out"), Path("k.err"));
  pid_t workload = 0;
  for (int i = 0; i < 100 && workload == 0; ++i) {
    std::this_thread::sleep_for(50ms);
    std::string text = ReadFile(pidfile);
    if (!text.empty() && text.back() == '\n') workload = std::stoi(text);
  }
  ASSERT_GT(workload, 0);
  ASSERT_TRUE(Alive(workload));
  auto killed_at = std::chrono::steady_clock::now();
  kill(holder, SIGKILL);
  Wait(holder);
  bool gone = false;
  for (int i = 0; i < 40 && !gone; ++i) {
    gone = !Alive(workload);
    if (!gone) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(gone) << "the workload outlived jobgate";

  // Skips with reason running until lease (2s) + the default skew allowance.
  Proc early = Run({"run", "k", "--lease", "2s", "--json", "--", "true"});
  EXPECT_EQ(early.exit_code, 0);
  EXPECT_EQ(Json(early)["outcome"], "skipped");
  EXPECT_EQ(Json(early)["reason"], "running");

  nlohmann::json last;
  for (int i = 0; i < 100; ++i) {
    Proc p = Run({"run", "k", "--lease", "2s", "--json", "--", "true"});
    last = Json(p);
    if (last["outcome"] != "skipped") break;
    EXPECT_EQ(last["reason"], "running");
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_GE(std::chrono::steady_clock::now() - killed_at, 2s);
  EXPECT_EQ(last["outcome"], "succeeded");
  EXPECT_EQ(last["fence"], 2);
  auto s = StateOf("k");
  EXPECT_EQ(s["abandoned_count"], 1);
  EXPECT_EQ(s["run_count"], 2);
  EXPECT_EQ(s["success_count"], 1);
}

TEST_F(CliTest, FailingWorkloadPassesExitCodeAndRecordsStderrTailWithBackoff) {
  Proc p = Run({"run", "f", "--json", "--", "sh", "-c", "echo starting; echo 'disk full on /data' >&2; exit 3"});
  EXPECT_EQ(p.exit_code, 3);
  auto o = Json(p);
  EXPECT_EQ(o["outcome"], "failed");
  EXPECT_EQ(o["exit_code"], 3);
  EXPECT_NE(p.err.find("disk full on /data"), std::string::npos) << "stderr passes through";
  auto s = StateOf("f");
  EXPECT_EQ(s["last_error"], "disk full on /data");
  EXPECT_EQ(s["failure_count"], 1);
  EXPECT_EQ(s["consecutive_failures"], 1);
  EXPECT_TRUE(s["next_allowed_run"].is_string());
  EXPECT_GT(s["next_allowed_run"].get<std::string>(), s["last_failure_ts"].get<std::string>());
  Proc again = Run({"run", "f", "--json", "--", "true"});
  EXPECT_EQ(Json(again)["reason"], "cooldown");
}

TEST_F(CliTest, SameRequestIdRunsOnce) {
  const std::string marker = Path("ran");
  for (int i = 0; i < 4; ++i) {
    Proc p = Run({"run", "r", "--request-id", "exec-42", "--json", "--", "sh", "-c", "echo x >> " + marker});
    EXPECT_EQ(p.exit_code, 0) << p.err;
    auto o = Json(p);
    if (i == 0) {
      EXPECT_EQ(o["outcome"], "succeeded");
    } else {
      EXPECT_EQ(o["outcome"], "skipped");
      EXPECT_EQ(o["reason"], "duplicate");
      EXPECT_EQ(o["previous"]["outcome"], "succeeded");
    }
  }
  EXPECT_EQ(ReadFile(marker), "x\n");
}

TEST_F(CliTest, SlotRunsOncePerSlot) {
  for (int i = 0; i < 3; ++i) {
    Proc p = Run({"run", "s", "--slot", "2026-01-01T00:00:00Z", "--json", "--", "true"});
    EXPECT_EQ(Json(p)["outcome"], i == 0 ? "succeeded" : "skipped");
  }
  EXPECT_EQ(StateOf("s")["last_slot"], "2026-01-01T00:00:00.000Z");
}

TEST_F(CliTest, BadDurationExitsTwoAndNamesTheValue) {
  Proc p = Run({"run", "x", "--cooldown", "banana", "--", "true"});
  EXPECT_EQ(p.exit_code, 2);
  EXPECT_NE(p.err.find("banana"), std::string::npos) << p.err;
  EXPECT_NE(p.err.find("--cooldown"), std::string::npos) << p.err;
}

TEST_F(CliTest, UnknownStoreSchemeExitsTwo) {
  Proc p = RunRaw({"--store", "redis://localhost", "run", "x", "--", "true"});
  EXPECT_EQ(p.exit_code, 2);
  EXPECT_NE(p.err.find("redis://localhost"), std::string::npos) << p.err;
}

TEST_F(CliTest, UnopenableStoreExits69AndRunsNothing) {
  const std::string marker = Path("ran");
  Proc p = RunRaw({"--store", "sqlite:" + dir_ + "/no/such/dir/x.db", "run", "x", "--", "sh", "-c",
                   "touch " + marker});
  EXPECT_EQ(p.exit_code, 69) << p.err;
  EXPECT_FALSE(fs::exists(marker));
}

TEST_F(CliTest, StoreFromEnvironment) {
  setenv("JOBGATE_STORE", store_.c_str(), 1);
  Proc p = RunRaw({"run", "envjob", "--", "true"});
  unsetenv("JOBGATE_STORE");
  EXPECT_EQ(p.exit_code, 0) << p.err;
  EXPECT_EQ(StateOf("envjob")["success_count"], 1);
}

TEST_F(CliTest, TimeoutExits124AndCountsAFailure) {
  Proc p = Run({"run", "t", "--timeout", "300ms", "--json", "--", "sleep", "10"});
  EXPECT_EQ(p.exit_code, 124);
  EXPECT_EQ(Json(p)["outcome"], "timed_out");
  auto s = StateOf("t");
  EXPECT_EQ(s["failure_count"], 1);
  EXPECT_NE(s["last_error"].get<std::string>().find("timed out"), std::string::npos);
}

TEST_F(CliTest, SkipExitCodeIsUsedWhenGated) {
  ASSERT_EQ(Run({"run", "g", "--cooldown", "1h", "--", "true"}).exit_code, 0);
  EXPECT_EQ(Run({"run", "g", "--skip-exit-code", "3", "--", "true"}).exit_code, 3);
}

TEST_F(CliTest, SigtermIsForwardedAndTheFailureCommitted) {
  pid_t holder = Start({"--store", store_, "run", "term", "--", "sleep", "30"}, Path("t.out"), Path("t.err"));
  ASSERT_TRUE(WaitForStatus("term", "RUNNING"));
  kill(holder, SIGTERM);
  EXPECT_EQ(Wait(holder), 128 + SIGTERM);
  auto s = StateOf("term");
  EXPECT_EQ(s["status"], "IDLE");
  EXPECT_EQ(s["failure_count"], 1);
  EXPECT_NE(s["last_error"].get<std::string>().find("signal"), std::string::npos);
}

TEST_F(CliTest, UnlockWhileRunningMakesTheHolderLoseItsLease) {
  pid_t holder = Start({"--store", store_, "run", "u", "--lease", "1500ms", "--json", "--", "sleep", "30"},
                       Path("u.out"), Path("u.err"));
  ASSERT_TRUE(WaitForStatus("u", "RUNNING"));
  ASSERT_EQ(Run({"unlock", "u"}).exit_code, 0);
  EXPECT_EQ(Wait(holder), 75);
  auto o = nlohmann::json::parse(ReadFile(Path("u.out")), nullptr, false);
  EXPECT_EQ(o["outcome"], "lease_lost");
  auto s = StateOf("u");
  EXPECT_EQ(s["abandoned_count"], 1);
  EXPECT_EQ(s["success_count"], 0);
  EXPECT_EQ(s["failure_count"], 0);
}

TEST_F(CliTest, NonUtf8StderrIsCleanedInLastError) {
  Proc p = Run({"run", "u8", "--", "sh", "-c", "printf 'bad \\377\\376 bytes' >&2; exit 1"});
  EXPECT_EQ(p.exit_code, 1);
  auto s = StateOf("u8");
  EXPECT_EQ(s["last_error"], "bad \xEF\xBF\xBD\xEF\xBF\xBD bytes");
}

TEST_F(CliTest, CorruptedRowIsAClearErrorAndIsLeftAlone) {
  ASSERT_EQ(Run({"run", "c", "--", "true"}).exit_code, 0);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ + "/state.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE job_state SET run_count='abc' WHERE job='c'", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  const std::string marker = Path("ran");
  Proc p = Run({"run", "c", "--", "sh", "-c", "touch " + marker});
  EXPECT_EQ(p.exit_code, 2);
  EXPECT_NE(p.err.find("run_count"), std::string::npos) << p.err;
  EXPECT_NE(p.err.find("abc"), std::string::npos) << p.err;
  EXPECT_FALSE(fs::exists(marker));
  Proc st = Run({"status", "c", "--json"});
  EXPECT_EQ(st.exit_code, 2);
}

TEST_F(CliTest, PauseResumeTriggerFromTheCommandLine) {
  ASSERT_EQ(Run({"run", "p", "--cooldown", "1h", "--", "true"}).exit_code, 0);
  ASSERT_EQ(Run({"pause", "p", "--reason", "deploy"}).exit_code, 0);
  EXPECT_EQ(Json(Run({"run", "p", "--json", "--", "true"}))["reason"], "paused");
  ASSERT_EQ(Run({"resume", "p"}).exit_code, 0);
  EXPECT_EQ(Json(Run({"run", "p", "--json", "--", "true"}))["reason"], "cooldown");
  ASSERT_EQ(Run({"trigger", "p"}).exit_code, 0);
  EXPECT_EQ(Json(Run({"run", "p", "--json", "--", "true"}))["outcome"], "succeeded");
  EXPECT_EQ(Run({"resume", "nope"}).exit_code, 2);
}

TEST_F(CliTest, StatusAndHistoryRender) {
  ASSERT_EQ(Run({"run", "h", "--", "true"}).exit_code, 0);
  Proc table = Run({"status"});
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_NE(table.out.find("JOB"), std::string::npos);
  EXPECT_NE(table.out.find("h "), std::string::npos);
  Proc hist = Run({"history", "h", "--json"});
  EXPECT_EQ(hist.exit_code, 0);
  auto runs = nlohmann::json::parse(hist.out);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0]["outcome"], "succeeded");
}

TEST_F(CliTest, DemoRunsAndExitsZero) {
  Proc p = RunRaw({"demo"});
  EXPECT_EQ(p.exit_code, 0) << p.err;
  EXPECT_NE(p.out.find("taken over"), std::string::npos);
  EXPECT_NE(p.out.find("fence 2"), std::string::npos) << p.out;
}

}  // namespace
