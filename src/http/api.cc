#include "http/api.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "run/outcome_json.h"
#include "store/item_codec.h"
#include "util/numbers.h"
#include "util/text.h"

namespace jobgate::http {

namespace {

using Json = nlohmann::ordered_json;

constexpr int64_t kDefaultRunsLimit = 20;
constexpr int64_t kMaxRunsLimit = 200;
constexpr int64_t kMaxRunsOffset = 10'000;

Response JsonResponse(int status, const Json& body) {
  Response r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

// The host a request names, without its port: "localhost", "127.0.0.1", "::1".
std::string HostOf(const std::string& header) {
  if (!header.empty() && header.front() == '[') return header.substr(1, header.find(']') - 1);
  return header.substr(0, header.find(':'));
}

// A query parameter that must be an integer in [lo, hi]; `fallback` when absent.
Result<int64_t> IntParam(const Request& req, const std::string& name, int64_t fallback, int64_t lo, int64_t hi) {
  auto it = req.query.find(name);
  if (it == req.query.end()) return fallback;
  int64_t n = 0;
  if (!ParseInt64(it->second, &n) || n < lo || n > hi) {
    return Status::InvalidArgument(
        fmt::format("query parameter '{}': '{}' is not a number from {} to {}", name, it->second, lo, hi));
  }
  return n;
}

// A POST body: empty or a JSON object whose keys are all in `allowed`.
Result<Json> Body(const Request& req, std::initializer_list<const char*> allowed) {
  if (req.body.empty()) return Json::object();
  Json j = Json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::InvalidArgument("body: not a JSON object");
  for (const auto& [key, value] : j.items()) {
    if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; })) {
      return Status::InvalidArgument(fmt::format("body: unknown field '{}'", key));
    }
  }
  return j;
}

Json JobJson(const JobState& s, const JobDefinition* def) {
  Json j = StateJson(s);
  j["schedule"] = def != nullptr && !def->schedule.empty() ? Json(def->schedule) : Json(nullptr);
  return j;
}

Response MethodNotAllowed(const char* allow) {
  Response r = Api::Error(405, "method_not_allowed", fmt::format("only {} is allowed here", allow));
  r.headers.emplace_back("Allow", allow);
  return r;
}

}  // namespace

Api::Api(Store& store, Clock& clock, Random& random, ApiOptions options)
    : store_(store), clock_(clock), random_(random), options_(std::move(options)) {}

Response Api::Error(int status, const std::string& code, const std::string& message) {
  return JsonResponse(status, Json{{"error", {{"code", code}, {"message", message}}}});
}

Response Api::ErrorFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk:
    case StatusCode::kInternal:
      return Error(500, "internal", s.message());
    case StatusCode::kInvalidArgument:
      return Error(400, "bad_request", s.message());
    case StatusCode::kCorrupt:
      return Error(500, "corrupt", s.message());
    case StatusCode::kNotFound:
      return Error(404, "not_found", s.message());
    case StatusCode::kUnavailable:
      return Error(503, "unavailable", s.message());
    case StatusCode::kContended:
      return Error(409, "conflict", s.message());
  }
  return Error(500, "internal", s.message());
}

const char* Api::RouteName(const Request& req) {
  const auto& p = req.path;
  if (p.size() == 1 && (p[0] == "healthz" || p[0] == "readyz" || p[0] == "metrics")) {
    return p[0] == "healthz" ? "healthz" : p[0] == "readyz" ? "readyz" : "metrics";
  }
  if (p.size() >= 3 && p.size() <= 5 && p[0] == "api" && p[1] == "v1" && p[2] == "jobs") {
    if (p.size() == 3) return "jobs";
    if (p.size() == 4) return "job";
    for (const char* route : {"runs", "pause", "resume", "trigger", "unlock"}) {
      if (p[4] == route) return route;
    }
    return "other";
  }
  if (p.size() <= 1 && FindAsset(p.empty() ? "/" : "/" + p[0]) != nullptr) return "asset";
  return "other";
}

bool TokenEquals(const std::string& given, const std::string& expected) {
  unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    const unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    diff |= static_cast<unsigned char>(g ^ static_cast<unsigned char>(expected[i]));
  }
  return diff == 0;
}

