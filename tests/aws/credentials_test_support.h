// What the credential tests share: a local HTTP server on 127.0.0.1 (cpp-
// httplib, port chosen by the kernel), a temporary directory, a logger that
// keeps its lines, and the check that no secret appears in a text.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>

#include "jobgate/logger.h"

namespace jobgate::credentials_test {

namespace fs = std::filesystem;

// Secret-looking values the tests hand out; none may appear in a message.
inline constexpr const char* kSecretKey = "SECRETkeySECRETkeySECRETkey0123456789abc";
inline constexpr const char* kSessionToken = "SESSIONtokenSESSIONtokenSESSIONtoken0123";
inline constexpr const char* kWebIdentityToken = "WEBidentityTOKENeyJhbGciOiJSUzI1NiJ9.x.y";
inline constexpr const char* kSsoAccessToken = "SSOaccessTOKENaoaAAAAAGV4cGlyZWQ";
inline constexpr const char* kContainerToken = "CONTAINERauthTOKEN0123456789";

inline void ExpectNoSecret(const std::string& text) {
  for (const char* secret : {kSecretKey, kSessionToken, kWebIdentityToken, kSsoAccessToken, kContainerToken}) {
    EXPECT_EQ(text.find(secret), std::string::npos) << "secret leaked: " << text;
  }
}

// An HTTP server on 127.0.0.1: add routes with server(), then Start().
class LocalServer {
 public:
  ~LocalServer() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  httplib::Server& server() { return server_; }
  void Start() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 500 && !server_.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int hits() const { return hits_; }
  void Hit() { ++hits_; }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> hits_{0};
};

// A TCP socket bound to a port of 127.0.0.1 the kernel chose, listening
// when `backlog` > 0; its port in `*port`.
inline int LoopbackSocket(int backlog, int* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (backlog > 0) listen(fd, backlog);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

// A port on 127.0.0.1 that nothing listens on: connections are refused.
inline int ClosedPort() {
  int port = 0;
  close(LoopbackSocket(0, &port));
  return port;
}

// A socket that listens but never accepts or answers: a request to it
// connects (the kernel completes the handshake) and then times out.
class SilentListener {
 public:
  SilentListener() { fd_ = LoopbackSocket(8, &port_); }
  ~SilentListener() { close(fd_); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A fresh directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "jobgate-creds-XXXXXX").string();
    EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  // Writes `text` to `name` (parents created); the full path.
  std::string Write(const std::string& name, const std::string& text, fs::perms perms = fs::perms::owner_read |
                                                                                       fs::perms::owner_write) const {
    const fs::path p = path_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    fs::permissions(p, perms);
    return p.string();
  }

 private:
  fs::path path_;
};

// Keeps every line logged, at every level.
class CapturingLogger final : public Logger {
 public:
  bool Enabled(LogLevel) const override { return true; }
  void Log(LogLevel, std::string_view message) override {
    std::lock_guard lock(mu_);
    lines_.emplace_back(message);
  }
  std::vector<std::string> lines() const {
    std::lock_guard lock(mu_);
    return lines_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

// A JSON credentials document as the container agent and IMDS write it.
inline std::string CredentialsJson(const std::string& id, const std::string& expiration) {
  return R"({"Code":"Success","Type":"AWS-HMAC","AccessKeyId":")" + id + R"(","SecretAccessKey":")" + kSecretKey +
         R"(","Token":")" + kSessionToken + R"(","Expiration":")" + expiration + R"("})";
}

}  // namespace jobgate::credentials_test
