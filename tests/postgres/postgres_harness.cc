#include "postgres/postgres_harness.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>

namespace jobgate::postgres_test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string HostPort(const std::string& url) {
  const size_t scheme = url.find("://");
  const size_t start = url.find('@', scheme == std::string::npos ? 0 : scheme + 3);
  const size_t from = start == std::string::npos ? scheme + 3 : start + 1;
  return url.substr(from, url.find('/', from) - from);
}

EnvChanges FakeClock(const std::string& offset) {
  // Debian's libfaketime (package faketime); the multiarch directory first.
  std::string lib;
  for (const char* candidate :
       {"/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1", "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1"}) {
    if (access(candidate, R_OK) == 0) {
      lib = candidate;
      break;
    }
  }
  if (lib.empty()) return {};
  // A sanitized jobgate checks that ASan's runtime comes first in the
  // library list, and a preloaded library comes before it: that check, and
  // only it, is turned off (a no-op for a plain build).
  const char* asan = std::getenv("ASAN_OPTIONS");
  const std::string asan_options =
      (asan != nullptr && *asan != '\0' ? std::string(asan) + ":" : "") + "verify_asan_link_order=0";
  return {"LD_PRELOAD=" + lib, "FAKETIME=" + offset, "FAKETIME_DONT_FAKE_MONOTONIC=1", "FAKETIME_NO_CACHE=1",
          "ASAN_OPTIONS=" + asan_options};
}

void PostgresTest::SetUp() {
  const char* url = std::getenv("JOBGATE_TEST_POSTGRES_URL");
  const char* bouncer = std::getenv("JOBGATE_TEST_PGBOUNCER_URL");
  if (url == nullptr || *url == '\0' || bouncer == nullptr || *bouncer == '\0') {
    const char* require = std::getenv("JOBGATE_REQUIRE_POSTGRES");
    const char* how =
        "JOBGATE_TEST_POSTGRES_URL / JOBGATE_TEST_PGBOUNCER_URL are not set: scripts/test.sh starts PostgreSQL "
        "and PgBouncer and sets them; by hand: scripts/postgres.sh start && eval \"$(scripts/postgres.sh env)\"";
    if (require != nullptr && std::string(require) == "1") FAIL() << "JOBGATE_REQUIRE_POSTGRES=1 but " << how;
    GTEST_SKIP() << how;
  }
  url_ = url;
  bouncer_url_ = bouncer;
  // Whoever started us, libpq in the children sees the URL and PGPASSWORD
  // only: a PGHOST, PGSERVICE or PGOPTIONS of the user's could send a test
  // elsewhere or change its session, and a JOBGATE_STORE its store.
  for (const char* name : {"PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGDATABASE", "PGSERVICE", "PGSERVICEFILE",
                           "PGOPTIONS", "PGSSLMODE", "PGREQUIRESSL", "PGCONNECT_TIMEOUT", "PGTARGETSESSIONATTRS",
                           "PGAPPNAME", "PGTZ", "JOBGATE_STORE"}) {
    unsetenv(name);
  }
  char tmpl[] = "/tmp/jobgate-postgres-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  dir_ = tmpl;
  // One schema per test, so tests run in parallel against one server.
  std::random_device rd;
  schema_ = fmt::format("t_{:08x}{:08x}", rd(), rd());
}

void PostgresTest::TearDown() {
  if (!schema_.empty()) {
    Proc drop = Psql("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
    if (drop.exit_code != 0) ADD_FAILURE() << "dropping schema " << schema_ << ": " << drop.err;
  }
  if (!dir_.empty()) fs::remove_all(dir_);
}

std::string PostgresTest::StoreUrl(const std::string& base) const {
  const std::string& b = base.empty() ? url_ : base;
  return b + (b.find('?') == std::string::npos ? "?" : "&") + "schema=" + schema_;
}

Proc PostgresTest::Run(const std::vector<std::string>& argv, const EnvChanges& env,
                       std::chrono::milliseconds* elapsed) {
  ++files_;
  const std::string out = Path("run." + std::to_string(files_) + ".out");
  const std::string err = Path("run." + std::to_string(files_) + ".err");
  const auto start = std::chrono::steady_clock::now();
  Proc p;
  p.exit_code = jobgate::test::Wait(jobgate::test::Spawn(argv, out, err, env));
  if (elapsed != nullptr) {
    *elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  }
  p.out = ReadFile(out);
  p.err = ReadFile(err);
  return p;
}

Proc PostgresTest::Jobgate(const std::vector<std::string>& args, const EnvChanges& env, const std::string& url) {
  std::vector<std::string> argv = {JOBGATE_BINARY, "--store", url.empty() ? StoreUrl() : url};
  argv.insert(argv.end(), args.begin(), args.end());
  return Run(argv, env);
}

Child PostgresTest::StartJobgate(const std::vector<std::string>& args, const std::string& name, const EnvChanges& env,
                                 const std::string& url) {
  std::vector<std::string> argv = {JOBGATE_BINARY, "--store", url.empty() ? StoreUrl() : url};
  argv.insert(argv.end(), args.begin(), args.end());
  return Child(argv, Path(name + ".out"), Path(name + ".err"), env);
}

Proc PostgresTest::Psql(const std::string& sql) {
  const char* bin = std::getenv("JOBGATE_TEST_POSTGRES_BIN");
  const std::string psql = bin != nullptr && *bin != '\0' ? std::string(bin) + "/psql" : "psql";
  return Run({psql, "-X", "-w", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", url_, "-c", sql});
}

nlohmann::json PostgresTest::StateOf(const std::string& job, const std::string& url) {
  Proc p = Jobgate({"status", job, "--json"}, {}, url);
  EXPECT_EQ(p.exit_code, 0) << p.err;
  auto j = LastJsonLine(p.out);
  EXPECT_FALSE(j.is_discarded()) << "status --json printed: " << p.out << p.err;
  return j;
}

bool PostgresTest::WaitForLines(const std::string& file, int lines, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (CountLines(ReadFile(file)) < lines) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

}  // namespace jobgate::postgres_test
