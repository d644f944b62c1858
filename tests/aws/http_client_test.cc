// The libcurl client against a scripted HTTP/1.1 server on 127.0.0.1: what
// it sends, what it returns, the connection it keeps, and how it reports a
// server that refuses, hangs or hangs up.
#include "aws/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace jobgate {
namespace {

// One listening socket on 127.0.0.1 and a thread that serves the
// connections it accepts, one at a time: each request (headers and a
// Content-Length body) is recorded and answered by `reply`, which may also
// close the connection or stall.
class LoopbackServer {
 public:
  struct Seen {
    std::string head;  // request line and headers
    std::string body;
    int connection = 0;  // which accepted connection it came on (1, 2, ...)
  };
  // Returns the raw response to write; empty: close the connection without
  // answering.
  using Reply = std::function<std::string(const Seen&)>;

  explicit LoopbackServer(Reply reply) : reply_(std::move(reply)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(listen_fd_, 4) != 0) {
      ADD_FAILURE() << "cannot listen on 127.0.0.1";
      return;
    }
    socklen_t len = sizeof addr;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~LoopbackServer() {
    stop_ = true;
    shutdown(listen_fd_, SHUT_RDWR);
    close(listen_fd_);
    if (thread_.joinable()) thread_.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }
  std::vector<Seen> seen() const {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  void Serve() {
    int connection = 0;
    while (!stop_) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      ++connection;
      ServeConnection(fd, connection);
      close(fd);
    }
  }

  void ServeConnection(int fd, int connection) {
    std::string buffer;
    while (!stop_) {
      Seen seen;
      if (!ReadRequest(fd, buffer, seen)) return;
      seen.connection = connection;
      {
        std::lock_guard lock(mu_);
        seen_.push_back(seen);
      }
      const std::string response = reply_(seen);
      if (response.empty()) return;  // hang up
      if (write(fd, response.data(), response.size()) != static_cast<ssize_t>(response.size())) return;
    }
  }

  static bool ReadRequest(int fd, std::string& buffer, Seen& seen) {
    size_t end;
    while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
      if (!ReadMore(fd, buffer)) return false;
    }
    seen.head = buffer.substr(0, end);
    size_t length = 0;
    for (const char* name : {"Content-Length: ", "content-length: "}) {
      if (size_t at = seen.head.find(name); at != std::string::npos) length = std::stoul(seen.head.substr(at + 16));
    }
    while (buffer.size() < end + 4 + length) {
      if (!ReadMore(fd, buffer)) return false;
    }
    seen.body = buffer.substr(end + 4, length);
    buffer.erase(0, end + 4 + length);
    return true;
  }

  static bool ReadMore(int fd, std::string& buffer) {
    char chunk[4096];
    const ssize_t n = read(fd, chunk, sizeof chunk);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<size_t>(n));
    return true;
  }

  Reply reply_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<Seen> seen_;
  std::thread thread_;
};

std::string Ok(const std::string& body, const std::string& extra_headers = "") {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n" + body;
}

std::unique_ptr<CurlHttpClient> Client(HttpClientOptions options = {}) {
  auto client = CurlHttpClient::Create(options);
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return client.ok() ? std::move(client.value()) : nullptr;
}

HttpRequest Post(const std::string& url, std::string body) {
  HttpRequest r;
  r.url = url;
  r.headers = {{"Content-Type", "application/x-amz-json-1.0"}, {"X-Amz-Target", "DynamoDB_20120810.GetItem"}};
  r.body = std::move(body);
  return r;
}

TEST(HttpClient, SendsTheRequestAsGivenAndReturnsStatusHeadersAndBody) {
  LoopbackServer server([](const LoopbackServer::Seen&) {
    return Ok("{\"Item\":{}}", "Date: Wed, 02 Dec 2026 03:00:00 GMT\r\n");
  });
  auto client = Client();
  ASSERT_NE(client, nullptr);
  HttpResult r = client->Send(Post(server.url(), "{\"TableName\":\"job_control\"}"));
  ASSERT_TRUE(std::holds_alternative<HttpResponse>(r)) << std::get<TransportError>(r).message;
  const HttpResponse& response = std::get<HttpResponse>(r);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "{\"Item\":{}}");
  EXPECT_EQ(response.Header("date"), "Wed, 02 Dec 2026 03:00:00 GMT") << "header names compare case-insensitively";
  EXPECT_EQ(response.Header("X-Missing"), std::nullopt);
  const auto seen = server.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].head.substr(0, 16), "POST / HTTP/1.1\r");
  EXPECT_NE(seen[0].head.find("X-Amz-Target: DynamoDB_20120810.GetItem"), std::string::npos) << seen[0].head;
  EXPECT_EQ(seen[0].body, "{\"TableName\":\"job_control\"}");
}

