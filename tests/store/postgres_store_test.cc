// The PostgreSQL backend: its URL, and (when JOBGATE_TEST_POSTGRES_URL names
// a server; scripts/test.sh starts one) what the conformance suite cannot
// say: the due index's plan, the schema version, the server's clock,
// reconnection. The store contract itself is the conformance suite's
// (conformance_test.cc), which runs here through PostgresFactory.
#include "store/postgres_store.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <random>
#include <thread>
#include <vector>
#include <string>

#include "store/conformance.h"
#include "store/postgres_conn.h"

namespace jobgate::testing {

namespace {

std::string UniqueSchema() {
  static std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("t_{:016x}", rng());
}

// The URL of the test server with `schema` chosen.
std::string WithSchema(const std::string& url, const std::string& schema) {
  return fmt::format("{}{}schema={}", url, url.find('?') == std::string::npos ? '?' : '&', schema);
}

// A state row written by plain SQL, as psql or another program would; a
// missing attribute is a NULL column. A value the column's type cannot hold
// is refused by the server: kInvalidArgument.
Status PutForeignPostgresState(PgConnection& conn, const std::string& schema, const std::string& job,
                               const ForeignItem& item) {
  std::string columns = "job", values = "$1";
  PgParams params = {job};
  for (const auto& [name, value] : item) {
    columns += ", " + name;
    values += fmt::format(", ${}", params.size() + 1);
    params.push_back(value.kind == ForeignValue::Kind::kNull ? std::nullopt : std::optional<std::string>(value.text));
  }
  auto del = conn.Exec("delete", fmt::format("DELETE FROM \"{}\".job_state WHERE job = $1", schema), {job},
                       PgConnection::Resend::kSafe);
  if (!del.ok()) return del.status();
  return conn
      .Exec("put foreign", fmt::format("INSERT INTO \"{}\".job_state ({}) VALUES ({})", schema, columns, values),
            params, PgConnection::Resend::kSafe)
      .status();
}

}  // namespace

NamedStoreFactory PostgresFactory(const std::string& server_url) {
  return {"postgres", [server_url]() -> Result<StoreUnderTest> {
            const std::string schema = UniqueSchema();
            const std::string url = WithSchema(server_url, schema);
            auto open = [url]() -> Result<std::shared_ptr<Store>> {
              auto s = PostgresStore::Open(url);
              if (!s.ok()) return s.status();
              return std::shared_ptr<Store>(std::move(s.value()));
            };
            auto parsed = ParsePostgresUrl(url);
            if (!parsed.ok()) return parsed.status();
            static SystemClock clock;
            auto admin = PgConnection::Connect(*parsed, clock);
            if (!admin.ok()) return admin.status();
            std::shared_ptr<PgConnection> keeper(std::move(admin.value()));
            auto store = open();
            if (!store.ok()) return store.status();
            JOBGATE_RETURN_IF_ERROR((*store)->Init());
            auto cleanup = [keeper, schema] {
              (void)keeper->ExecScript("drop", fmt::format("DROP SCHEMA IF EXISTS \"{}\" CASCADE", schema));
            };
            auto put_foreign = [keeper, schema](const std::string& job, const ForeignItem& item) {
              return PutForeignPostgresState(*keeper, schema, job, item);
            };
            return StoreUnderTest{*store, open, cleanup, put_foreign};
          }};
}

namespace {

// ---- the URL (no server needed) ------------------------------------------------------

TEST(PostgresUrl, SchemaIsJobgatesOwnParameterAndTheRestIsLibpqs) {
  auto u = ParsePostgresUrl("postgres://app@db.example:6432/jobs?sslmode=require&schema=ops&connect_timeout=3");
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->schema, "ops");
  EXPECT_EQ(u->conninfo, "postgres://app@db.example:6432/jobs?sslmode=require&connect_timeout=3");
  auto d = ParsePostgresUrl("postgresql:///jobs");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->schema, "jobgate");
  EXPECT_EQ(d->conninfo, "postgresql:///jobs");
}

