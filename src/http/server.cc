#include "http/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "http/mhd_api.h"
#include "util/text.h"

namespace jobgate::http {

struct Server::State {
  const MhdApi* mhd = nullptr;
  MHD_Daemon* daemon = nullptr;
  ServerOptions options;
  Handler handler;
  ErrorPage error_page;
};

namespace {

// One request's body as it arrives (MHD calls the handler once with the
// headers, then once per chunk of body, then once more to answer).
struct Pending {
  std::string body;
  bool too_large = false;
};

bool IsLoopbackAddress(const sockaddr* addr) {
  if (addr == nullptr) return false;
  if (addr->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (addr->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) return true;
    return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
  }
  return false;
}

std::vector<std::string> Segments(std::string_view path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > start) out.push_back(PercentDecode(std::string(path.substr(start, slash - start)), false));
    start = slash + 1;
  }
  return out;
}

MHD_Result CollectPair(void* cls, MHD_ValueKind, const char* key, const char* value) {
  auto* into = static_cast<std::map<std::string, std::string>*>(cls);
  (*into)[PercentDecode(key, true)] = value == nullptr ? "" : PercentDecode(value, true);
  return MHD_YES;
}

MHD_Result CollectHeader(void* cls, MHD_ValueKind, const char* key, const char* value) {
  auto* into = static_cast<std::map<std::string, std::string>*>(cls);
  (*into)[AsciiLower(key)] = value == nullptr ? "" : value;
  return MHD_YES;
}

// URLs reach the handler as sent: each path segment is decoded after the
// split, so that a job named "a/b" (sent as a%2Fb) stays one segment.
size_t KeepEscaped(void*, MHD_Connection*, char* s) { return strlen(s); }

MHD_Result Send(const Server::State& st, MHD_Connection* c, const Response& r) {
  MHD_Response* out =
      st.mhd->create_response_from_buffer(r.body.size(), const_cast<char*>(r.body.data()), MHD_RESPMEM_MUST_COPY);
  if (out == nullptr) return MHD_NO;
  st.mhd->add_response_header(out, "Content-Type", r.content_type.c_str());
  st.mhd->add_response_header(out, "X-Content-Type-Options", "nosniff");
  for (const auto& [name, value] : r.headers) st.mhd->add_response_header(out, name.c_str(), value.c_str());
  MHD_Result queued = st.mhd->queue_response(c, static_cast<unsigned>(r.status), out);
  st.mhd->destroy_response(out);
  return queued;
}

Response Handle(const Server::State& st, MHD_Connection* c, const char* url, const char* method, Pending& p) {
  if (p.too_large) {
    return st.error_page(413, fmt::format("the request body is over {} bytes", st.options.max_body_bytes));
  }
  Request req;
  req.method = method;
  std::string_view path(url);
  req.raw_path = std::string(path.substr(0, path.find('?')));
  req.path = Segments(req.raw_path);
  st.mhd->get_connection_values(c, MHD_GET_ARGUMENT_KIND, CollectPair, &req.query);
  st.mhd->get_connection_values(c, MHD_HEADER_KIND, CollectHeader, &req.headers);
  const MHD_ConnectionInfo* peer = st.mhd->get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  req.from_loopback = peer != nullptr && IsLoopbackAddress(peer->client_addr);
  req.body = std::move(p.body);
  try {
    return st.handler(req);
  } catch (const std::exception& e) {
    return st.error_page(500, fmt::format("internal error: {}", e.what()));
  }
}

MHD_Result OnRequest(void* cls, MHD_Connection* c, const char* url, const char* method, const char*,
                     const char* upload_data, size_t* upload_data_size, void** con_cls) {
  const auto& st = *static_cast<const Server::State*>(cls);
  if (*con_cls == nullptr) {  // the headers: decide early on a declared body that is too big
    auto pending = std::make_unique<Pending>();
    const char* length = st.mhd->lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (length != nullptr && std::strtoull(length, nullptr, 10) > st.options.max_body_bytes) pending->too_large = true;
    *con_cls = pending.release();
    if (!static_cast<Pending*>(*con_cls)->too_large) return MHD_YES;
    // Answered before the body is read; libmicrohttpd then closes the connection.
    return Send(st, c, Handle(st, c, url, method, *static_cast<Pending*>(*con_cls)));
  }
  auto& p = *static_cast<Pending*>(*con_cls);
  if (*upload_data_size > 0) {  // a chunk of body: keep it, or count it past the limit
    if (!p.too_large && p.body.size() + *upload_data_size <= st.options.max_body_bytes) {
      p.body.append(upload_data, *upload_data_size);
    } else {
      p.too_large = true;
      p.body.clear();
    }
    *upload_data_size = 0;
    return MHD_YES;
  }
  return Send(st, c, Handle(st, c, url, method, p));
}