TEST(HttpClient, KeepsTheConnectionBetweenRequests) {
  LoopbackServer server([](const LoopbackServer::Seen&) { return Ok("{}"); });
  auto client = Client();
  ASSERT_NE(client, nullptr);
  for (int i = 0; i < 3; ++i) {
    HttpResult r = client->Send(Post(server.url(), "{}"));
    ASSERT_TRUE(std::holds_alternative<HttpResponse>(r));
  }
  const auto seen = server.seen();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[2].connection, 1) << "one TCP connection for all three (keep-alive)";
}

TEST(HttpClient, AServerErrorIsAResponseNotATransportError) {
  LoopbackServer server([](const LoopbackServer::Seen&) {
    const std::string body = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#InternalServerError\"}";
    return "HTTP/1.1 500 Internal Server Error\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  });
  auto client = Client();
  ASSERT_NE(client, nullptr);
  HttpResult r = client->Send(Post(server.url(), "{}"));
  ASSERT_TRUE(std::holds_alternative<HttpResponse>(r));
  EXPECT_EQ(std::get<HttpResponse>(r).status, 500);
}

TEST(HttpClient, NobodyListeningIsAConnectFailureWithNothingSent) {
  int port = 0;
  {
    LoopbackServer closed([](const LoopbackServer::Seen&) { return std::string(); });
    port = std::stoi(closed.url().substr(17));
  }  // the port is free again: nothing listens there
  auto client = Client();
  ASSERT_NE(client, nullptr);
  HttpResult r = client->Send(Post("http://127.0.0.1:" + std::to_string(port) + "/", "{}"));
  ASSERT_TRUE(std::holds_alternative<TransportError>(r));
  EXPECT_EQ(std::get<TransportError>(r).kind, TransportErrorKind::kConnectFailed);
  EXPECT_FALSE(std::get<TransportError>(r).request_sent) << "a refused connection sent nothing";
}

TEST(HttpClient, AServerThatHangsUpAfterTheRequestMayHaveAppliedIt) {
  LoopbackServer server([](const LoopbackServer::Seen&) { return std::string(); });  // reads, then closes
  auto client = Client();
  ASSERT_NE(client, nullptr);
  HttpResult r = client->Send(Post(server.url(), "{\"Update\":1}"));
  ASSERT_TRUE(std::holds_alternative<TransportError>(r));
  EXPECT_TRUE(std::get<TransportError>(r).request_sent) << "the request went out: a write may have landed";
  EXPECT_FALSE(server.seen().empty());
}

TEST(HttpClient, AServerThatNeverAnswersTimesOut) {
  std::atomic<bool> release{false};
  LoopbackServer server([&](const LoopbackServer::Seen&) {
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return std::string();
  });
  auto client = Client(HttpClientOptions{500, 800, ""});
  ASSERT_NE(client, nullptr);
  const auto start = std::chrono::steady_clock::now();
  HttpResult r = client->Send(Post(server.url(), "{}"));
  const auto took = std::chrono::steady_clock::now() - start;
  release = true;
  ASSERT_TRUE(std::holds_alternative<TransportError>(r));
  EXPECT_EQ(std::get<TransportError>(r).kind, TransportErrorKind::kTimedOut);
  EXPECT_TRUE(std::get<TransportError>(r).request_sent);
  EXPECT_LT(took, std::chrono::seconds(5)) << "the total timeout bounds the exchange";
}

}  // namespace
}  // namespace jobgate

namespace jobgate {
namespace {

TEST(CaFile, TheFirstReadableCandidateIsTrusted) {
  char tmpl[] = "/tmp/jobgate-ca-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string second = dir + "/b.pem", third = dir + "/c.pem";
  std::ofstream(second) << "x";
  std::ofstream(third) << "x";
  EXPECT_EQ(FirstReadableFile({dir + "/a.pem", second, third}), second);
  EXPECT_EQ(FirstReadableFile({dir + "/a.pem"}), "");
  std::filesystem::remove_all(dir);
  // Debian's path (this machine's) comes first, then Amazon Linux's.
  ASSERT_GE(CaFileCandidates().size(), 2u);
  EXPECT_EQ(CaFileCandidates()[0], "/etc/ssl/certs/ca-certificates.crt");
  EXPECT_EQ(CaFileCandidates()[1], "/etc/pki/tls/certs/ca-bundle.crt");
}

}  // namespace
}  // namespace jobgate
