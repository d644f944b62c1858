// SocketHttpClient (the Lambda Runtime API's transport): a differential
// test against libcurl (CurlHttpClient) on the same server, then the
// broken servers libcurl's answers cannot show (scripted bytes on a raw
// socket).
#include "aws/socket_http.h"

#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "aws/credentials_test_support.h"

namespace jobgate {
namespace {

using credentials_test::ClosedPort;
using credentials_test::LocalServer;

// What the comparison looks at: status, body and the headers that matter.
std::string Summary(const HttpResult& result) {
  if (const auto* error = std::get_if<TransportError>(&result)) {
    return std::string("error: ") + TransportErrorKindName(error->kind);
  }
  const auto& r = std::get<HttpResponse>(result);
  std::string out = std::to_string(r.status) + " " + std::to_string(r.body.size()) + " bytes";
  for (const char* name : {"Content-Type", "X-Reply", "Lambda-Runtime-Aws-Request-Id"}) {
    out += std::string(" ") + name + "=" + r.Header(name).value_or("-");
  }
  return out + "\n" + r.body;
}

class SocketHttpDifferential : public ::testing::Test {
 protected:
  void SetUp() override {
    auto& s = server_.server();
    s.Get("/hello", [](const httplib::Request& req, httplib::Response& res) {
      res.set_header("X-Reply", "agent=" + req.get_header_value("X-Ask"));
      res.set_content("hello " + req.get_param_value("who"), "text/plain");
    });
    s.Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
      res.status = 202;
      res.set_header("Lambda-Runtime-Aws-Request-Id", "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
      res.set_content(req.body + "|" + req.get_header_value("Content-Length"), "application/json");
    });
    s.Get("/big", [](const httplib::Request&, httplib::Response& res) {
      std::string body;
      for (int i = 0; body.size() < 3'000'000; ++i) body += std::to_string(i) + ",";
      res.set_content(body, "text/csv");
    });
    s.Get("/chunked", [](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("text/plain", [](size_t offset, httplib::DataSink& sink) {
        if (offset < 200'000) {
          const std::string piece(7'001, static_cast<char>('a' + offset % 26));
          sink.write(piece.data(), piece.size());
        } else {
          sink.done();
        }
        return true;
      });
    });
    s.Get("/empty", [](const httplib::Request&, httplib::Response& res) { res.status = 204; });
    s.Post("/fail", [](const httplib::Request&, httplib::Response& res) {
      res.status = 500;
      res.set_content(R"({"errorType": "x"})", "application/json");
    });
    server_.Start();
  }

  // Each request through both transports, each with its kept connection.
  void ExpectSame(const std::vector<HttpRequest>& requests) {
    auto curl = CurlHttpClient::Create();
    ASSERT_TRUE(curl.ok()) << curl.status().ToString();
    SocketHttpClient socket;
    for (const HttpRequest& r : requests) {
      SCOPED_TRACE(r.method + " " + r.url);
      const std::string expected = Summary((*curl)->Send(r));
      EXPECT_EQ(expected.substr(0, 6) == "error:", false) << expected;
      EXPECT_EQ(Summary(socket.Send(r)), expected);
    }
  }

  HttpRequest Get(const std::string& path, HttpHeaders headers = {}) {
    return HttpRequest{server_.url() + path, "GET", std::move(headers), ""};
  }
  HttpRequest Post(const std::string& path, std::string body) {
    return HttpRequest{server_.url() + path, "POST", {{"Content-Type", "application/json"}}, std::move(body)};
  }

  LocalServer server_;
};

TEST_F(SocketHttpDifferential, TheSameRequestsGetTheSameAnswersAsFromLibcurl) {
  ExpectSame({Get("/hello?who=world", {{"X-Ask", "jobgate"}}), Post("/echo", R"({"ok": true})"), Post("/echo", ""),
              Get("/big"), Get("/chunked"), Get("/empty"), Post("/fail", "{}"), Get("/missing"),
              Get("/hello?who=again")});
}

TEST_F(SocketHttpDifferential, ServerThatClosesAfterEveryAnswer) {
  server_.server().set_keep_alive_max_count(1);
  ExpectSame({Get("/hello?who=1"), Post("/echo", "x"), Get("/hello?who=2"), Get("/chunked"), Post("/echo", "y")});
}

// ---- scripted servers -----------------------------------------------------------

// Accepts connections on 127.0.0.1 and answers each request read from them
// with the next of `answers` (raw bytes); a "" answer closes the connection
// without a word, "hang" never answers. After its answer a connection is
// closed when `close_after` says so.
class ScriptedServer {
 public:
  ScriptedServer(std::vector<std::string> answers, bool close_after)
      : answers_(std::move(answers)), close_after_(close_after) {
    listen_fd_ = credentials_test::LoopbackSocket(8, &port_);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedServer() {
    stop_ = true;
    shutdown(listen_fd_, SHUT_RDWR);
    close(listen_fd_);
    thread_.join();
  }
  std::string url(const std::string& path = "/x") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int connections() const { return connections_; }
  int requests() const { return requests_; }

 private:
  void Serve() {
    size_t next = 0;
    while (!stop_) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      ++connections_;
      bool open = true;
      while (open && next < answers_.size() && ReadRequest(fd)) {
        ++requests_;
        const std::string& answer = answers_[next++];
        if (answer == "hang") {
          std::this_thread::sleep_for(std::chrono::milliseconds(600));
          break;
        }
        if (answer.empty()) break;
        (void)!write(fd, answer.data(), answer.size());
        open = !close_after_;
      }
      close(fd);
    }
  }
  // Reads one request (head and Content-Length body); false at EOF.
  static bool ReadRequest(int fd) {
    std::string in;
    char c[4096];
    while (in.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = read(fd, c, sizeof c);
      if (n <= 0) return false;
      in.append(c, static_cast<size_t>(n));
    }
    size_t length = 0;
    if (const size_t at = in.find("Content-Length: "); at != std::string::npos) length = std::stoul(in.substr(at + 16));
    while (in.size() < in.find("\r\n\r\n") + 4 + length) {
      const ssize_t n = read(fd, c, sizeof c);
      if (n <= 0) return false;
      in.append(c, static_cast<size_t>(n));
    }
    return true;
  }