std::optional<Response> Api::Refuse(const Request& req, bool mutation) const {
  const std::string auth = req.Header("authorization");
  const bool bearer = auth.size() > 7 && AsciiLower(auth.substr(0, 7)) == "bearer ";
  const bool valid = bearer && !options_.token.empty() && TokenEquals(auth.substr(7), options_.token);
  if (valid) return std::nullopt;
  if (mutation && options_.token.empty()) {
    return Error(403, "forbidden", "changes are disabled: serve was started without --http-token-file");
  }
  if (!mutation && req.from_loopback && IsLoopbackHost(HostOf(req.Header("host")))) return std::nullopt;
  Response r =
      Error(401, "unauthorized", bearer ? "the bearer token is not valid" : "this needs 'Authorization: Bearer TOKEN'");
  r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"jobgate\"");
  return r;
}

Response Api::Handle(const Request& req) {
  const auto& p = req.path;
  const bool get = req.method == "GET" || req.method == "HEAD";
  if (p.size() == 1 && (p[0] == "healthz" || p[0] == "readyz")) {
    if (!get) return MethodNotAllowed("GET");
    return p[0] == "healthz" ? JsonResponse(200, Json{{"status", "ok"}}) : Ready();
  }
  if (p.size() == 1 && p[0] == "metrics" && options_.metrics) {
    if (!get) return MethodNotAllowed("GET");
    if (auto refused = Refuse(req, false)) return *refused;
    Response r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    std::lock_guard lock(store_mu_);
    r.body = options_.metrics(store_);
    return r;
  }
  if (p.size() < 3 || p[0] != "api" || p[1] != "v1" || p[2] != "jobs") {
    const Asset* asset = p.size() <= 1 ? FindAsset(p.empty() ? "/" : "/" + p[0]) : nullptr;
    if (asset == nullptr) return Error(404, "not_found", fmt::format("no such resource: {}", req.raw_path));
    if (!get) return MethodNotAllowed("GET");
    Response r;
    r.content_type = asset->content_type;
    r.body.assign(reinterpret_cast<const char*>(asset->data), asset->size);
    r.headers.emplace_back("Cache-Control", "no-cache");
    r.headers.emplace_back("Content-Security-Policy",
                           "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'");
    return r;
  }
  const bool mutation = p.size() == 5 && p[4] != "runs";
  if (p.size() > 5) return Error(404, "not_found", fmt::format("no such resource: {}", req.raw_path));
  if (mutation ? req.method != "POST" : !get) return MethodNotAllowed(mutation ? "POST" : "GET");
  if (auto refused = Refuse(req, mutation)) return *refused;
  std::lock_guard lock(store_mu_);
  if (p.size() == 3) return Jobs(req);
  if (p.size() == 4) return Job(p[3]);
  if (p[4] == "runs") return Runs(p[3], req);
  return Mutate(p[3], p[4], req);
}

Response Api::Ready() {
  std::lock_guard lock(store_mu_);
  // One read of a name no job can have (DESIGN.md: no '#'): the store's
  // cheapest round trip on every backend.
  auto probe = store_.ReadState("#readyz");
  if (!probe.ok()) return Error(503, "unavailable", probe.status().message());
  return JsonResponse(200, Json{{"status", "ready"}, {"store", options_.store_label}});
}

Response Api::Jobs(const Request& req) {
  std::optional<JobStatus> only;
  if (auto it = req.query.find("status"); it != req.query.end()) {
    auto parsed = ParseJobStatus(AsciiUpper(it->second));
    if (!parsed.ok()) {
      return Error(400, "bad_request",
                   fmt::format("query parameter 'status': '{}' is not one of idle, running, paused", it->second));
    }
    only = *parsed;
  }
  auto states = store_.ListStates();
  if (!states.ok()) return ErrorFor(states.status());
  auto defs = store_.ListDefinitions();
  if (!defs.ok()) return ErrorFor(defs.status());
  std::map<std::string, std::pair<std::optional<JobState>, const JobDefinition*>> jobs;
  for (const JobState& s : *states) jobs[s.job].first = s;
  for (const JobDefinition& d : *defs) jobs[d.job].second = &d;
  Json list = Json::array();
  for (auto& [name, job] : jobs) {
    JobState s = job.first.value_or(JobState{});
    s.job = name;
    if (!only || s.status == *only) list.push_back(JobJson(s, job.second));
  }
  return JsonResponse(200, Json{{"now", FormatRfc3339(clock_.NowMs())}, {"jobs", std::move(list)}});
}

