// What the DynamoDB end-to-end tests share: running the real jobgate binary
// and the node tools (tools/dynamo) as child processes, a fault-injecting
// proxy in front of dynalite, and a fixture that gives each test its own
// table. They run when JOBGATE_TEST_DYNAMODB_ENDPOINT names a dynalite
// (scripts/test.sh starts one) and skip otherwise.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/outcome_checks.h"
#include "support/subprocess.h"

namespace jobgate::dynamo_test {

// Child processes: tests/support/subprocess.h.
using jobgate::test::Proc;
using jobgate::test::ReadFile;
using jobgate::test::Spawn;
using jobgate::test::Wait;

// Output and state checks: tests/support/outcome_checks.h.
using jobgate::test::CountersIntact;
using jobgate::test::CountLines;
using jobgate::test::LastJsonLine;

// tools/dynamo/fault-proxy.mjs as a child process between jobgate and
// dynalite. The destructor stops it, whatever the test did.
class FaultProxy {
 public:
  struct Options {
    std::string fault = "none";  // see fault-proxy.mjs
    std::string ops;             // comma-separated operations it applies to; empty: all
    int skip = 0;                // matching requests let through first
    int count = 1;               // matching requests that get the fault; -1: all
    bool close_each = false;     // "Connection: close" on every answer: no reused connections
    bool all_old = false;        // a lost condition answers with the item (ALL_OLD), as DynamoDB does
  };
  FaultProxy(const std::string& upstream, const std::string& dir, const Options& options);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  // Empty when the proxy did not come up (the error is in `startup_error`).
  const std::string& endpoint() const { return endpoint_; }
  const std::string& startup_error() const { return startup_error_; }
  // One entry per request seen so far: {seq, op, fault, status}.
  std::vector<nlohmann::json> Log() const;
  // API requests seen (not the `GET /` that opens a second connection);
  // with `op`, only those of that operation ("GET" for those).
  int Requests(const std::string& op = "") const;
  // Requests that got the fault.
  int Faulted() const;

 private:
  pid_t pid_ = -1;
  std::string log_file_;
  std::string endpoint_;
  std::string startup_error_;
};

// The DynamoDB write operations (what "the acquire write" can be).
inline constexpr const char* kWriteOps = "PutItem,UpdateItem,DeleteItem,TransactWriteItems,BatchWriteItem";

// One temporary directory and one fresh table name per test; the AWS
// environment of every child is the test one (dummy keys, no profile, no
// config files), whoever started the test binary.
class DynamoTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  // dynamodb://TABLE?region=us-east-1&endpoint=ENDPOINT (default: dynalite).
  std::string StoreUrl(const std::string& endpoint = "") const;

  // `jobgate --store URL args...` against dynalite, or against `endpoint`.
  Proc Jobgate(const std::vector<std::string>& args, const std::string& endpoint = "");
  // Starts the same without waiting; output in out_file / err_file.
  pid_t StartJobgate(const std::vector<std::string>& args, const std::string& out_file, const std::string& err_file,
                     const std::string& endpoint = "");
  // `node tools/dynamo/SCRIPT args...` with the endpoint of dynalite.
  Proc Node(const std::string& script, const std::vector<std::string>& args);
  // `status JOB --json` straight from dynalite (never through a proxy).
  nlohmann::json StateOf(const std::string& job);

  std::string endpoint_;  // dynalite
  std::string table_;
  std::string dir_;

 private:
  Proc RunToFiles(const std::vector<std::string>& argv);
  int files_ = 0;
};

}  // namespace jobgate::dynamo_test