  std::vector<std::string> answers_;
  bool close_after_;
  int listen_fd_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

std::string Body(const HttpResult& r) {
  const auto* response = std::get_if<HttpResponse>(&r);
  return response == nullptr ? "(error)" : std::to_string(response->status) + ":" + response->body;
}

TransportErrorKind KindOf(const HttpResult& r) {
  const auto* error = std::get_if<TransportError>(&r);
  EXPECT_NE(error, nullptr) << Body(r);
  return error == nullptr ? TransportErrorKind::kOther : error->kind;
}

HttpRequest GetOf(const std::string& url) { return HttpRequest{url, "GET", {}, ""}; }

TEST(SocketHttp, InterimContinueHttp10UntilCloseAndChunkExtensions) {
  ScriptedServer server({"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
                         "HTTP/1.0 200 OK\r\n\r\nuntil close"},
                        false);
  SocketHttpClient client;
  EXPECT_EQ(Body(client.Send(GetOf(server.url()))), "200:ok");
  EXPECT_EQ(Body(client.Send(GetOf(server.url()))), "200:abc");
  EXPECT_EQ(Body(client.Send(GetOf(server.url()))), "200:until close");
  EXPECT_EQ(server.connections(), 1);
}

// A kept connection the server closed in between: the request goes again
// on a new connection, once.
TEST(SocketHttp, AStaleKeptConnectionIsReopened) {
  ScriptedServer server(
      {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na", "", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"}, false);
  SocketHttpClient client;
  EXPECT_EQ(Body(client.Send(GetOf(server.url()))), "200:a");
  EXPECT_EQ(Body(client.Send(GetOf(server.url()))), "200:b");
  EXPECT_EQ(server.connections(), 2);
  EXPECT_EQ(server.requests(), 3);
}

TEST(SocketHttp, BrokenServersAreTransportErrors) {
  {
    ScriptedServer garbage({"SSH-2.0-OpenSSH_9.2\r\n\r\n"}, true);
    EXPECT_EQ(KindOf(SocketHttpClient().Send(GetOf(garbage.url()))), TransportErrorKind::kOther);
  }
  {
    ScriptedServer cut({"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"}, true);
    EXPECT_EQ(KindOf(SocketHttpClient().Send(GetOf(cut.url()))), TransportErrorKind::kConnectionReset);
  }
  {
    ScriptedServer bad_chunk({"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"}, true);
    EXPECT_EQ(KindOf(SocketHttpClient().Send(GetOf(bad_chunk.url()))), TransportErrorKind::kOther);
  }
  {
    ScriptedServer silent({"hang"}, false);
    SocketHttpClient client(HttpClientOptions{2'000, 200, ""});
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(KindOf(client.Send(GetOf(silent.url()))), TransportErrorKind::kTimedOut);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(550));
  }
  const std::string refused = "http://127.0.0.1:" + std::to_string(ClosedPort()) + "/";
  EXPECT_EQ(KindOf(SocketHttpClient().Send(GetOf(refused))), TransportErrorKind::kConnectFailed);
  EXPECT_EQ(KindOf(SocketHttpClient().Send(GetOf("http://no-such-host.invalid/"))), TransportErrorKind::kResolveFailed);
  const HttpResult https = SocketHttpClient().Send(GetOf("https://127.0.0.1/"));
  EXPECT_EQ(KindOf(https), TransportErrorKind::kOther);
  EXPECT_FALSE(std::get<TransportError>(https).request_sent);
}

}  // namespace
}  // namespace jobgate