TEST(PostgresUrl, ASchemaThatIsNoPlainIdentifierIsRefusedNamingIt) {
  for (const char* bad : {"a;b", "Ops", "1x", "", "a\"b", "x-y"}) {
    auto u = ParsePostgresUrl(fmt::format("postgres://h/db?schema={}", bad));
    ASSERT_FALSE(u.ok()) << bad;
    EXPECT_EQ(u.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(u.status().message().find("schema"), std::string::npos);
  }
}

TEST(PostgresUrl, PasswordsAreNeverShown) {
  EXPECT_EQ(RedactPostgresUrl("postgres://app:s3cr3t@h:5432/db"), "postgres://app:***@h:5432/db");
  EXPECT_EQ(RedactPostgresUrl("postgres://app:p@ss@h/db"), "postgres://app:***@h/db");
  EXPECT_EQ(RedactPostgresUrl("postgres://h/db?sslmode=require&password=s3cr3t&x=1"),
            "postgres://h/db?sslmode=require&password=***&x=1");
  EXPECT_EQ(RedactPostgresUrl("postgres://app@h/db"), "postgres://app@h/db");
  auto u = ParsePostgresUrl("postgres://app:s3cr3t@h/db?schema=A");
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.status().message().find("s3cr3t"), std::string::npos) << u.status().message();
}

TEST(PostgresUrl, AMalformedUrlIsBadUsageNotAnUnreachableStore) {
  for (const char* bad : {"postgres://h:notaport/db", "postgres://h/db?nosuchparameter=1"}) {
    auto s = OpenStore(bad);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << s.status().ToString();
  }
}

TEST(PostgresUrl, AServerThatDoesNotAnswerIsUnavailable) {
  auto s = OpenStore("postgres://jobgate:s3cr3t@127.0.0.1:1/x?connect_timeout=2");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kUnavailable) << s.status().ToString();
  EXPECT_EQ(s.status().message().find("s3cr3t"), std::string::npos) << s.status().message();
}

// ---- against the server -------------------------------------------------------------------

class PostgresServer : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* url = getenv("JOBGATE_TEST_POSTGRES_URL");
    if (url == nullptr || *url == '\0') GTEST_SKIP() << "set JOBGATE_TEST_POSTGRES_URL (scripts/postgres.sh)";
    schema_ = UniqueSchema();
    url_ = WithSchema(url, schema_);
    auto store = PostgresStore::Open(url_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store.value());
    ASSERT_OK(store_->Init());
    auto parsed = ParsePostgresUrl(url_);
    ASSERT_TRUE(parsed.ok());
    auto admin = PgConnection::Connect(*parsed, clock_);
    ASSERT_TRUE(admin.ok()) << admin.status().ToString();
    admin_ = std::move(admin.value());
  }
  void TearDown() override {
    if (admin_) (void)admin_->ExecScript("drop", fmt::format("DROP SCHEMA IF EXISTS \"{}\" CASCADE", schema_));
  }

  std::string Query(const std::string& sql, const PgParams& params = {}) {
    auto r = admin_->Exec("test", sql, params, PgConnection::Resend::kSafe);
    if (!r.ok()) return "error: " + r.status().ToString();
    std::string out;
    for (int i = 0; i < r->rows(); ++i) out += std::string(r->Text(i, 0)) + "\n";
    return out;
  }

  SystemClock clock_;
  std::string schema_, url_;
  std::unique_ptr<PostgresStore> store_;
  std::unique_ptr<PgConnection> admin_;
};

TEST_F(PostgresServer, ListDueReadsTheDueIndex) {
  ASSERT_OK(admin_->ExecScript("seqscan off", "SET enable_seqscan = off"));
  const std::string plan = Query("EXPLAIN " + store_->ListDueSql(), {"1000", "10"});
  EXPECT_NE(plan.find("job_state_due"), std::string::npos) << plan;
}

TEST_F(PostgresServer, ANewerSchemaIsRefusedByInitAndByEveryRead) {
  Query(fmt::format("UPDATE \"{}\".schema_meta SET value = '99' WHERE key = 'schema_version'", schema_));
  const Status init = store_->Init();
  EXPECT_EQ(init.code(), StatusCode::kUnavailable);
  EXPECT_NE(init.message().find("newer"), std::string::npos) << init.ToString();
  auto read = store_->ReadJob("j", "");
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(read.status().message().find("99"), std::string::npos) << read.status().ToString();
}

TEST_F(PostgresServer, AMissingSchemaSaysToRunInit) {
  ASSERT_OK(admin_->ExecScript("drop", fmt::format("DROP SCHEMA \"{}\" CASCADE", schema_)));
  auto read = store_->ReadJob("j", "");
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(read.status().message().find("init"), std::string::npos) << read.status().ToString();
}