void OnCompleted(void*, MHD_Connection*, void** con_cls, MHD_RequestTerminationCode) {
  delete static_cast<Pending*>(*con_cls);
  *con_cls = nullptr;
}

std::string FormatAddress(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(ss);
    inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof host);
    return fmt::format("[{}]:{}", host, ntohs(in6.sin6_port));
  }
  const auto& in = reinterpret_cast<const sockaddr_in&>(ss);
  inet_ntop(AF_INET, &in.sin_addr, host, sizeof host);
  return fmt::format("{}:{}", host, ntohs(in.sin_port));
}

// A listening socket of our own, so that a bind failure is reported with
// its reason, and close-on-exec so that the scheduler's children do not
// inherit it.
Result<int> Listen(const ServerOptions& o, sockaddr_storage* bound) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(o.port);
  if (int rc = getaddrinfo(o.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return Status::InvalidArgument(fmt::format("--listen: cannot resolve '{}': {}", o.host, gai_strerror(rc)));
  }
  std::string why = "no address";
  int fd = -1;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 128) != 0) {
      why = strerror(errno);
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) return Status::InvalidArgument(fmt::format("--listen: cannot listen on {}:{}: {}", o.host, o.port, why));
  socklen_t len = sizeof *bound;
  getsockname(fd, reinterpret_cast<sockaddr*>(bound), &len);
  return fd;
}

}  // namespace

std::string Request::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

Result<std::unique_ptr<Server>> Server::Start(const ServerOptions& options, Handler handler, ErrorPage error_page) {
  JOBGATE_ASSIGN_OR_RETURN(const MhdApi* mhd, LoadMhdApi());
  sockaddr_storage bound{};
  JOBGATE_ASSIGN_OR_RETURN(int fd, Listen(options, &bound));
  std::unique_ptr<Server> server(new Server());
  server->state_ = std::make_unique<State>(State{mhd, nullptr, options, std::move(handler), std::move(error_page)});
  unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD;
  if (bound.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
  server->state_->daemon = mhd->start_daemon(
      flags, 0, nullptr, nullptr, &OnRequest, server->state_.get(), MHD_OPTION_LISTEN_SOCKET, fd,
      MHD_OPTION_THREAD_POOL_SIZE, options.threads, MHD_OPTION_CONNECTION_TIMEOUT, options.idle_timeout_s,
      MHD_OPTION_CONNECTION_LIMIT, options.max_connections, MHD_OPTION_NOTIFY_COMPLETED, &OnCompleted, nullptr,
      MHD_OPTION_UNESCAPE_CALLBACK, &KeepEscaped, nullptr, MHD_OPTION_END);
  if (server->state_->daemon == nullptr) {
    close(fd);
    return Status::Unavailable(fmt::format("--listen: libmicrohttpd could not start on {}", FormatAddress(bound)));
  }
  server->address_ = FormatAddress(bound);
  server->port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(bound).sin6_port
                                                    : reinterpret_cast<sockaddr_in&>(bound).sin_port);
  return server;
}

Server::~Server() {
  if (state_ && state_->daemon != nullptr) state_->mhd->stop_daemon(state_->daemon);
}

Status ParseListenAddress(const std::string& text, std::string* host, uint16_t* port) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) {
    return Status::InvalidArgument(fmt::format("--listen '{}': expected HOST:PORT, [V6]:PORT or :PORT", text));
  }
  std::string h = text.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  const std::string p = text.substr(colon + 1);
  char* end = nullptr;
  const unsigned long n = p.empty() ? 70000 : std::strtoul(p.c_str(), &end, 10);
  if (p.empty() || *end != '\0' || n > 65535) {
    return Status::InvalidArgument(
        fmt::format("--listen '{}': the port '{}' is not a number from 0 to 65535", text, p));
  }
  *host = h.empty() ? "127.0.0.1" : h;
  *port = static_cast<uint16_t>(n);
  return Status::Ok();
}

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

std::string PercentDecode(const std::string& text, bool plus_is_space) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
      out += static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2]));
      i += 2;
    } else {
      out += plus_is_space && text[i] == '+' ? ' ' : text[i];
    }
  }
  return out;
}

}  // namespace jobgate::http
