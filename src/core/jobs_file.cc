#include "core/jobs_file.h"

#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "core/duration.h"
#include "schedule/schedule.h"
#include "util/numbers.h"
#include "util/text.h"

namespace jobgate {

namespace {

using Setter = std::function<Status(const toml::node&, const std::string& where, JobDefinition&)>;

Status TypeError(const std::string& where, const char* want) {
  return Status::InvalidArgument(fmt::format("{}: must be {}", where, want));
}

Setter DurationKey(int64_t JobDefinition::*member) {
  return [member](const toml::node& n, const std::string& where, JobDefinition& d) -> Status {
    auto s = n.value<std::string>();
    if (!s) return TypeError(where, "a duration string such as \"90s\", \"15m\", \"1h30m\"");
    auto ms = ParseDurationMs(*s, where);
    if (!ms.ok()) return ms.status();
    d.*member = *ms;
    return Status::Ok();
  };
}

Setter IntKey(int64_t JobDefinition::*member) {
  return [member](const toml::node& n, const std::string& where, JobDefinition& d) -> Status {
    auto v = n.value_exact<int64_t>();
    if (!v) return TypeError(where, "an integer");
    d.*member = *v;
    return Status::Ok();
  };
}

Setter StringKey(std::string JobDefinition::*member) {
  return [member](const toml::node& n, const std::string& where, JobDefinition& d) -> Status {
    auto v = n.value<std::string>();
    if (!v) return TypeError(where, "a string");
    d.*member = *v;
    return Status::Ok();
  };
}

// A policy named by a string: `parse` gives nullopt for an unknown name.
template <typename Enum>
Setter PolicyKey(Enum JobDefinition::*member, std::optional<Enum> (*parse)(std::string_view), const char* names) {
  return [member, parse, names](const toml::node& n, const std::string& where, JobDefinition& d) -> Status {
    auto v = n.value<std::string>();
    if (!v) return TypeError(where, fmt::format("one of the strings {}", names).c_str());
    std::optional<Enum> policy = parse(*v);
    if (!policy) return Status::InvalidArgument(fmt::format("{}: {} is not one of {}", where, Quote(*v), names));
    d.*member = *policy;
    return Status::Ok();
  };
}

Status SetCommand(const toml::node& n, const std::string& where, JobDefinition& d) {
  if (auto s = n.value<std::string>()) {
    if (s->empty()) return Status::InvalidArgument(fmt::format("{}: must not be empty", where));
    d.command = {"/bin/sh", "-c", *s};
    return Status::Ok();
  }
  const toml::array* arr = n.as_array();
  if (!arr || arr->empty()) return TypeError(where, "a non-empty array of strings or a shell command string");
  d.command.clear();
  for (const auto& item : *arr) {
    auto s = item.value<std::string>();
    if (!s) return TypeError(where, "an array of strings");
    d.command.push_back(*s);
  }
  return Status::Ok();
}

Status SetRateLimit(const toml::node& n, const std::string& where, JobDefinition& d) {
  auto s = n.value<std::string>();
  if (!s) return TypeError(where, "a string \"N/DURATION\" such as \"10/1h\"");
  return ParseRateLimit(*s, where, d);
}

const std::map<std::string, Setter>& Keys() {
  static const std::map<std::string, Setter> keys = {
      {"command", SetCommand},
      {"cooldown", DurationKey(&JobDefinition::cooldown_ms)},
      {"timeout", DurationKey(&JobDefinition::timeout_ms)},
      {"lease", DurationKey(&JobDefinition::lease_ms)},
      {"max_clock_skew", DurationKey(&JobDefinition::max_clock_skew_ms)},
      {"backoff_base", DurationKey(&JobDefinition::backoff_base_ms)},
      {"backoff_cap", DurationKey(&JobDefinition::backoff_cap_ms)},
      {"park_after", IntKey(&JobDefinition::park_after)},
      {"rate_limit", SetRateLimit},
      {"overlap", PolicyKey(&JobDefinition::overlap, ParseOverlap, "skip, replace")},
      {"schedule", StringKey(&JobDefinition::schedule)},
      {"time_zone", StringKey(&JobDefinition::time_zone)},
      {"starting_deadline", DurationKey(&JobDefinition::starting_deadline_ms)},
      {"catch_up", PolicyKey(&JobDefinition::catch_up, ParseCatchUp, "latest, all, none")},
      {"catch_up_limit", IntKey(&JobDefinition::catch_up_limit)},
      {"kill_grace", DurationKey(&JobDefinition::kill_grace_ms)},
      {"request_ttl", DurationKey(&JobDefinition::request_ttl_ms)},
      {"keep_runs", IntKey(&JobDefinition::keep_runs)},
  };
  return keys;
}

std::string KnownKeys() {
  std::string out;
  for (const auto& [k, _] : Keys()) out += (out.empty() ? "" : ", ") + k;
  return out;
}

Result<JobDefinition> ParseJob(const std::string& name, const toml::table& t, const std::string& source) {
  JobDefinition d;
  d.job = name;
  for (const auto& [key, node] : t) {
    std::string k(key.str());
    std::string where = fmt::format("{}: jobs.{}.{}", source, name, k);
    auto it = Keys().find(k);
    if (it == Keys().end()) {
      return Status::InvalidArgument(fmt::format("{}: unknown key {} (known: {})", where, Quote(k), KnownKeys()));
    }
    JOBGATE_RETURN_IF_ERROR(it->second(node, where, d));
  }
  Status valid = ValidateDefinition(d);
  if (!valid.ok()) return Status::InvalidArgument(fmt::format("{}: {}", source, valid.message()));
  if (!d.schedule.empty() || t.contains("time_zone")) {
    // The expression and its zone are checked together: a zone alone is
    // refused, as a typo for a schedule the job does not have.
    if (d.schedule.empty()) {
      return Status::InvalidArgument(
          fmt::format("{}: jobs.{}.time_zone is set but the job has no schedule", source, name));
    }
    if (d.command.empty()) {
      return Status::InvalidArgument(
          fmt::format("{}: jobs.{}.schedule is set but the job has no command for the scheduler to run", source, name));
    }
    auto schedule = Schedule::Parse(d.schedule, d.time_zone);
    if (!schedule.ok()) {
      return Status::InvalidArgument(
          fmt::format("{}: jobs.{}.schedule: {}", source, name, schedule.status().message()));
    }
  }
  return d;
}

}  // namespace

Status ParseRateLimit(const std::string& text, const std::string& field, JobDefinition& def) {
  auto slash = text.find('/');
  int64_t count = 0;
  if (slash == std::string::npos || !ParseInt64(text.substr(0, slash), &count) || count <= 0 || count > 1000) {
    return Status::InvalidArgument(
        fmt::format("{}: {} is not a rate limit (use N/DURATION with N from 1 to 1000, e.g. \"10/1h\")", field,
                    Quote(text)));
  }
  auto window = ParseDurationMs(text.substr(slash + 1), field);
  if (!window.ok()) return window.status();
  if (*window <= 0) return Status::InvalidArgument(fmt::format("{}: the window of {} must be positive", field, Quote(text)));
  def.rate_limit_count = count;
  def.rate_limit_window_ms = *window;
  return Status::Ok();
}

Result<std::vector<JobDefinition>> ParseJobsToml(const std::string& text, const std::string& source) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    return Status::InvalidArgument(fmt::format("{}:{}:{}: {}", source, b.line, b.column, e.description()));
  }
  std::vector<JobDefinition> out;
  for (const auto& [key, node] : root) {
    if (key.str() != "jobs") {
      return Status::InvalidArgument(fmt::format("{}: unknown top-level key {} (expected [jobs.NAME] tables)",
                                                 source, Quote(std::string(key.str()))));
    }
  }
  const toml::table* jobs = root["jobs"].as_table();
  if (!jobs || jobs->empty()) {
    return Status::InvalidArgument(fmt::format("{}: no jobs (expected [jobs.NAME] tables)", source));
  }
  for (const auto& [name, node] : *jobs) {
    const toml::table* t = node.as_table();
    std::string job(name.str());
    if (!t) return Status::InvalidArgument(fmt::format("{}: jobs.{} must be a table", source, job));
    auto def = ParseJob(job, *t, source);
    if (!def.ok()) return def.status();
    out.push_back(std::move(*def));
  }
  return out;
}

Result<std::vector<JobDefinition>> LoadJobsFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument(fmt::format("{}: cannot be read", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseJobsToml(ss.str(), path);
}

}  // namespace jobgate
