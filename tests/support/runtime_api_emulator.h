// A Lambda Runtime API (2018-06-01) on 127.0.0.1 for the tests that drive
// `jobgate lambda` end to end: it hands out the invocations a test queues,
// with the headers Lambda sends, and records every answer with the time it
// arrived. An in-process cpp-httplib server; the destructor stops it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
}

namespace jobgate::test {

class RuntimeApiEmulator {
 public:
  struct Answer {
    std::string request_id;
    bool is_error = false;
    std::string error_type;  // Lambda-Runtime-Function-Error-Type of an error answer
    std::string body;
    int64_t deadline_ms = 0;  // the invocation's deadline (epoch ms)
    int64_t arrived_ms = 0;   // when the answer arrived (epoch ms)
  };

  RuntimeApiEmulator();
  ~RuntimeApiEmulator();
  RuntimeApiEmulator(const RuntimeApiEmulator&) = delete;
  RuntimeApiEmulator& operator=(const RuntimeApiEmulator&) = delete;

  // What AWS_LAMBDA_RUNTIME_API is set to: "127.0.0.1:PORT".
  std::string address() const;

  // Queues an invocation with `body` and a deadline `timeout_ms` from when
  // it is handed out; returns its request id.
  std::string Push(const std::string& body, int64_t timeout_ms = 30'000,
                   const std::string& trace_id = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1");

  // The answer to `request_id`, once it has come (nullopt after `wait_ms`).
  std::optional<Answer> WaitAnswer(const std::string& request_id, int64_t wait_ms = 30'000);
  // The body posted to init/error, once it has come.
  std::optional<std::string> WaitInitError(int64_t wait_ms = 10'000);
  // Waits until `count` invocation/next requests have arrived in all.
  bool WaitNextCalls(int count, int64_t wait_ms = 10'000);
  int next_calls() const;

 private:
  struct Pending {
    std::string request_id;
    std::string body;
    int64_t timeout_ms;
    std::string trace_id;
  };
  void Install();
  bool HandNext(Pending& out, int64_t& deadline_ms);
  void Record(Answer answer);

  std::unique_ptr<httplib::Server> server_;
  std::thread listener_;
  int port_ = 0;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  int next_calls_ = 0;
  int pushed_ = 0;
  std::deque<Pending> queue_;
  std::map<std::string, int64_t> deadlines_;
  std::map<std::string, Answer> answers_;
  std::optional<std::string> init_error_;
};

}  // namespace jobgate::test
