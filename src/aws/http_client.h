// A small HTTP/1.1 client for the DynamoDB backend: one libcurl easy handle
// per client, kept for the client's lifetime so the TCP (and TLS)
// connection is reused between calls (HTTP keep-alive). Transport failures
// are values, classified so callers can tell "never sent" from "sent, the
// answer was lost" (a write in the second case may have been applied).
//
// The HttpTransport interface is the seam tests use to script responses
// and faults without a server.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "aws/sigv4.h"
#include "jobgate/status.h"

namespace jobgate {

struct HttpRequest {
  std::string url;  // "http://127.0.0.1:8123/"
  std::string method = "POST";
  HttpHeaders headers;  // sent as given; a "Host" here replaces libcurl's
  std::string body;
};

// `signing` as a request to `url`, its headers followed by the SigV4 ones
// (SigV4Headers) for `credentials`, `region` and `service` at `now_ms`.
Result<HttpRequest> SignedRequest(std::string url, SigningRequest signing, const AwsCredentials& credentials,
                                  const std::string& region, const std::string& service, int64_t now_ms);

struct HttpResponse {
  int status = 0;
  HttpHeaders headers;  // of the final response (an interim 100 Continue is dropped)
  std::string body;

  // The first header called `name` (compared case-insensitively), if any.
  std::optional<std::string> Header(std::string_view name) const;
};

enum class TransportErrorKind {
  kResolveFailed,     // the host name did not resolve: nothing was sent
  kConnectFailed,     // refused / unreachable / connect timeout: nothing was sent
  kTimedOut,          // the whole exchange took longer than the total timeout
  kConnectionReset,   // the peer closed or reset the connection mid-exchange
  kTls,               // certificate or handshake failure
  kOther,
};
const char* TransportErrorKindName(TransportErrorKind kind);  // "connection refused", ...

// A request that got no HTTP response.
struct TransportError {
  TransportErrorKind kind = TransportErrorKind::kOther;
  std::string message;        // libcurl's description; never contains headers or the body
  bool request_sent = false;  // some of the request went out: a write may have been applied
};

using HttpResult = std::variant<HttpResponse, TransportError>;

// Sends one request and waits for its response. Implementations are
// thread-compatible (one caller at a time).
class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  virtual HttpResult Send(const HttpRequest& request) = 0;
};

struct HttpClientOptions {
  int64_t connect_timeout_ms = 2'000;  // TCP + TLS handshake
  int64_t total_timeout_ms = 10'000;   // the whole exchange, connect included (0: none)
  // The CA certificates TLS trusts; empty: the first of CaFileCandidates()
  // that exists (libcurl's compiled-in path otherwise).
  std::string ca_file;
};

// Where Linux distributions keep their CA bundle: Debian and Ubuntu first
// (libcurl's own default here), then Amazon Linux, RHEL and Fedora (AWS
// Lambda's provided.al2023 among them), then openSUSE and Alpine. The
// packaged Lambda runtime carries Debian's libcurl, whose default is
// missing on Amazon Linux: without this, every TLS connection there fails.
const std::vector<std::string>& CaFileCandidates();
// The first of `candidates` that is a readable file; empty if none is.
std::string FirstReadableFile(const std::vector<std::string>& candidates);

struct CurlApi;  // curl_api.h

// libcurl implementation. libcurl is loaded (dlopen) and initialised
// (curl_global_init) on the first construction in the process; that is its
// only process-wide state.
class CurlHttpClient final : public HttpTransport {
 public:
  // kUnavailable when libcurl cannot be loaded or initialised.
  static Result<std::unique_ptr<CurlHttpClient>> Create(const HttpClientOptions& options = {});
  ~CurlHttpClient() override;
  CurlHttpClient(const CurlHttpClient&) = delete;
  CurlHttpClient& operator=(const CurlHttpClient&) = delete;

  HttpResult Send(const HttpRequest& request) override;

 private:
  CurlHttpClient(const CurlApi* api, void* curl, HttpClientOptions options)
      : api_(api), curl_(curl), options_(std::move(options)) {}

  const CurlApi* api_;
  void* curl_;  // CURL*; opaque here so that this header does not pull in curl.h
  HttpClientOptions options_;
};

}  // namespace jobgate
