#include "dynamo/dynamo_harness.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace jobgate::dynamo_test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// ---- FaultProxy ----------------------------------------------------------------

FaultProxy::FaultProxy(const std::string& upstream, const std::string& dir, const Options& options) {
  static int n = 0;
  const std::string base = dir + "/proxy." + std::to_string(++n);
  const std::string port_file = base + ".port";
  log_file_ = base + ".log";
  std::vector<std::string> argv = {"node", std::string(JOBGATE_DYNAMO_TOOLS_DIR) + "/fault-proxy.mjs",
                                   "--upstream", upstream, "--port-file", port_file, "--log", log_file_,
                                   "--fault", options.fault, "--ops=" + options.ops,
                                   "--skip=" + std::to_string(options.skip),
                                   "--count=" + std::to_string(options.count)};
  if (options.close_each) argv.push_back("--close-each");
  if (options.all_old) argv.push_back("--all-old");
  pid_ = Spawn(argv, base + ".out", base + ".err");
  for (int i = 0; i < 200; ++i) {  // node starts in ~50 ms; 10 s on a loaded machine
    std::string port = ReadFile(port_file);
    if (!port.empty() && port.back() == '\n') {
      port.pop_back();
      endpoint_ = "http://127.0.0.1:" + port;
      return;
    }
    int st = 0;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      startup_error_ = "fault-proxy exited: " + ReadFile(base + ".err");
      return;
    }
    std::this_thread::sleep_for(50ms);
  }
  startup_error_ = "fault-proxy did not start within 10 s: " + ReadFile(base + ".err");
}

FaultProxy::~FaultProxy() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    Wait(pid_);
  }
}

std::vector<nlohmann::json> FaultProxy::Log() const {
  std::vector<nlohmann::json> entries;
  std::istringstream lines(ReadFile(log_file_));
  for (std::string line; std::getline(lines, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded()) entries.push_back(std::move(j));
  }
  return entries;
}

int FaultProxy::Requests(const std::string& op) const {
  int n = 0;
  for (const auto& e : Log()) n += op.empty() ? e["op"] != "GET" : e["op"] == op;
  return n;
}

int FaultProxy::Faulted() const {
  int n = 0;
  for (const auto& e : Log()) n += !e["fault"].is_null();
  return n;
}

// ---- DynamoTest ----------------------------------------------------------------

void DynamoTest::SetUp() {
  const char* endpoint = std::getenv("JOBGATE_TEST_DYNAMODB_ENDPOINT");
  if (endpoint == nullptr || *endpoint == '\0') {
    GTEST_SKIP() << "JOBGATE_TEST_DYNAMODB_ENDPOINT is not set: scripts/test.sh starts dynalite and sets it; "
                    "by hand: scripts/dynalite.sh start && eval \"$(scripts/dynalite.sh env)\"";
  }
  endpoint_ = endpoint;
  // Whoever started us, children see only the emulator's dummy identity:
  // a real profile, session token or endpoint override must never reach a
  // test (it could point a test at a real account).
  char tmpl[] = "/tmp/jobgate-dynamo-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  dir_ = tmpl;
  const std::string empty = Path("aws-empty");  // an empty config / credentials file
  std::ofstream(empty).close();
  setenv("AWS_ACCESS_KEY_ID", "test", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "test", 1);
  setenv("AWS_REGION", "us-east-1", 1);
  setenv("AWS_DEFAULT_REGION", "us-east-1", 1);
  setenv("AWS_CONFIG_FILE", empty.c_str(), 1);
  setenv("AWS_SHARED_CREDENTIALS_FILE", empty.c_str(), 1);
  setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
  for (const char* name : {"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                           "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "JOBGATE_STORE"}) {
    unsetenv(name);
  }
  // One table per test, so tests run in parallel against one dynalite.
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info->name();
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  table_ = "jg_" + name.substr(0, 100) + "_" + std::to_string(getpid()) + "_" + fs::path(dir_).filename().string();
  for (char& c : table_) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') c = '_';
  }
}

void DynamoTest::TearDown() {
  // dynalite is in memory and stopped by the script; tables die with it.
  if (!dir_.empty()) fs::remove_all(dir_);
}

std::string DynamoTest::StoreUrl(const std::string& endpoint) const {
  return "dynamodb://" + table_ + "?region=us-east-1&endpoint=" + (endpoint.empty() ? endpoint_ : endpoint);
}

Proc DynamoTest::RunToFiles(const std::vector<std::string>& argv) {
  ++files_;
  return jobgate::test::RunToFiles(argv, Path("out." + std::to_string(files_)), Path("err." + std::to_string(files_)));
}

pid_t DynamoTest::StartJobgate(const std::vector<std::string>& args, const std::string& out_file,
                               const std::string& err_file, const std::string& endpoint) {
  std::vector<std::string> argv = {JOBGATE_BINARY, "--store", StoreUrl(endpoint)};
  argv.insert(argv.end(), args.begin(), args.end());
  return Spawn(argv, out_file, err_file);
}

Proc DynamoTest::Jobgate(const std::vector<std::string>& args, const std::string& endpoint) {
  std::vector<std::string> argv = {JOBGATE_BINARY, "--store", StoreUrl(endpoint)};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunToFiles(argv);
}

Proc DynamoTest::Node(const std::string& script, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"node", std::string(JOBGATE_DYNAMO_TOOLS_DIR) + "/" + script};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--endpoint", endpoint_});
  return RunToFiles(argv);
}

nlohmann::json DynamoTest::StateOf(const std::string& job) {
  Proc p = Jobgate({"status", job, "--json"});
  EXPECT_EQ(p.exit_code, 0) << p.err;
  auto j = LastJsonLine(p.out);
  EXPECT_FALSE(j.is_discarded()) << "status --json printed: " << p.out << p.err;
  return j;
}

}  // namespace jobgate::dynamo_test
