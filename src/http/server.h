// An HTTP/1.1 server for `serve --listen`: libmicrohttpd (dlopen'ed,
// http/mhd_api.h) on a listening socket of our own, a small thread pool,
// and one handler function from a Request to a Response. It knows nothing
// of jobs: routes are http/api.h's.
//
// A slow or stuck client costs one connection, not a thread: connections
// are polled (epoll) and dropped after the idle timeout, request bodies
// are bounded (413 before the body is read when Content-Length says so),
// and the scheduler runs on its own thread whatever the clients do.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "jobgate/status.h"

namespace jobgate::http {

struct Request {
  std::string method;                          // GET, POST, ...
  std::vector<std::string> path;               // the path's segments, each percent-decoded
  std::string raw_path;                        // as sent, without the query
  std::map<std::string, std::string> query;    // decoded; the last of repeated keys wins
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  bool from_loopback = false;  // the peer is 127.0.0.0/8 or ::1
  std::string Header(const std::string& lower_name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // beside Content-Type
};

using Handler = std::function<Response(const Request&)>;

// Called for the requests a handler never sees (a body over the limit): the
// response to send, given its status and a message.
using ErrorPage = std::function<Response(int status, const std::string& message)>;

struct ServerOptions {
  std::string host = "127.0.0.1";  // an address or a name resolved once at start
  uint16_t port = 0;               // 0: any free port (Server::port() says which)
  size_t max_body_bytes = 64 * 1024;
  unsigned threads = 4;          // handler threads (a store call blocks one)
  unsigned idle_timeout_s = 30;  // a connection silent this long is closed
  unsigned max_connections = 256;
};

class Server {
 public:
  // Binds, listens and starts serving. kInvalidArgument naming the address
  // when it cannot be resolved or bound (in use, not local); kUnavailable
  // when libmicrohttpd is missing.
  static Result<std::unique_ptr<Server>> Start(const ServerOptions& options, Handler handler, ErrorPage error_page);
  ~Server();  // stops accepting, finishes the requests in progress, closes
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  uint16_t port() const { return port_; }
  const std::string& address() const { return address_; }  // "127.0.0.1:8080", "[::1]:8080"

  struct State;  // the callbacks' view (server.cc)

 private:
  Server() = default;
  std::unique_ptr<State> state_;
  uint16_t port_ = 0;
  std::string address_;
};

// "HOST:PORT", "[V6]:PORT" or ":PORT" (127.0.0.1) -> host and port; the
// error names the flag's value.
Status ParseListenAddress(const std::string& text, std::string* host, uint16_t* port);

// Whether HOST (as given to ServerOptions) only accepts local peers:
// 127.0.0.0/8, ::1, "localhost".
bool IsLoopbackHost(const std::string& host);

// RFC 3986 percent-decoding; '+' is a space when `plus_is_space` (query
// strings). Malformed escapes are kept as they are.
std::string PercentDecode(const std::string& text, bool plus_is_space);

}  // namespace jobgate::http
