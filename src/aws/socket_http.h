// HTTP/1.1 over a plain TCP connection, for `http://` endpoints on the
// same machine: the Lambda Runtime API (AWS_LAMBDA_RUNTIME_API, always
// plain HTTP on a local address). It exists for start-up time: loading
// libcurl and its libraries costs a Lambda cold start 12-13 ms on this
// kind of machine (docs/benchmarks.md), and the Runtime API needs none of
// what libcurl offers (TLS, proxies, redirects, compression). Everything
// else that speaks HTTP (DynamoDB, STS, the credential endpoints) keeps
// CurlHttpClient.
//
// What it does: one kept-alive connection, reopened when the server closed
// it (a request whose connection turned out closed before any response byte
// arrived is sent once more on a new one, as libcurl does); Content-Length,
// chunked and until-close bodies; interim 1xx responses skipped; the
// connect and total timeouts of HttpClientOptions (total 0: wait for ever,
// the Runtime API's long poll). Not supported, reported as kOther before
// anything is sent: https, proxies, userinfo in the URL.
//
// tests/aws/socket_http_test.cc checks it against libcurl (the same
// requests to the same server give the same responses) and against broken
// servers.
#pragma once

#include <memory>
#include <string>

#include "aws/http_client.h"

namespace jobgate {

class SocketHttpClient final : public HttpTransport {
 public:
  explicit SocketHttpClient(HttpClientOptions options = {});
  ~SocketHttpClient() override;
  SocketHttpClient(const SocketHttpClient&) = delete;
  SocketHttpClient& operator=(const SocketHttpClient&) = delete;

  HttpResult Send(const HttpRequest& request) override;

 private:
  class Connection;
  HttpClientOptions options_;
  std::unique_ptr<Connection> connection_;  // the kept connection, if any
};

}  // namespace jobgate
