// CredentialsProvider: caching, refresh before expiry, keeping valid
// credentials when a refresh fails, all on a manual clock (no sleeps).
#include "aws/credentials_provider.h"

#include <gtest/gtest.h>

#include <deque>
#include <thread>

#include "aws/credentials_test_support.h"

namespace jobgate {
namespace {

using namespace credentials_test;

constexpr EpochMs kStart = 1'700'000'000'000;
constexpr int64_t kMinute = 60'000;

// A source that answers from a script and counts its fetches.
class ScriptedSource final : public CredentialSource {
 public:
  Result<TimedCredentials> Fetch() override {
    ++*fetches;
    if (script->empty()) return Status::Unavailable("script exhausted");
    Result<TimedCredentials> next = script->front();
    script->pop_front();
    return next;
  }
  std::string Describe() const override { return "scripted source"; }
  std::shared_ptr<std::deque<Result<TimedCredentials>>> script = std::make_shared<std::deque<Result<TimedCredentials>>>();
  std::shared_ptr<int> fetches = std::make_shared<int>(0);
};

TimedCredentials Temporary(const std::string& id, EpochMs expires_at_ms) {
  return {{id, kSecretKey, kSessionToken}, expires_at_ms};
}

struct ProviderFixture {
  ProviderFixture() {
    auto source = std::make_unique<ScriptedSource>();
    script = source->script;
    fetches = source->fetches;
    provider = std::make_unique<CredentialsProvider>(std::move(source),
                                                     CredentialsProviderOptions{&clock, &logger});
  }
  std::string Id() {
    Result<AwsCredentials> c = provider->Get();
    return c.ok() ? c->access_key_id : "error: " + c.status().message();
  }
  ManualClock clock{kStart};
  CapturingLogger logger;
  std::shared_ptr<std::deque<Result<TimedCredentials>>> script;
  std::shared_ptr<int> fetches;
  std::unique_ptr<CredentialsProvider> provider;
};

TEST(CredentialsProvider, CachesUntilFiveMinutesBeforeExpiryThenRefreshes) {
  ProviderFixture f;
  f.script->push_back(Temporary("AKID1", kStart + 60 * kMinute));
  f.script->push_back(Temporary("AKID2", kStart + 120 * kMinute));
  EXPECT_EQ(f.Id(), "AKID1");
  f.clock.Advance(54 * kMinute);  // 6 minutes left: still cached
  EXPECT_EQ(f.Id(), "AKID1");
  EXPECT_EQ(*f.fetches, 1);
  f.clock.Advance(1 * kMinute + 1);  // inside the 5-minute margin: refreshed
  EXPECT_EQ(f.Id(), "AKID2");
  EXPECT_EQ(*f.fetches, 2);
  EXPECT_EQ(f.Id(), "AKID2");
  EXPECT_EQ(*f.fetches, 2);
}

TEST(CredentialsProvider, LongTermCredentialsAreFetchedOnce) {
  ProviderFixture f;
  f.script->push_back(TimedCredentials{{"AKIDSTATIC", kSecretKey, ""}, std::nullopt});
  EXPECT_EQ(f.Id(), "AKIDSTATIC");
  f.clock.Advance(365LL * 24 * 60 * kMinute);
  EXPECT_EQ(f.Id(), "AKIDSTATIC");
  EXPECT_EQ(*f.fetches, 1);
}

TEST(CredentialsProvider, FailedRefreshKeepsValidCredentialsLogsAndRetriesLater) {
  ProviderFixture f;
  f.script->push_back(Temporary("AKID1", kStart + 60 * kMinute));
  f.script->push_back(Status::Unavailable("endpoint down"));
  f.script->push_back(Temporary("AKID2", kStart + 120 * kMinute));
  EXPECT_EQ(f.Id(), "AKID1");
  f.clock.Advance(56 * kMinute);  // in the margin, 4 minutes left
  EXPECT_EQ(f.Id(), "AKID1");     // the refresh failed: the old ones still work
  EXPECT_EQ(*f.fetches, 2);
  ASSERT_EQ(f.logger.lines().size(), 1u);
  EXPECT_NE(f.logger.lines()[0].find("endpoint down"), std::string::npos) << f.logger.lines()[0];
  EXPECT_NE(f.logger.lines()[0].find("expire at"), std::string::npos) << f.logger.lines()[0];
  f.clock.Advance(5'000);  // within the retry interval: no new fetch
  EXPECT_EQ(f.Id(), "AKID1");
  EXPECT_EQ(*f.fetches, 2);
  f.clock.Advance(5'001);
  EXPECT_EQ(f.Id(), "AKID2");
  EXPECT_EQ(*f.fetches, 3);
  for (const std::string& line : f.logger.lines()) ExpectNoSecret(line);
}

TEST(CredentialsProvider, AFailureQuotingTheHeldCredentialsIsScrubbedBeforeItIsLoggedOrReturned) {
  ProviderFixture f;
  f.script->push_back(Temporary("AKID1", kStart + 60 * kMinute));
  f.script->push_back(Status::Unavailable(std::string("server said: ") + kSecretKey + " / " + kSessionToken));
  f.script->push_back(Status::Unavailable(std::string("server said: ") + kSecretKey));
  EXPECT_EQ(f.Id(), "AKID1");
  f.clock.Advance(56 * kMinute);
  EXPECT_EQ(f.Id(), "AKID1");
  f.clock.Advance(5 * kMinute);
  Result<AwsCredentials> c = f.provider->Get();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "server said: [redacted]");
  ASSERT_EQ(f.logger.lines().size(), 1u);
  EXPECT_NE(f.logger.lines()[0].find("server said: [redacted] / [redacted]"), std::string::npos)
      << f.logger.lines()[0];
}

TEST(CredentialsProvider, FailedRefreshAfterExpiryIsAnError) {
  ProviderFixture f;
  f.script->push_back(Temporary("AKID1", kStart + 60 * kMinute));
  f.script->push_back(Status::Unavailable("endpoint down"));
  EXPECT_EQ(f.Id(), "AKID1");
  f.clock.Advance(61 * kMinute);
  Result<AwsCredentials> c = f.provider->Get();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(c.status().message(), "endpoint down");
}

TEST(CredentialsProvider, FirstFetchErrorIsReturnedAndRetriedOnTheNextGet) {
  ProviderFixture f;
  f.script->push_back(Status::InvalidArgument("misconfigured"));
  f.script->push_back(Temporary("AKID1", kStart + 60 * kMinute));
  EXPECT_EQ(f.Id(), "error: misconfigured");
  EXPECT_EQ(f.Id(), "AKID1");
}

TEST(CredentialsProvider, AlreadyExpiredCredentialsAreRefused) {
  ProviderFixture f;
  f.script->push_back(Temporary("AKIDOLD", kStart - 1));
  Result<AwsCredentials> c = f.provider->Get();
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("scripted source had already expired at 2023-11-14T22:13:19.999Z"),
            std::string::npos)
      << c.status().message();
}

TEST(CredentialsProvider, ShortLivedCredentialsAreNotFetchedPerRequest) {
  ProviderFixture f;
  f.script->push_back(Temporary("AKID1", kStart + 2 * kMinute));  // already inside the margin
  f.script->push_back(Temporary("AKID2", kStart + 60 * kMinute));
  EXPECT_EQ(f.Id(), "AKID1");
  f.clock.Advance(9'000);
  EXPECT_EQ(f.Id(), "AKID1");
  EXPECT_EQ(*f.fetches, 1);
  f.clock.Advance(1'000);
  EXPECT_EQ(f.Id(), "AKID2");
}

TEST(CredentialsProvider, ConcurrentCallersShareOneFetch) {
  ProviderFixture f;
  f.script->push_back(Temporary("AKID1", kStart + 60 * kMinute));
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] { ok += f.provider->Get().ok() ? 1 : 0; });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 8);
  EXPECT_EQ(*f.fetches, 1);
}

TEST(CredentialsProvider, StaticProviderDescribesItsSource) {
  auto p = CredentialsProvider::Static({"AKID", kSecretKey, ""}, "environment");
  EXPECT_EQ(p->description(), "environment");
  EXPECT_EQ(p->Cached(), std::nullopt);
  ASSERT_TRUE(p->Get().ok());
  EXPECT_EQ(p->Cached()->access_key_id, "AKID");
}

TEST(CredentialsIso8601, ParsesAwsExpirations) {
  EXPECT_EQ(ParseIso8601Ms("2023-11-14T22:13:20Z"), kStart);
  EXPECT_EQ(ParseIso8601Ms("2023-11-14T22:13:20.250Z"), kStart + 250);
  EXPECT_EQ(ParseIso8601Ms("2023-11-14T23:13:20+01:00"), kStart);
  EXPECT_EQ(ParseIso8601Ms("2023-11-14T21:13:20-01:00"), kStart);
  for (const char* bad : {"", "2023-11-14", "2023-11-14T22:13:20", "2023-13-14T22:13:20Z", "2023-11-14T22:13:20Zjunk",
                          "20231114T221320Z"}) {
    EXPECT_EQ(ParseIso8601Ms(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace jobgate
