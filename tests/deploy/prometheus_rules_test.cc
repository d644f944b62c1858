// deploy/prometheus/jobgate-alerts.yml and docs/operations.md's metrics
// table against serve's exposition (ServeMetrics after a scrape): every
// metric an alert uses exists, with the suffixes its type has; every family
// serve exposes is documented with its type and labels; the docs show the
// rules file as it is.
#include <yaml-cpp/yaml.h>

#include <cstring>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "deploy/serve_deploy_support.h"
#include "scheduler/serve_metrics.h"
#include "store/memory_store.h"

namespace jobgate::deploy_test {
namespace {

struct FamilyInfo {
  std::string type;
  std::set<std::string> labels;
};

// name -> type and label names, from the exposition of a serve that saw a
// run, a skip, a store call and a scrape of a store with one job.
std::map<std::string, FamilyInfo> Exposed() {
  ServeMetrics m("test");
  MemoryStore store;
  JobState s;
  s.job = "backup";
  s.version = 1;
  s.last_success_ts = 1'700'000'000'000;
  s.next_fire_ts = 1'700'000'060'000;
  EXPECT_TRUE(store.CreateState(s).ok());
  InstrumentedStore measured(store, m);
  m.Pass(1'700'000'000'000, true, 0);
  m.Started("backup", 1'700'000'000'000, 1'700'000'000'010);
  m.Ended({"backup", 0, R"({"outcome":"succeeded","duration_ms":5,"clock_offset_ms":2,
              "took_over":{"fence":3,"cause":"lease_expired"}})",
           5});
  m.HttpRequest("jobs", 200, 0.001);
  m.Ended({"backup", 0, R"({"outcome":"skipped","reason":"running"})", 1});
  m.Ended({"backup", 69, "", 1});
  (void)measured.ReadState("x");
  m.StoreCall("list_due", 0.001, Status::Unavailable("down"));
  const std::string text = m.Scrape(measured);
  std::map<std::string, FamilyInfo> out;
  std::istringstream in(text);
  const std::regex type_line(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$)");
  const std::regex sample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\})");
  const std::regex label(R"(([a-zA-Z_][a-zA-Z0-9_]*)=")");
  std::string family;
  for (std::string line; std::getline(in, line);) {
    std::smatch m2;
    if (std::regex_match(line, m2, type_line)) {
      family = m2[1];
      out[family].type = m2[2];
    } else if (std::regex_search(line, m2, sample)) {
      const std::string labels = m2[2];
      for (std::sregex_iterator it(labels.begin(), labels.end(), label), end; it != end; ++it) {
        if ((*it)[1] != "le") out[family].labels.insert((*it)[1]);
      }
    }
  }
  return out;
}

TEST(PrometheusRules, EveryMetricAnAlertUsesIsExposed) {
  const auto exposed = Exposed();
  ASSERT_GT(exposed.size(), 20u);
  YAML::Node rules = YAML::LoadFile(SourcePath("deploy/prometheus/jobgate-alerts.yml"));
  int alerts = 0;
  const std::regex metric(R"(jobgate_[a-z0-9_]+)");
  for (const auto& group : rules["groups"]) {
    for (const auto& rule : group["rules"]) {
      ASSERT_TRUE(rule["alert"] && rule["expr"]) << "every rule has alert and expr";
      ++alerts;
      const std::string expr = rule["expr"].as<std::string>();
      for (std::sregex_iterator it(expr.begin(), expr.end(), metric), end; it != end; ++it) {
        std::string name = (*it)[0];
        for (const char* suffix : {"_bucket", "_count", "_sum"}) {
          const std::string base = name.substr(0, name.size() - std::min(name.size(), std::strlen(suffix)));
          if (name.size() > std::strlen(suffix) && name.ends_with(suffix) && exposed.count(base) &&
              exposed.at(base).type == "histogram") {
            name = base;
          }
        }
        EXPECT_TRUE(exposed.count(name)) << rule["alert"].as<std::string>() << " uses " << (*it)[0]
                                         << ", which serve does not expose";
      }
    }
  }
  EXPECT_GE(alerts, 5);
}

TEST(PrometheusRules, TheDocsShowTheRulesFileAndEveryFamily) {
  const std::string docs = ReadSource("docs/operations.md");
  std::string rules = ReadSource("deploy/prometheus/jobgate-alerts.yml");
  rules = rules.substr(rules.find("groups:"));  // after the file's own comment
  EXPECT_NE(docs.find("```yaml\n" + rules + "```"), std::string::npos)
      << "docs/operations.md must show deploy/prometheus/jobgate-alerts.yml as it is";
  for (const auto& [name, info] : Exposed()) {
    const size_t row = docs.find("| `" + name + "` | ");
    ASSERT_NE(row, std::string::npos) << name << " is not in docs/operations.md's metrics table";
    const std::string line = docs.substr(row, docs.find('\n', row) - row);
    EXPECT_NE(line.find("| " + info.type + " |"), std::string::npos) << name << " is a " << info.type << ": " << line;
    for (const std::string& l : info.labels) {
      EXPECT_NE(line.find(l), std::string::npos) << name << "'s label " << l << " is not documented: " << line;
    }
  }
}

}  // namespace
}  // namespace jobgate::deploy_test
