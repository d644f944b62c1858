// Where AWS credentials come from at the moment a request is signed.
//
// A CredentialSource fetches credentials from one place of the AWS SDKs'
// "standard credential provider chain" (environment, web identity, shared
// files, credential_process, SSO, container, EC2 instance metadata; see
// credential_sources.h). A CredentialsProvider caches what its source gave
// and fetches again before the credentials expire, so that a long-lived
// process (serve, lambda) keeps signing with valid temporary credentials.
//
// Refresh follows the SDKs ("Standardized credential providers", and the
// Java SDK's CachedSupplier): credentials are refreshed once they are within
// `refresh_before_ms` (5 minutes) of their expiration; a failed refresh
// while the cached credentials are still valid is logged (at warn) and the
// cached ones are used, and the next attempt waits `retry_after_failure_ms`
// so a broken endpoint is not asked once per request.
//
// No message or log line written here or by a source ever contains a key,
// a session token or any token a source reads (web identity, SSO access
// token, container authorization token).
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "aws/http_client.h"
#include "aws/sigv4.h"
#include "jobgate/clock.h"
#include "jobgate/logger.h"
#include "jobgate/status.h"

namespace jobgate {

// Credentials and, for temporary ones, when they stop working.
struct TimedCredentials {
  AwsCredentials credentials;
  std::optional<EpochMs> expires_at_ms;  // nullopt: long-term keys, never refreshed
};

// One place credentials come from. Fetch is called by one thread at a time
// (the provider's lock), so implementations need only be thread-compatible.
class CredentialSource {
 public:
  virtual ~CredentialSource() = default;
  // The credentials, or an error naming this source and the setting at
  // fault (kUnavailable when the source is unreachable or refuses,
  // kInvalidArgument when it is misconfigured). Never a secret.
  virtual Result<TimedCredentials> Fetch() = 0;
  // "environment", "web identity (role arn:aws:iam::1:role/r)", ...: for
  // messages; never a secret.
  virtual std::string Describe() const = 0;
};

// Long-term keys that never change: the environment, a profile's keys.
std::unique_ptr<CredentialSource> MakeStaticSource(AwsCredentials credentials, std::string description);

// How sources make HTTP clients: CurlHttpClient in production, a scripted
// or local-server transport in tests. Called per fetch.
using HttpTransportFactory = std::function<Result<std::unique_ptr<HttpTransport>>(const HttpClientOptions&)>;
HttpTransportFactory CurlTransportFactory();

struct CredentialsProviderOptions {
  Clock* clock = nullptr;    // expirations are compared with its wall time; nullptr: the system clock
  Logger* logger = nullptr;  // refresh failures are logged here; nullptr: DefaultLogger()
  int64_t refresh_before_ms = 5 * 60'000;
  int64_t retry_after_failure_ms = 10'000;
};

// Caches one source's credentials and refreshes them before they expire.
// Thread-safe: Get may be called from any thread; a fetch happens under
// the provider's lock, so concurrent callers wait for one fetch instead of
// each starting their own.
class CredentialsProvider {
 public:
  explicit CredentialsProvider(std::unique_ptr<CredentialSource> source, CredentialsProviderOptions options = {});
  ~CredentialsProvider();
  CredentialsProvider(const CredentialsProvider&) = delete;
  CredentialsProvider& operator=(const CredentialsProvider&) = delete;

  // Long-term keys that never change (tests, the environment).
  static std::shared_ptr<CredentialsProvider> Static(AwsCredentials credentials, std::string description);

  // Credentials valid now: cached, or fetched when there are none yet or
  // they are within refresh_before_ms of expiring.
  Result<AwsCredentials> Get();

  // AWS refused credentials as expired (ExpiredTokenException) although
  // they claimed more time (a clock off, a session revoked early): the
  // next Get fetches anew. Only temporary credentials are forgotten:
  // fetching long-term keys again would change nothing. True when the
  // next Get will fetch, or already got others than `access_key_id`.
  bool Reject(std::string_view access_key_id);

  // The cached credentials without fetching (nullopt before the first
  // successful Get): what to scrub out of messages.
  std::optional<AwsCredentials> Cached() const;

  // The source's description, for messages.
  const std::string& description() const { return description_; }

 private:
  Result<AwsCredentials> Refresh(EpochMs now_ms);

  std::unique_ptr<CredentialSource> source_;
  std::unique_ptr<Clock> owned_clock_;
  Clock& clock_;
  Logger& logger_;
  CredentialsProviderOptions options_;
  const std::string description_;

  mutable std::mutex mu_;
  std::optional<TimedCredentials> cached_;
  EpochMs next_refresh_ms_ = 0;  // when to fetch again, if cached_
};

// Parses an RFC 3339 / ISO 8601 time as AWS writes expirations
// ("2026-01-02T03:04:05Z", with optional fraction and +hh:mm offset) into
// epoch milliseconds; nullopt when it is not one.
std::optional<EpochMs> ParseIso8601Ms(std::string_view text);

// Replaces every occurrence of `secret` (if at least 4 bytes) in `text`
// with "[redacted]".
void ScrubSecret(std::string& text, std::string_view secret);

}  // namespace jobgate
