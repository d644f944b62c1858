// The real jobgate binary against dynalite: many processes racing for one
// job, and a table made by hand the classic way, read back with the
// official AWS SDK for JavaScript (an independent implementation of the
// wire format).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "dynamo/dynamo_harness.h"

namespace jobgate::dynamo_test {
namespace {

using DynamoCli = DynamoTest;

TEST_F(DynamoCli, SixteenConcurrentInvocationsRunTheCommandExactlyOnce) {
  Proc init = Jobgate({"init"});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  const std::string marker = Path("marker");
  constexpr int kProcs = 16;
  std::vector<pid_t> pids;
  for (int i = 0; i < kProcs; ++i) {
    pids.push_back(StartJobgate({"run", "race", "--cooldown", "1h", "--json", "--", "sh", "-c", "echo x >> " + marker},
                                Path("race.out." + std::to_string(i)), Path("race.err." + std::to_string(i))));
  }
  int succeeded = 0, skipped = 0;
  for (int i = 0; i < kProcs; ++i) {
    EXPECT_EQ(Wait(pids[i]), 0) << ReadFile(Path("race.err." + std::to_string(i)));
    const std::string out = ReadFile(Path("race.out." + std::to_string(i)));
    auto j = LastJsonLine(out);
    ASSERT_FALSE(j.is_discarded()) << out;
    succeeded += j["outcome"] == "succeeded";
    skipped += j["outcome"] == "skipped";
  }
  EXPECT_EQ(succeeded, 1);
  EXPECT_EQ(skipped, kProcs - 1);
  EXPECT_EQ(ReadFile(marker), "x\n");
  auto s = StateOf("race");
  EXPECT_EQ(s["run_count"], 1);
  EXPECT_EQ(s["success_count"], 1);
  EXPECT_EQ(s["status"], "IDLE");
  EXPECT_TRUE(CountersIntact(s));
}

// Eight invocations of one job at once against a DynamoDB that answers a
// lost condition with the item it lost to (ALL_OLD; the proxy adds it for
// dynalite, which ignores the parameter): a loser costs its read, plus the
// failed write if it read the job idle, never a re-read. The proxy's log
// shows every store call the invocations report, and an item on every
// write they lost.
TEST_F(DynamoCli, RaceLosersCostAtMostAReadAndTheLostWrite) {
  Proc init = Jobgate({"init"});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  FaultProxy::Options all_old;
  all_old.all_old = true;
  FaultProxy proxy(endpoint_, dir_, all_old);
  ASSERT_FALSE(proxy.endpoint().empty()) << proxy.startup_error();
  constexpr int kProcs = 8;
  std::vector<pid_t> pids;
  for (int i = 0; i < kProcs; ++i) {
    // The winner holds the job for 2 s: every loser meets it running.
    pids.push_back(StartJobgate({"run", "race", "--json", "--", "sleep", "2"}, Path("race.out." + std::to_string(i)),
                                Path("race.err." + std::to_string(i)), proxy.endpoint()));
  }
  int winners = 0, losers = 0, loser_calls = 0, lost_writes = 0, calls = 0;
  for (int i = 0; i < kProcs; ++i) {
    EXPECT_EQ(Wait(pids[i]), 0) << ReadFile(Path("race.err." + std::to_string(i)));
    auto j = LastJsonLine(ReadFile(Path("race.out." + std::to_string(i))));
    ASSERT_FALSE(j.is_discarded()) << ReadFile(Path("race.out." + std::to_string(i)));
    const int n = j["store_reads"].get<int>() + j["store_writes"].get<int>();
    calls += n;
    if (j["outcome"] == "succeeded") {
      ++winners;
      continue;
    }
    EXPECT_EQ(j["reason"], "running") << j.dump();
    EXPECT_LE(n, 2) << "a loser re-read: " << j.dump();
    EXPECT_EQ(j["store_reads"], 1) << j.dump();
    ++losers;
    loser_calls += n;
    lost_writes += j["store_writes"].get<int>();
  }
  EXPECT_EQ(winners, 1);
  EXPECT_EQ(losers, kProcs - 1);
  int answered_with_item = 0;
  for (const auto& entry : proxy.Log()) answered_with_item += entry.value("all_old", false);
  EXPECT_EQ(answered_with_item, lost_writes);
  // The run record and the commit: the winner's --json counts them as one write.
  EXPECT_EQ(proxy.Requests(), calls + 1);
  std::printf("race of %d: %d losers, %.2f calls per loser (%d lost a write)\n", kProcs, losers,
              static_cast<double>(loser_calls) / std::max(losers, 1), lost_writes);
}

TEST_F(DynamoCli, HandMadeTableWithOnlyKeysAndABareItemRunsAsIs) {
  // Made by the AWS SDK, not by jobgate: keys PK/SK only, no index, and the
  // item {PK: JOB#hourly_processor, SK: STATE, status: IDLE}: no version,
  // no counters. No `init`.
  Proc seed = Node("seed-table.mjs", {"--table", table_});
  ASSERT_EQ(seed.exit_code, 0) << seed.err;

  Proc run = Jobgate({"run", "hourly_processor", "--json", "--", "true"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_EQ(LastJsonLine(run.out)["outcome"], "succeeded") << run.out;

  Proc check = Node("check-item.mjs", {"--table", table_, "--pk", "JOB#hourly_processor", "--sk", "STATE"});
  ASSERT_EQ(check.exit_code, 0) << check.err;
  auto got = LastJsonLine(check.out);
  ASSERT_FALSE(got.is_discarded()) << check.out;
  const auto& item = got["item"];
  ASSERT_TRUE(item.is_object()) << check.out;
  EXPECT_EQ(item["status"], "IDLE");
  EXPECT_EQ(item["run_count"], 1);
  EXPECT_EQ(item["success_count"], 1);
  EXPECT_TRUE(item["version"].is_number_integer()) << check.out;
  EXPECT_GE(item.value("version", 0), 1);
  EXPECT_TRUE(item["last_success_ts"].is_number_integer()) << check.out;
  EXPECT_GT(item.value("last_success_ts", int64_t{0}), int64_t{1'600'000'000'000}) << "epoch milliseconds";
  // DynamoDB types, as the classic readers of the table expect them.
  const auto& types = got["types"];
  EXPECT_EQ(types["status"], "S");
  EXPECT_EQ(types["version"], "N");
  EXPECT_EQ(types["run_count"], "N");
  EXPECT_EQ(types["last_success_ts"], "N");

  // jobgate reads back what it wrote, on the table without an index.
  auto s = StateOf("hourly_processor");
  EXPECT_EQ(s["run_count"], 1);
  EXPECT_TRUE(CountersIntact(s));
}

// Items written by other tools (docs/design.md): a `version` of type NULL
// reads as a missing version, so the lock's CAS must match it too. It did
// not: eight lost CAS rounds, `skipped` / `lost_race`, exit 0, and a job
// that never ran, on every invocation.
TEST_F(DynamoCli, ForeignItemWithANullVersionRunsOnceAndBecomesAProperItem) {
  Proc seed = Node("seed-table.mjs", {"--table", table_, "--item",
                                      R"({"PK": {"S": "JOB#legacy"}, "SK": {"S": "STATE"}, "status": {"S": "IDLE"},)"
                                      R"( "version": {"NULL": true}, "run_count": {"NULL": true}})"});
  ASSERT_EQ(seed.exit_code, 0) << seed.err;
  const std::string marker = Path("marker");
  Proc run = Jobgate({"run", "legacy", "--json", "--", "sh", "-c", "echo x >> " + marker});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_EQ(LastJsonLine(run.out)["outcome"], "succeeded") << run.out;
  EXPECT_EQ(ReadFile(marker), "x\n");

  Proc check = Node("check-item.mjs", {"--table", table_, "--pk", "JOB#legacy", "--sk", "STATE"});
  ASSERT_EQ(check.exit_code, 0) << check.err;
  auto got = LastJsonLine(check.out);
  ASSERT_TRUE(got["item"].is_object()) << check.out;
  EXPECT_EQ(got["types"]["version"], "N") << check.out;
  EXPECT_EQ(got["types"]["run_count"], "N") << check.out;
  EXPECT_EQ(got["item"]["run_count"], 1);
  EXPECT_EQ(got["item"]["status"], "IDLE");
  EXPECT_TRUE(CountersIntact(StateOf("legacy")));
}

// A number stored as a string can never match the CAS's number: refused,
// exit 2, naming the job, the field and the value; nothing runs.
TEST_F(DynamoCli, ForeignItemWithAVersionStoredAsAStringIsRefusedWithExit2) {
  Proc seed = Node("seed-table.mjs", {"--table", table_, "--item",
                                      R"({"PK": {"S": "JOB#legacy"}, "SK": {"S": "STATE"}, "status": {"S": "IDLE"},)"
                                      R"( "version": {"S": "3"}})"});
  ASSERT_EQ(seed.exit_code, 0) << seed.err;
  const std::string marker = Path("marker");
  Proc run = Jobgate({"run", "legacy", "--", "sh", "-c", "echo x >> " + marker});
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_NE(run.err.find("'legacy'"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("'version'"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("S \"3\""), std::string::npos) << run.err;
  EXPECT_EQ(ReadFile(marker), "");
}

TEST_F(DynamoCli, InitIsIdempotentAndKeepsTheData) {
  ASSERT_EQ(Jobgate({"init"}).exit_code, 0);
  ASSERT_EQ(Jobgate({"run", "keep", "--", "true"}).exit_code, 0);
  Proc again = Jobgate({"init"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(StateOf("keep")["success_count"], 1);
}

// The binary takes its credentials from the chain, not only from the
// environment: here a profile's credential_process (dynalite accepts any
// key), and a failing one fails closed, naming the profile, quoting nothing.
TEST_F(DynamoCli, CredentialsFromAProfilesCredentialProcess) {
  const std::string helper = Path("creds.sh");
  const std::string config = Path("aws-config");
  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SECRET_ACCESS_KEY");
  setenv("AWS_CONFIG_FILE", config.c_str(), 1);
  auto write = [](const std::string& path, const std::string& text) { std::ofstream(path) << text; };
  write(helper, "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"procid\", \"SecretAccessKey\": "
                "\"procSECRETprocSECRET\", \"SessionToken\": \"procTOKENprocTOKEN\", \"Expiration\": "
                "\"2999-01-01T00:00:00Z\"}'\n");
  chmod(helper.c_str(), 0700);
  write(config, "[default]\ncredential_process = " + helper + "\n");
  Proc init = Jobgate({"init"});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  Proc run = Jobgate({"run", "proc", "--json", "--", "true"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_EQ(LastJsonLine(run.out)["outcome"], "succeeded") << run.out;

  write(helper, "#!/bin/sh\necho procSECRETprocSECRET\nexit 1\n");
  const std::string marker = Path("ran");
  Proc refused = Jobgate({"run", "proc2", "--", "touch", marker});
  EXPECT_EQ(refused.exit_code, 69) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("credential_process of profile default: the command exited with status 1"),
            std::string::npos)
      << refused.err;
  EXPECT_EQ(refused.err.find("procSECRET"), std::string::npos) << refused.err;
  EXPECT_EQ(access(marker.c_str(), F_OK), -1);  // nothing ran
}

}  // namespace
}  // namespace jobgate::dynamo_test
