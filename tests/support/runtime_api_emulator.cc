#include "support/runtime_api_emulator.h"

#include <chrono>

#include <httplib.h>

namespace jobgate::test {

namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr const char* kPrefix = "/2018-06-01/runtime";

}  // namespace

RuntimeApiEmulator::RuntimeApiEmulator() : server_(std::make_unique<httplib::Server>()) {
  // One connection serves the runtime's whole life, as Lambda's does.
  server_->set_keep_alive_max_count(1'000'000);
  server_->set_keep_alive_timeout(600);
  Install();
  port_ = server_->bind_to_any_port("127.0.0.1");
  // Bound and listening already: a client that comes before the thread
  // accepts waits in the backlog.
  listener_ = std::thread([this] { server_->listen_after_bind(); });
}

RuntimeApiEmulator::~RuntimeApiEmulator() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  server_->stop();
  listener_.join();
}

std::string RuntimeApiEmulator::address() const { return "127.0.0.1:" + std::to_string(port_); }

std::string RuntimeApiEmulator::Push(const std::string& body, int64_t timeout_ms, const std::string& trace_id) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string id = "req-" + std::to_string(++pushed_) + "-" + std::to_string(NowMs());
  queue_.push_back(Pending{id, body, timeout_ms, trace_id});
  cv_.notify_all();
  return id;
}

bool RuntimeApiEmulator::HandNext(Pending& out, int64_t& deadline_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  ++next_calls_;
  cv_.notify_all();
  cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
  if (queue_.empty()) return false;
  out = queue_.front();
  queue_.pop_front();
  deadline_ms = NowMs() + out.timeout_ms;
  deadlines_[out.request_id] = deadline_ms;
  return true;
}

void RuntimeApiEmulator::Record(Answer answer) {
  std::lock_guard<std::mutex> lock(mu_);
  answer.arrived_ms = NowMs();
  auto it = deadlines_.find(answer.request_id);
  answer.deadline_ms = it == deadlines_.end() ? 0 : it->second;
  std::string id = answer.request_id;
  answers_[id] = std::move(answer);
  cv_.notify_all();
}

void RuntimeApiEmulator::Install() {
  server_->Get(std::string(kPrefix) + "/invocation/next", [this](const httplib::Request&, httplib::Response& res) {
    Pending p;
    int64_t deadline = 0;
    if (!HandNext(p, deadline)) {
      res.status = 500;
      return;
    }
    res.set_header("Lambda-Runtime-Aws-Request-Id", p.request_id);
    res.set_header("Lambda-Runtime-Deadline-Ms", std::to_string(deadline));
    res.set_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:eu-west-1:123456789012:function:jobgate");
    res.set_header("Lambda-Runtime-Trace-Id", p.trace_id);
    res.set_content(p.body, "application/json");
  });
  server_->Post(std::string(kPrefix) + R"(/invocation/([^/]+)/(response|error))",
                [this](const httplib::Request& req, httplib::Response& res) {
                  Answer a;
                  a.request_id = req.matches[1];
                  a.is_error = req.matches[2] == "error";
                  a.error_type = req.get_header_value("Lambda-Runtime-Function-Error-Type");
                  a.body = req.body;
                  Record(std::move(a));
                  res.status = 202;
                  res.set_content(R"({"status":"OK"})", "application/json");
                });
  server_->Post(std::string(kPrefix) + "/init/error", [this](const httplib::Request& req, httplib::Response& res) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      init_error_ = req.body;
    }
    cv_.notify_all();
    res.status = 202;
  });
}

std::optional<RuntimeApiEmulator::Answer> RuntimeApiEmulator::WaitAnswer(const std::string& request_id,
                                                                          int64_t wait_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] { return answers_.count(request_id) > 0; });
  auto it = answers_.find(request_id);
  if (it == answers_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> RuntimeApiEmulator::WaitInitError(int64_t wait_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] { return init_error_.has_value(); });
  return init_error_;
}

bool RuntimeApiEmulator::WaitNextCalls(int count, int64_t wait_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] { return next_calls_ >= count; });
}

int RuntimeApiEmulator::next_calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_calls_;
}

}  // namespace jobgate::test
