#include "aws/credentials_provider.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/log.h"
#include "util/numbers.h"

namespace jobgate {

namespace {

// Long-term keys handed in by the caller. Immutable, so thread-safe.
class StaticSource final : public CredentialSource {
 public:
  StaticSource(AwsCredentials credentials, std::string description)
      : credentials_(std::move(credentials)), description_(std::move(description)) {}
  Result<TimedCredentials> Fetch() override { return TimedCredentials{credentials_, std::nullopt}; }
  std::string Describe() const override { return description_; }

 private:
  AwsCredentials credentials_;
  std::string description_;
};

// The zone suffix at `pos`: "Z" or "+hh:mm"/"-hh:mm"; its offset in ms.
std::optional<int64_t> ZoneOffsetMs(std::string_view s, size_t pos) {
  if (pos + 1 == s.size() && (s[pos] == 'Z' || s[pos] == 'z')) return 0;
  int hh = 0, mm = 0;
  if (pos + 6 != s.size() || (s[pos] != '+' && s[pos] != '-') || !ParseFixedDigits(s, pos + 1, 2, &hh) ||
      s[pos + 3] != ':' || !ParseFixedDigits(s, pos + 4, 2, &mm) || hh > 23 || mm > 59) {
    return std::nullopt;
  }
  const int64_t offset = (int64_t{hh} * 60 + mm) * 60'000;
  return s[pos] == '+' ? offset : -offset;
}

}  // namespace

std::unique_ptr<CredentialSource> MakeStaticSource(AwsCredentials credentials, std::string description) {
  return std::make_unique<StaticSource>(std::move(credentials), std::move(description));
}

HttpTransportFactory CurlTransportFactory() {
  return [](const HttpClientOptions& options) -> Result<std::unique_ptr<HttpTransport>> {
    auto client = CurlHttpClient::Create(options);
    if (!client.ok()) return client.status();
    return std::unique_ptr<HttpTransport>(std::move(client).value());
  };
}

std::optional<EpochMs> ParseIso8601Ms(std::string_view s) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!ParseFixedDigits(s, 0, 4, &year) || s.size() < 20 || s[4] != '-' || !ParseFixedDigits(s, 5, 2, &month) ||
      s[7] != '-' || !ParseFixedDigits(s, 8, 2, &day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !ParseFixedDigits(s, 11, 2, &hour) || s[13] != ':' || !ParseFixedDigits(s, 14, 2, &minute) || s[16] != ':' ||
      !ParseFixedDigits(s, 17, 2, &second)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  size_t pos = 19;
  int64_t millis = 0;
  if (pos < s.size() && s[pos] == '.') {
    int64_t scale = 100;
    for (++pos; pos < s.size() && s[pos] >= '0' && s[pos] <= '9'; ++pos, scale /= 10) millis += (s[pos] - '0') * scale;
  }
  std::optional<int64_t> offset = ZoneOffsetMs(s, pos);
  if (!offset) return std::nullopt;
  const int64_t days = DaysFromCivil(year, month, day);
  return ((days * 24 + hour) * 60 + minute) * 60'000 + int64_t{second} * 1000 + millis - *offset;
}

void ScrubSecret(std::string& text, std::string_view secret) {
  if (secret.size() < 4) return;  // nothing that short is a real secret; avoid mangling text
  for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at)) {
    text.replace(at, secret.size(), "[redacted]");
  }
}

CredentialsProvider::CredentialsProvider(std::unique_ptr<CredentialSource> source, CredentialsProviderOptions options)
    : source_(std::move(source)),
      owned_clock_(options.clock != nullptr ? nullptr : std::make_unique<SystemClock>()),
      clock_(options.clock != nullptr ? *options.clock : *owned_clock_),
      logger_(options.logger != nullptr ? *options.logger : DefaultLogger()),
      options_(options),
      description_(source_->Describe()) {}

CredentialsProvider::~CredentialsProvider() = default;

std::shared_ptr<CredentialsProvider> CredentialsProvider::Static(AwsCredentials credentials, std::string description) {
  return std::make_shared<CredentialsProvider>(MakeStaticSource(std::move(credentials), std::move(description)));
}

Result<AwsCredentials> CredentialsProvider::Get() {
  std::lock_guard lock(mu_);
  const EpochMs now_ms = clock_.NowMs();
  if (cached_ && now_ms < next_refresh_ms_) return cached_->credentials;
  return Refresh(now_ms);
}

bool CredentialsProvider::Reject(std::string_view access_key_id) {
  std::lock_guard lock(mu_);
  if (!cached_ || !cached_->expires_at_ms) return false;
  if (cached_->credentials.access_key_id != access_key_id) return true;  // replaced meanwhile
  next_refresh_ms_ = 0;
  return true;
}

std::optional<AwsCredentials> CredentialsProvider::Cached() const {
  std::lock_guard lock(mu_);
  if (!cached_) return std::nullopt;
  return cached_->credentials;
}

Result<AwsCredentials> CredentialsProvider::Refresh(EpochMs now_ms) {
  Result<TimedCredentials> fetched = source_->Fetch();
  if (fetched.ok() && fetched->expires_at_ms && *fetched->expires_at_ms <= now_ms) {
    fetched = Status::Unavailable(fmt::format("credentials from {} had already expired at {}", description_,
                                              FormatRfc3339(*fetched->expires_at_ms)));
  }
  if (!fetched.ok() && cached_) {
    // A source's message never holds what it read, but a server may echo
    // what we sent it: the credentials we hold are scrubbed here too.
    std::string message = fetched.status().message();
    ScrubSecret(message, cached_->credentials.secret_access_key);
    ScrubSecret(message, cached_->credentials.session_token);
    fetched = Status(fetched.status().code(), std::move(message));
  }
  if (!fetched.ok()) {
    const bool still_valid = cached_ && (!cached_->expires_at_ms || now_ms < *cached_->expires_at_ms);
    if (!still_valid) return fetched.status();
    // Static stability: valid credentials in hand beat an error, and the
    // next attempt waits so a broken endpoint is not asked per request.
    next_refresh_ms_ = now_ms + options_.retry_after_failure_ms;
    if (cached_->expires_at_ms) next_refresh_ms_ = std::min(next_refresh_ms_, *cached_->expires_at_ms);
    Log(logger_, LogLevel::kWarn, "AWS credentials refresh failed; using the current ones until they expire at {}: {}",
        FormatRfc3339(cached_->expires_at_ms.value_or(0)), fetched.status().message());
    return cached_->credentials;
  }
  cached_ = std::move(fetched).value();
  if (!cached_->expires_at_ms) {
    next_refresh_ms_ = INT64_MAX;
  } else {
    // Credentials issued with less than the refresh margin left (IMDS can
    // hand out such) are used until the margin after the retry interval.
    const EpochMs expiry = *cached_->expires_at_ms;
    next_refresh_ms_ = std::max(expiry - options_.refresh_before_ms,
                                std::min(now_ms + options_.retry_after_failure_ms, expiry));
  }
  return cached_->credentials;
}

}  // namespace jobgate