TEST_F(PostgresServer, EveryAnswerPlacesTheServersClock) {
  EXPECT_EQ(store_->ObservedClock(), std::nullopt);
  ASSERT_TRUE(store_->ReadJob("j", "").ok());
  auto c = store_->ObservedClock();
  ASSERT_TRUE(c.has_value());
  // The same machine: the offset is within the round trip.
  EXPECT_LE(std::abs(c->offset_ms), c->uncertainty_ms + 1);
  EXPECT_LT(c->uncertainty_ms, 1'000);
}

// A host whose clock runs a day ahead asks to take over a request record
// that is live on the server's clock: the server's clock decides.
TEST_F(PostgresServer, RequestExpiryIsJudgedOnTheServersClockToo) {
  const EpochMs now = clock_.NowMs();
  RequestRecord rec;
  rec.job = "j";
  rec.key = "k";
  rec.version = 1;
  rec.owner = "run-1";
  rec.expires_at_ms = now + 3'600'000;
  ASSERT_OK_AND_ASSIGN(auto created, store_->CreateRequest(rec, now));
  ASSERT_EQ(created, WriteOutcome::kApplied);
  const EpochMs tomorrow = now + 86'400'000;
  ASSERT_OK_AND_ASSIGN(auto seen, store_->ReadRequest("j", "k", tomorrow));
  EXPECT_TRUE(seen.has_value());
  RequestRecord thief = rec;
  thief.owner = "run-2";
  ASSERT_OK_AND_ASSIGN(auto stolen, store_->CreateRequest(thief, tomorrow));
  EXPECT_EQ(stolen, WriteOutcome::kConditionFailed);
  ASSERT_OK_AND_ASSIGN(auto expired, store_->ExpireRequests(tomorrow));
  EXPECT_EQ(expired, 0);
}

// A host whose clock runs ahead gated on a time the server has not reached:
// the acquiring write is refused by the server's clock itself.
TEST_F(PostgresServer, AStateWriteThatRestsOnTimeAppliesOnlyOnceTheServersClockHasReachedIt) {
  const EpochMs now = clock_.NowMs();
  JobState s;
  s.job = "j";
  s.version = 1;
  ASSERT_OK_AND_ASSIGN(auto early_create, store_->CreateState(s, now + 86'400'000));
  EXPECT_EQ(early_create, WriteOutcome::kConditionFailed);
  ASSERT_OK_AND_ASSIGN(auto absent, store_->ReadState("j"));
  EXPECT_EQ(absent, std::nullopt);
  ASSERT_OK_AND_ASSIGN(auto created, store_->CreateState(s, now - 1'000));
  EXPECT_EQ(created, WriteOutcome::kApplied);

  JobState next = s;
  next.version = 2;
  next.status = JobStatus::kRunning;
  next.owner = "run-1";
  ASSERT_OK_AND_ASSIGN(auto early, store_->ReplaceState(next, 1, now + 86'400'000));
  EXPECT_EQ(early, WriteOutcome::kConditionFailed);
  ASSERT_OK_AND_ASSIGN(auto unchanged, store_->ReadState("j"));
  EXPECT_EQ(unchanged, s);
  ASSERT_OK_AND_ASSIGN(auto applied, store_->ReplaceState(next, 1, now - 1'000));
  EXPECT_EQ(applied, WriteOutcome::kApplied);
}

// The grants docs/backends/postgres.md gives the role that runs jobs are
// enough for everything but init, and no more is needed.
TEST_F(PostgresServer, TheDocumentedGrantsAreEnoughToRunJobs) {
  const std::string role = "jg_run_" + schema_.substr(2);
  const Status made = admin_->ExecScript("role", fmt::format("CREATE ROLE {} LOGIN PASSWORD 'run-pw'", role));
  if (!made.ok()) GTEST_SKIP() << "the test server's role cannot create roles: " << made.ToString();
  const std::string q = "\"" + schema_ + "\".";
  ASSERT_OK(admin_->ExecScript(
      "grant", fmt::format("GRANT USAGE ON SCHEMA \"{0}\" TO {1}; GRANT SELECT ON {2}schema_meta TO {1}; "
                           "GRANT SELECT, INSERT, UPDATE ON {2}job_state, {2}job_definition TO {1}; "
                           "GRANT SELECT, INSERT, UPDATE, DELETE ON {2}job_run, {2}job_request TO {1}",
                           schema_, role, q)));
  // The same server, as the new role (the password in the URL: the test
  // server asks for one on TCP; a trusting one ignores it).
  std::string url = getenv("JOBGATE_TEST_POSTGRES_URL");
  const size_t at = url.find('@'), scheme = url.find("://") + 3;
  url = url.substr(0, scheme) + role + ":run-pw" + (at == std::string::npos ? "@" : url.substr(at));
  auto opened = PostgresStore::Open(WithSchema(url, schema_));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  PostgresStore& store = **opened;
  JobDefinition def;
  def.job = "j";
  ASSERT_OK(store.PutDefinition(def));
  JobState s;
  s.job = "j";
  s.version = 1;
  ASSERT_OK_AND_ASSIGN(auto created, store.CreateState(s, clock_.NowMs() - 1'000));
  EXPECT_EQ(created, WriteOutcome::kApplied);
  JobState next = s;
  next.version = 2;
  RunRecord run;
  run.job = "j";
  run.run_id = "r";
  ASSERT_OK_AND_ASSIGN(auto committed, store.ReplaceStateAndAppendRun(next, 1, run));
  EXPECT_EQ(committed, WriteOutcome::kApplied);
  ASSERT_OK(store.TrimRuns("j", 1));
  RequestRecord rec;
  rec.job = "j";
  rec.key = "k";
  rec.version = 1;
  rec.expires_at_ms = clock_.NowMs() + 60'000;
  ASSERT_OK_AND_ASSIGN(auto claimed, store.CreateRequest(rec, clock_.NowMs()));
  EXPECT_EQ(claimed, WriteOutcome::kApplied);
  ASSERT_OK_AND_ASSIGN(auto record, store.ReadJob("j", "k"));
  EXPECT_TRUE(record.state && record.definition && record.request);
  ASSERT_TRUE(store.ListDue(clock_.NowMs(), 10).ok());
  ASSERT_TRUE(store.ExpireRequests(clock_.NowMs()).ok());
  // init is the owner's: this role may not create.
  EXPECT_EQ(store.Init().code(), StatusCode::kUnavailable);
  (void)admin_->ExecScript("drop role", fmt::format("DROP OWNED BY {0}; DROP ROLE {0}", role));
}

// Under SERIALIZABLE (a DBA's default_transaction_isolation), concurrent
// CAS writes of one row fail with serialization failures (40001): the
// server rolled them back, so they are sent again, and no caller sees an
// error or loses an update.
TEST_F(PostgresServer, SerializationFailuresAreRetriedAndLoseNothing) {
  JobState s;
  s.job = "j";
  s.version = 1;
  ASSERT_OK_AND_ASSIGN(auto created, store_->CreateState(s));
  ASSERT_EQ(created, WriteOutcome::kApplied);
  const std::string url = url_ + "&options=-c%20default_transaction_isolation%3Dserializable";
  constexpr int kThreads = 4, kEach = 40;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      auto store = PostgresStore::Open(url);
      if (!store.ok()) {
        ++errors;
        return;
      }
      for (int done = 0; done < kEach;) {
        auto read = (*store)->ReadState("j");
        if (!read.ok() || !read->has_value()) {
          ++errors;
          return;
        }
        JobState next = **read;
        next.version += 1;
        next.run_count += 1;
        auto w = (*store)->ReplaceState(next, (*read)->version);
        if (!w.ok()) {
          ++errors;
          return;
        }
        if (*w == WriteOutcome::kApplied) ++done;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  ASSERT_OK_AND_ASSIGN(auto final_state, store_->ReadState("j"));
  ASSERT_TRUE(final_state.has_value());
  EXPECT_EQ(final_state->run_count, kThreads * kEach);
  EXPECT_EQ(final_state->version, 1 + kThreads * kEach);
}

// The server ends our session (a restart, an administrator, a pooler): the
// next call reconnects, reads and writes alike, since the server said the
// statement did not run.
TEST_F(PostgresServer, ATerminatedSessionIsReconnected) {
  JobState s;
  s.job = "j";
  s.version = 1;
  ASSERT_OK_AND_ASSIGN(auto created, store_->CreateState(s));
  ASSERT_EQ(created, WriteOutcome::kApplied);
  const std::string killed = Query(
      fmt::format("SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE application_name = 'jobgate' "
                  "AND pid <> pg_backend_pid() AND query LIKE '%\"{}\".job_state%'",
                  schema_));
  ASSERT_NE(killed.find('t'), std::string::npos) << killed;
  JobState next = s;
  next.version = 2;
  next.run_count = 1;
  auto w = store_->ReplaceState(next, 1);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(*w, WriteOutcome::kApplied);
  ASSERT_OK_AND_ASSIGN(auto read, store_->ReadState("j"));
  EXPECT_EQ(read, next);
}

}  // namespace
}  // namespace jobgate::testing
