#include "aws/socket_http.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <string_view>
#include <utility>
#include <variant>

#include <fmt/format.h>

#include "util/numbers.h"
#include "util/text.h"

namespace jobgate {

namespace {

constexpr size_t kMaxHeadBytes = 64u << 10;
// The same limit as CurlHttpClient's: a Lambda event is at most 6 MB.
constexpr size_t kMaxBodyBytes = 64u << 20;
constexpr size_t kReadChunk = 64u << 10;

using Kind = TransportErrorKind;

TransportError Failure(Kind kind, std::string message, bool sent = false) {
  return TransportError{kind, std::move(message), sent};
}

std::string ErrnoText(int error) { return std::strerror(error); }

// Where a request goes: "http://HOST[:PORT][/PATH]".
struct Target {
  std::string host;  // without the brackets of an IPv6 literal
  std::string port;
  std::string authority;  // HOST[:PORT] as written, for the Host header
  std::string path;       // "/..." with the query
};

std::optional<Target> ParseHttpUrl(std::string_view url, std::string* why) {
  if (!url.starts_with("http://")) {
    *why = "only http:// URLs are supported by this transport";
    return std::nullopt;
  }
  url.remove_prefix(7);
  const size_t end = url.find_first_of("/?#");
  Target t;
  t.authority = std::string(url.substr(0, end));
  t.path = end == std::string_view::npos ? "/" : std::string(url.substr(end));
  if (t.path.front() != '/') t.path.insert(0, "/");
  if (const size_t hash = t.path.find('#'); hash != std::string::npos) t.path.resize(hash);
  std::string_view authority = t.authority;
  if (authority.empty() || authority.find('@') != std::string_view::npos) {
    *why = "the URL has no host, or has user information";
    return std::nullopt;
  }
  std::string_view port = "80";
  if (authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      *why = "unterminated IPv6 literal";
      return std::nullopt;
    }
    t.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size() && authority[close + 1] == ':') port = authority.substr(close + 2);
  } else {
    const size_t colon = authority.rfind(':');
    t.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (t.host.empty() || port.empty() || port.find_first_not_of("0123456789") != std::string_view::npos) {
    *why = "bad host or port";
    return std::nullopt;
  }
  t.port = std::string(port);
  return t;
}

// The time left of a timeout, for poll(); -1 (no limit) when it is 0.
class Deadline {
 public:
  explicit Deadline(int64_t timeout_ms) : end_(timeout_ms > 0 ? Now() + timeout_ms : -1) {}
  int PollMs() const {
    if (end_ < 0) return -1;
    const int64_t left = end_ - Now();
    return static_cast<int>(left < 0 ? 0 : std::min<int64_t>(left, 1'000'000'000));
  }
  Deadline Sooner(int64_t timeout_ms) const {
    Deadline other(timeout_ms);
    if (end_ >= 0 && (other.end_ < 0 || end_ < other.end_)) other.end_ = end_;
    return other;
  }

 private:
  static int64_t Now() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  int64_t end_;
};

// Waits until `fd` is ready for `events`; false when the deadline passed.
bool WaitFor(int fd, short events, const Deadline& deadline) {
  pollfd p{fd, events, 0};
  while (true) {
    const int n = poll(&p, 1, deadline.PollMs());
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return true;  // the call that follows reports the error
  }
}

// Connects one address; the connect timeout bounds the wait.
std::optional<TransportError> ConnectOne(int fd, const addrinfo& ai, const Deadline& deadline) {
  if (connect(fd, ai.ai_addr, ai.ai_addrlen) == 0) return std::nullopt;
  if (errno != EINPROGRESS) return Failure(Kind::kConnectFailed, ErrnoText(errno));
  if (!WaitFor(fd, POLLOUT, deadline)) return Failure(Kind::kConnectFailed, "connect timed out");
  int error = 0;
  socklen_t len = sizeof error;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0) error = errno;
  if (error != 0) return Failure(Kind::kConnectFailed, ErrnoText(error));
  return std::nullopt;
}

// Where one exchange stands when reading stops.
enum class Read { kData, kEof, kTimedOut, kError };

// One parsed response head.
struct Head {
  HttpResponse response;
  bool http10 = false;
};

bool ParseStatusLine(std::string_view line, Head* head) {
  if (!line.starts_with("HTTP/1.") || line.size() < 12 || line[8] != ' ') return false;
  head->http10 = line[7] == '0';
  const std::string_view code = line.substr(9, 3);
  if (code.find_first_not_of("0123456789") != std::string_view::npos) return false;
  head->response.status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
  return line.size() == 12 || line[12] == ' ';
}

// The head (status line and headers, without the blank line); false if
// it is not HTTP.
bool ParseHead(std::string_view text, Head* head) {
  size_t eol = text.find("\r\n");
  if (!ParseStatusLine(text.substr(0, eol), head)) return false;
  while (eol != std::string_view::npos) {
    text.remove_prefix(eol + 2);
    eol = text.find("\r\n");
    const std::string_view line = text.substr(0, eol);
    if (line.empty()) continue;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    head->response.headers.emplace_back(std::string(TrimBlanks(line.substr(0, colon))),
                                        std::string(TrimBlanks(line.substr(colon + 1))));
  }
  return true;
}

bool HasToken(const std::optional<std::string>& value, std::string_view token) {
  if (!value) return false;
  std::string_view rest = *value;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    if (EqualsIgnoringAsciiCase(TrimBlanks(rest.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return false;
}

// Decodes a chunked body from `in` as far as it is complete.
enum class Chunked { kNeedMore, kDone, kBad };
Chunked DecodeChunked(std::string_view in, std::string* body, size_t* used) {
  size_t pos = 0;
  body->clear();
  while (true) {
    const size_t eol = in.find("\r\n", pos);
    if (eol == std::string_view::npos) return in.size() - pos > 1024 ? Chunked::kBad : Chunked::kNeedMore;
    std::string_view size_text = in.substr(pos, eol - pos);
    size_text = TrimBlanks(size_text.substr(0, size_text.find(';')));
    size_t size = 0;
    if (size_text.empty() || size_text.size() > 15) return Chunked::kBad;
    for (char c : size_text) {
      const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (digit < 0) return Chunked::kBad;
      size = size * 16 + static_cast<size_t>(digit);
    }
    pos = eol + 2;
    if (size == 0) {  // trailers, then a blank line
      const size_t end = in.find("\r\n\r\n", pos - 2);
      if (end == std::string_view::npos) return Chunked::kNeedMore;
      *used = end + 4;
      return Chunked::kDone;
    }
    if (body->size() + size > kMaxBodyBytes) return Chunked::kBad;
    if (in.size() < pos + size + 2) return Chunked::kNeedMore;
    if (in.substr(pos + size, 2) != "\r\n") return Chunked::kBad;
    body->append(in.substr(pos, size));
    pos += size + 2;
  }
}

}  // namespace

// One open connection and the bytes read from it but not yet used.
class SocketHttpClient::Connection {
 public:
  ~Connection() { close(fd_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  static std::variant<std::unique_ptr<Connection>, TransportError> Open(const Target& target,
                                                                         const Deadline& deadline) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* list = nullptr;
    if (const int rc = getaddrinfo(target.host.c_str(), target.port.c_str(), &hints, &list); rc != 0) {
      return Failure(Kind::kResolveFailed, fmt::format("cannot resolve {}: {}", target.host, gai_strerror(rc)));
    }
    TransportError last = Failure(Kind::kConnectFailed, "no address");
    for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
      const int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
      if (fd < 0) {
        last = Failure(Kind::kConnectFailed, ErrnoText(errno));
        continue;
      }
      std::unique_ptr<Connection> c(new Connection(fd, target.authority));
      if (auto error = ConnectOne(fd, *ai, deadline)) {
        last = std::move(*error);
        continue;
      }
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      freeaddrinfo(list);
      return c;
    }
    freeaddrinfo(list);
    last.message = fmt::format("cannot connect to {}: {}", target.authority, last.message);
    return last;
  }

  const std::string& authority() const { return authority_; }

  // Writes all of `data`; false with errno set (ETIMEDOUT at the deadline).
  bool WriteAll(std::string_view data, const Deadline& deadline) {
    while (!data.empty()) {
      const ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n > 0) {
        data.remove_prefix(static_cast<size_t>(n));
        sent_ = true;
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && errno == EAGAIN) {
        if (!WaitFor(fd_, POLLOUT, deadline)) return (errno = ETIMEDOUT, false);
      } else {
        return false;
      }
    }
    return true;
  }

  // Appends what arrives next to buffer().
  Read ReadMore(const Deadline& deadline, int* error) {
    char chunk[kReadChunk];
    while (true) {
      const ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n > 0) {
        buffer_.append(chunk, static_cast<size_t>(n));
        received_ = true;
        return Read::kData;
      }
      if (n == 0) return Read::kEof;
      if (errno == EINTR) continue;
      if (errno != EAGAIN) return (*error = errno, Read::kError);
      if (!WaitFor(fd_, POLLIN, deadline)) return Read::kTimedOut;
    }
  }

  // Reads one final response (interim 1xx ones skipped). `keep`: whether
  // the connection can carry the next request.
  HttpResult ReadResponse(const std::string& method, const Deadline& deadline, bool* keep);

  bool sent() const { return sent_; }
  bool received() const { return received_; }
  void StartExchange() { sent_ = received_ = false; }

 private:
  Connection(int fd, std::string authority) : fd_(fd), authority_(std::move(authority)) {}

  int fd_;
  std::string authority_;
  std::string buffer_;
  bool sent_ = false;
  bool received_ = false;
};

namespace {

std::string RequestText(const HttpRequest& request, const Target& target) {
  std::string text = fmt::format("{} {} HTTP/1.1\r\n", request.method, target.path);
  bool host = false;
  for (const auto& [name, value] : request.headers) {
    host = host || EqualsIgnoringAsciiCase(name, "Host");
    if (EqualsIgnoringAsciiCase(name, "Content-Length")) continue;
    text += fmt::format("{}: {}\r\n", name, value);
  }
  if (!host) text += fmt::format("Host: {}\r\n", target.authority);
  if (!request.body.empty() || (request.method != "GET" && request.method != "HEAD")) {
    text += fmt::format("Content-Length: {}\r\n", request.body.size());
  }
  text += "\r\n";
  text += request.body;
  return text;
}

}  // namespace

SocketHttpClient::SocketHttpClient(HttpClientOptions options) : options_(std::move(options)) {}
SocketHttpClient::~SocketHttpClient() = default;

namespace {

// How the body of `head` ends.
enum class Framing { kNone, kLength, kChunked, kUntilClose };

Framing FramingOf(const std::string& method, const Head& head, size_t* length) {
  const int status = head.response.status;
  if (method == "HEAD" || status == 204 || status == 304) return Framing::kNone;
  if (HasToken(head.response.Header("Transfer-Encoding"), "chunked")) return Framing::kChunked;
  if (const auto value = head.response.Header("Content-Length")) {
    int64_t n = -1;
    *length = ParseInt64(*value, &n) && n >= 0 ? static_cast<size_t>(n) : SIZE_MAX;
    return Framing::kLength;
  }
  return Framing::kUntilClose;
}

TransportError ReadFailure(Read r, int error, const char* what) {
  if (r == Read::kTimedOut) return Failure(Kind::kTimedOut, fmt::format("timed out reading the {}", what), true);
  if (r == Read::kEof) return Failure(Kind::kConnectionReset, fmt::format("connection closed in the {}", what), true);
  return Failure(Kind::kConnectionReset, fmt::format("reading the {}: {}", what, ErrnoText(error)), true);
}

}  // namespace

HttpResult SocketHttpClient::Send(const HttpRequest& request) {
  std::string why;
  const std::optional<Target> target = ParseHttpUrl(request.url, &why);
  if (!target) return Failure(Kind::kOther, fmt::format("{}: {}", request.url, why));
  const Deadline deadline(options_.total_timeout_ms);
  const std::string text = RequestText(request, *target);
  for (int attempt = 0;; ++attempt) {
    const bool reused = connection_ && connection_->authority() == target->authority;
    if (!reused) {
      connection_.reset();
      auto opened = Connection::Open(*target, deadline.Sooner(options_.connect_timeout_ms));
      if (auto* error = std::get_if<TransportError>(&opened)) return std::move(*error);
      connection_ = std::move(std::get<std::unique_ptr<Connection>>(opened));
    }
    connection_->StartExchange();
    bool keep = false;
    HttpResult result = connection_->WriteAll(text, deadline)
                            ? connection_->ReadResponse(request.method, deadline, &keep)
                            : HttpResult(Failure(errno == ETIMEDOUT ? Kind::kTimedOut : Kind::kConnectionReset,
                                                 fmt::format("sending the request: {}", ErrnoText(errno)),
                                                 connection_->sent()));
    // A kept connection the server had closed: nothing of the answer came,
    // so send the request once more on a new one.
    const bool stale = reused && attempt == 0 && !connection_->received() &&
                       std::holds_alternative<TransportError>(result) &&
                       std::get<TransportError>(result).kind == Kind::kConnectionReset;
    if (!keep || std::holds_alternative<TransportError>(result)) connection_.reset();
    if (!stale) return result;
  }
}

HttpResult SocketHttpClient::Connection::ReadResponse(const std::string& method, const Deadline& deadline,
                                                     bool* keep) {
  std::string& in = buffer_;
  int error = 0;
  while (true) {
    size_t head_end;
    while ((head_end = in.find("\r\n\r\n")) == std::string::npos) {
      if (in.size() > kMaxHeadBytes) return Failure(Kind::kOther, "the response head is too large", true);
      if (const Read r = ReadMore(deadline, &error); r != Read::kData) return ReadFailure(r, error, "response head");
    }
    Head head;
    if (!ParseHead(std::string_view(in).substr(0, head_end), &head)) {
      return Failure(Kind::kOther, "the answer is not an HTTP/1.x response", true);
    }
    in.erase(0, head_end + 4);
    if (head.response.status >= 100 && head.response.status < 200) continue;  // interim: 100 Continue
    size_t length = 0;
    const Framing framing = FramingOf(method, head, &length);
    if (framing == Framing::kLength && length > kMaxBodyBytes) {
      return Failure(Kind::kOther, "the response body is too large", true);
    }
    while (framing == Framing::kLength && in.size() < length) {
      if (const Read r = ReadMore(deadline, &error); r != Read::kData) return ReadFailure(r, error, "response body");
    }
    size_t used = 0;
    Chunked state = Chunked::kNeedMore;
    while (framing == Framing::kChunked && (state = DecodeChunked(in, &head.response.body, &used)) != Chunked::kDone) {
      if (state == Chunked::kBad) return Failure(Kind::kOther, "bad chunked encoding in the response body", true);
      if (const Read r = ReadMore(deadline, &error); r != Read::kData) return ReadFailure(r, error, "response body");
    }
    Read r = Read::kData;
    while (framing == Framing::kUntilClose && (r = ReadMore(deadline, &error)) == Read::kData) {
      if (in.size() > kMaxBodyBytes) return Failure(Kind::kOther, "the response body is too large", true);
    }
    if (framing == Framing::kUntilClose && r != Read::kEof) return ReadFailure(r, error, "response body");
    if (framing == Framing::kLength) head.response.body = in.substr(0, length), used = length;
    if (framing == Framing::kUntilClose) head.response.body = std::move(in), used = 0;
    in.erase(0, std::min(used, in.size()));
    const auto connection = head.response.Header("Connection");
    *keep = framing != Framing::kUntilClose && !HasToken(connection, "close") &&
            (!head.http10 || HasToken(connection, "keep-alive"));
    return std::move(head.response);
  }
}

}  // namespace jobgate