Response Api::Job(const std::string& job) {
  auto state = store_.ReadState(job);
  if (!state.ok()) return ErrorFor(state.status());
  auto def = store_.ReadDefinition(job);
  if (!def.ok()) return ErrorFor(def.status());
  if (!*state && !*def) return Error(404, "not_found", fmt::format("no job '{}'", job));
  Json body{{"now", FormatRfc3339(clock_.NowMs())}, {"job", job}};
  body["state"] = *state ? StateJson(**state) : Json(nullptr);
  body["definition"] = *def ? Json::parse(DefinitionToJson(**def)) : Json(nullptr);
  return JsonResponse(200, body);
}

Result<bool> Api::Exists(const std::string& job) {
  JOBGATE_ASSIGN_OR_RETURN(std::optional<JobState> state, store_.ReadState(job));
  if (state) return true;
  JOBGATE_ASSIGN_OR_RETURN(std::optional<JobDefinition> def, store_.ReadDefinition(job));
  return def.has_value();
}

Response Api::Runs(const std::string& job, const Request& req) {
  auto limit = IntParam(req, "limit", kDefaultRunsLimit, 1, kMaxRunsLimit);
  if (!limit.ok()) return ErrorFor(limit.status());
  auto offset = IntParam(req, "offset", 0, 0, kMaxRunsOffset);
  if (!offset.ok()) return ErrorFor(offset.status());
  auto exists = Exists(job);
  if (!exists.ok()) return ErrorFor(exists.status());
  if (!*exists) return Error(404, "not_found", fmt::format("no job '{}'", job));
  // Run records are few per job (trimmed to its history length): a page is
  // the newest offset+limit+1, sliced.
  auto runs = store_.ListRuns(job, static_cast<size_t>(*offset + *limit + 1));
  if (!runs.ok()) return ErrorFor(runs.status());
  Json list = Json::array();
  for (size_t i = static_cast<size_t>(*offset); i < runs->size() && list.size() < static_cast<size_t>(*limit); ++i) {
    list.push_back(RunJson((*runs)[i]));
  }
  const bool more = runs->size() > static_cast<size_t>(*offset + *limit);
  return JsonResponse(200, Json{{"job", job},
                                {"runs", std::move(list)},
                                {"limit", *limit},
                                {"offset", *offset},
                                {"next_offset", more ? Json(*offset + *limit) : Json(nullptr)}});
}

Response Api::Mutate(const std::string& job, const std::string& action, const Request& req) {
  if (action != "pause" && action != "resume" && action != "trigger" && action != "unlock") {
    return Error(404, "not_found", fmt::format("no such action '{}' (pause, resume, trigger, unlock)", action));
  }
  auto body = Body(req, action == "pause"    ? std::initializer_list<const char*>{"reason"}
                        : action == "unlock" ? std::initializer_list<const char*>{"fence"}
                                             : std::initializer_list<const char*>{});
  if (!body.ok()) return ErrorFor(body.status());
  auto exists = Exists(job);
  if (!exists.ok()) return ErrorFor(exists.status());
  if (!*exists) return Error(404, "not_found", fmt::format("no job '{}'", job));
  Controller controller(store_, clock_, random_);
  if (action == "unlock") {
    auto fence = body->find("fence");
    if (fence == body->end() || !fence->is_number_integer() || fence->get<int64_t>() <= 0) {
      return Error(400, "bad_request", "body field 'fence': required, the positive fence of the run to release");
    }
    auto released = controller.Unlock(job, fence->get<int64_t>());
    if (!released.ok()) return ErrorFor(released.status());
    if (*released == 0) {
      return Error(
          409, "conflict",
          fmt::format("job '{}' is not running under fence {}; nothing was unlocked", job, fence->get<int64_t>()));
    }
    return JsonResponse(200, Json{{"job", job}, {"released_fence", *released}});
  }
  Status st;
  if (action == "pause") {
    auto reason = body->find("reason");
    if (reason != body->end() && !reason->is_string()) {
      return Error(400, "bad_request", "body field 'reason': must be a string");
    }
    st = controller.Pause(job, reason == body->end() ? "" : reason->get<std::string>());
  } else {
    st = action == "resume" ? controller.Resume(job) : controller.Trigger(job);
  }
  if (!st.ok()) return ErrorFor(st);
  auto after = store_.ReadState(job);
  if (!after.ok()) return ErrorFor(after.status());
  Json out{{"job", job}};
  out["status"] = *after ? Json(JobStatusName((*after)->status)) : Json(nullptr);
  if (action == "trigger") out["triggered"] = true;
  return JsonResponse(200, out);
}

}  // namespace jobgate::http
