#include "aws/http_client.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "aws/curl_api.h"
#include "util/text.h"

namespace jobgate {

Result<HttpRequest> SignedRequest(std::string url, SigningRequest signing, const AwsCredentials& credentials,
                                  const std::string& region, const std::string& service, int64_t now_ms) {
  SigV4Params params;
  params.region = region;
  params.service = service;
  params.amz_date = AmzDate(std::chrono::system_clock::time_point(std::chrono::milliseconds(now_ms)));
  JOBGATE_ASSIGN_OR_RETURN(HttpHeaders signer_headers, SigV4Headers(signing, credentials, params));
  HttpRequest request{std::move(url), signing.method, std::move(signing.headers), std::move(signing.body)};
  for (auto& h : signer_headers) request.headers.push_back(std::move(h));
  return request;
}

namespace {

// Responses bigger than this are refused: DynamoDB's largest (BatchGetItem)
// is 16 MB, so anything beyond is not DynamoDB.
constexpr size_t kMaxBodyBytes = 64u << 20;

// What one exchange collects; the callbacks write into it.
struct Exchange {
  HttpResponse response;
  bool body_too_large = false;
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  const size_t n = size * count;
  if (ex->response.body.size() + n > kMaxBodyBytes) {
    ex->body_too_large = true;
    return 0;  // makes libcurl abort with CURLE_WRITE_ERROR
  }
  ex->response.body.append(data, n);
  return n;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  const size_t n = size * count;
  std::string_view line(data, n);
  // A status line starts the headers of a new response: an interim
  // "100 Continue" (or a redirect) must not leave its headers behind.
  if (line.starts_with("HTTP/")) {
    ex->response.headers.clear();
    return n;
  }
  const size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    ex->response.headers.emplace_back(std::string(TrimBlanks(line.substr(0, colon))),
                                      std::string(TrimBlanks(line.substr(colon + 1))));
  }
  return n;
}

TransportErrorKind KindOf(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return TransportErrorKind::kResolveFailed;
    case CURLE_COULDNT_CONNECT: return TransportErrorKind::kConnectFailed;
    case CURLE_OPERATION_TIMEDOUT: return TransportErrorKind::kTimedOut;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE: return TransportErrorKind::kConnectionReset;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE: return TransportErrorKind::kTls;
    default: return TransportErrorKind::kOther;
  }
}

// Owns a curl_slist.
class HeaderList {
 public:
  explicit HeaderList(const CurlApi& api) : api_(api) {}
  ~HeaderList() { api_.slist_free_all(list_); }
  HeaderList(const HeaderList&) = delete;
  HeaderList& operator=(const HeaderList&) = delete;
  bool Add(const std::string& line) {
    curl_slist* next = api_.slist_append(list_, line.c_str());
    if (next == nullptr) return false;
    list_ = next;
    return true;
  }
  curl_slist* get() const { return list_; }

 private:
  const CurlApi& api_;
  curl_slist* list_ = nullptr;
};

}  // namespace

std::optional<std::string> HttpResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoringAsciiCase(k, name)) return v;
  }
  return std::nullopt;
}

const char* TransportErrorKindName(TransportErrorKind kind) {
  switch (kind) {
    case TransportErrorKind::kResolveFailed: return "host name not resolved";
    case TransportErrorKind::kConnectFailed: return "connection refused or unreachable";
    case TransportErrorKind::kTimedOut: return "timed out";
    case TransportErrorKind::kConnectionReset: return "connection reset";
    case TransportErrorKind::kTls: return "TLS failure";
    case TransportErrorKind::kOther: return "transport error";
  }
  return "transport error";
}

const std::vector<std::string>& CaFileCandidates() {
  static const auto* paths = new std::vector<std::string>{
      "/etc/ssl/certs/ca-certificates.crt",                 // Debian, Ubuntu
      "/etc/pki/tls/certs/ca-bundle.crt",                   // Amazon Linux, RHEL, Fedora
      "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  // RHEL 7+, the same bundle
      "/etc/ssl/ca-bundle.pem",                             // openSUSE
      "/etc/ssl/cert.pem",                                  // Alpine
  };
  return *paths;
}

std::string FirstReadableFile(const std::vector<std::string>& candidates) {
  for (const std::string& path : candidates) {
    if (access(path.c_str(), R_OK) == 0) return path;
  }
  return "";
}

Result<std::unique_ptr<CurlHttpClient>> CurlHttpClient::Create(const HttpClientOptions& options) {
  auto api = LoadCurlApi();
  if (!api.ok()) return api.status();
  CURL* curl = (*api)->easy_init();
  if (curl == nullptr) return Status::Unavailable("cannot initialise libcurl");
  HttpClientOptions resolved = options;
  if (resolved.ca_file.empty()) resolved.ca_file = FirstReadableFile(CaFileCandidates());
  return std::unique_ptr<CurlHttpClient>(new CurlHttpClient(*api, curl, std::move(resolved)));
}

CurlHttpClient::~CurlHttpClient() { api_->easy_cleanup(static_cast<CURL*>(curl_)); }

HttpResult CurlHttpClient::Send(const HttpRequest& request) {
  const CurlApi& api = *api_;
  CURL* curl = static_cast<CURL*>(curl_);
  // Reset clears the previous request's options but keeps the connection
  // cache, so the next request reuses the open connection.
  api.easy_reset(curl);
  Exchange ex;
  char error_buffer[CURL_ERROR_SIZE] = {};
  HeaderList headers(api);
  bool headers_ok = true;
  for (const auto& [name, value] : request.headers) headers_ok = headers_ok && headers.Add(name + ": " + value);
  // libcurl adds "Expect: 100-continue" to larger POSTs; the extra round
  // trip buys nothing against DynamoDB. An empty value removes the header.
  headers_ok = headers_ok && headers.Add("Expect:");
  if (!headers_ok) return TransportError{TransportErrorKind::kOther, "out of memory building headers", false};

  api.easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  api.easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  // A PUT or POST without a body still says "Content-Length: 0" (the IMDSv2
  // token PUT), so that the server does not wait for a body.
  if (request.method == "POST" || request.method == "PUT" || !request.body.empty()) {
    api.easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    api.easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  }
  api.easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
  api.easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout_ms));
  api.easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.total_timeout_ms));
  api.easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // timeouts without SIGALRM: safe with threads
  api.easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  api.easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
  api.easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  api.easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, nullptr);  // the body is signed and parsed as sent
  api.easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  if (!options_.ca_file.empty()) api.easy_setopt(curl, CURLOPT_CAINFO, options_.ca_file.c_str());
  api.easy_setopt(curl, CURLOPT_WRITEFUNCTION, &OnBody);
  api.easy_setopt(curl, CURLOPT_WRITEDATA, &ex);
  api.easy_setopt(curl, CURLOPT_HEADERFUNCTION, &OnHeader);
  api.easy_setopt(curl, CURLOPT_HEADERDATA, &ex);

  const CURLcode rc = api.easy_perform(curl);
  // Detach the stack-allocated buffers before they go out of scope.
  api.easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  api.easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  if (rc != CURLE_OK) {
    TransportError err;
    err.kind = ex.body_too_large ? TransportErrorKind::kOther : KindOf(rc);
    err.message = ex.body_too_large ? fmt::format("response body larger than {} bytes", kMaxBodyBytes)
                                    : (error_buffer[0] != '\0' ? std::string(error_buffer) : api.easy_strerror(rc));
    long request_bytes = 0;
    api.easy_getinfo(curl, CURLINFO_REQUEST_SIZE, &request_bytes);
    err.request_sent = request_bytes > 0;
    return err;
  }
  long status = 0;
  api.easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  ex.response.status = static_cast<int>(status);
  return std::move(ex.response);
}

}  // namespace jobgate
