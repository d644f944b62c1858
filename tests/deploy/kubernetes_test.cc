// deploy/kubernetes/jobgate.yaml against what `jobgate serve` does: several
// active replicas of `jobgate serve` on a store many hosts can share, a
// termination grace that outlasts serve's own stop (its --grace, then its
// SIGKILL of leftover runs, from SchedulerOptions), a disruption budget that
// keeps some replicas and still lets a node drain, and an init container
// that applies the ConfigMap's jobs.toml (which must parse) with the same
// image, binary and store as serve.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/jobs_file.h"
#include "deploy/serve_deploy_support.h"

namespace jobgate::deploy_test {
namespace {

const std::vector<YAML::Node>& Documents() {
  static const std::vector<YAML::Node> docs = YAML::LoadAllFromFile(SourcePath("deploy/kubernetes/jobgate.yaml"));
  return docs;
}

// The one object of `kind` named `name` ("" = the only one of its kind).
YAML::Node Object(const std::string& kind, const std::string& name = "") {
  YAML::Node found;
  int count = 0;
  for (const auto& d : Documents()) {
    if (!d.IsMap() || d["kind"].as<std::string>("") != kind) continue;
    if (!name.empty() && d["metadata"]["name"].as<std::string>("") != name) continue;
    found = d;
    ++count;
  }
  EXPECT_EQ(count, 1) << kind << " " << name;
  return found;
}

YAML::Node PodSpec() { return Object("Deployment")["spec"]["template"]["spec"]; }

YAML::Node Container(const char* list, const std::string& name) {
  for (const auto& c : PodSpec()[list]) {
    if (c["name"].as<std::string>("") == name) return c;
  }
  ADD_FAILURE() << "no " << list << " entry named " << name;
  return YAML::Node();
}

std::vector<std::string> Command(const YAML::Node& container) {
  std::vector<std::string> argv;
  for (const auto& a : container["command"]) argv.push_back(a.as<std::string>());
  for (const auto& a : container["args"]) argv.push_back(a.as<std::string>());
  return argv;
}

// The store URL a container gets: --store, else JOBGATE_STORE from its env
// or from a ConfigMap in its envFrom.
std::string StoreUrl(const YAML::Node& container) {
  if (auto flag = FlagValue(Command(container), "--store")) return *flag;
  for (const auto& e : container["env"]) {
    if (e["name"].as<std::string>("") == "JOBGATE_STORE") return e["value"].as<std::string>("");
  }
  for (const auto& from : container["envFrom"]) {
    if (!from["configMapRef"]) continue;
    YAML::Node data = Object("ConfigMap", from["configMapRef"]["name"].as<std::string>())["data"];
    if (data["JOBGATE_STORE"]) return data["JOBGATE_STORE"].as<std::string>();
  }
  return "";
}

TEST(KubernetesManifest, RunsSeveralReplicasOfServe) {
  YAML::Node deployment = Object("Deployment");
  EXPECT_GE(deployment["spec"]["replicas"].as<int>(0), 2) << "active-active needs two or more";
  const auto argv = Command(Container("containers", "serve"));
  ASSERT_FALSE(argv.empty());
  EXPECT_TRUE(argv[0].ends_with("/jobgate")) << argv[0];
  EXPECT_NE(std::find(argv.begin(), argv.end(), "serve"), argv.end());
  // The pods are the ones the Deployment selects.
  for (const auto& label : deployment["spec"]["selector"]["matchLabels"]) {
    EXPECT_EQ(deployment["spec"]["template"]["metadata"]["labels"][label.first.as<std::string>()].as<std::string>(""),
              label.second.as<std::string>());
  }
}

TEST(KubernetesManifest, TerminationGraceOutlastsServesStop) {
  const int64_t pod_grace_ms = PodSpec()["terminationGracePeriodSeconds"].as<int64_t>(30) * 1000;
  EXPECT_GE(pod_grace_ms, ServeStopMs(Command(Container("containers", "serve"))) + kStopMarginMs);
}

TEST(KubernetesManifest, StoreIsSharedAcrossHosts) {
  ExpectSharedStore(StoreUrl(Container("containers", "serve")));
  EXPECT_EQ(StoreUrl(Container("initContainers", "apply")), StoreUrl(Container("containers", "serve")));
}

TEST(KubernetesManifest, EveryContainerRequestsResources) {
  for (const char* list : {"initContainers", "containers"}) {
    for (const auto& c : PodSpec()[list]) {
      EXPECT_TRUE(c["resources"]["requests"]["cpu"]) << c["name"];
      EXPECT_TRUE(c["resources"]["requests"]["memory"]) << c["name"];
    }
  }
}

TEST(KubernetesManifest, InitContainerAppliesTheJobsConfigMapWithServesImage) {
  YAML::Node apply = Container("initContainers", "apply");
  YAML::Node serve = Container("containers", "serve");
  EXPECT_EQ(apply["image"].as<std::string>(""), serve["image"].as<std::string>("-"));
  const auto argv = Command(apply);
  ASSERT_GE(argv.size(), 2u);
  EXPECT_EQ(argv[0], Command(serve)[0]);
  auto at = std::find(argv.begin(), argv.end(), "apply");
  ASSERT_NE(at, argv.end());
  ASSERT_NE(at + 1, argv.end());
  const std::string file = *(at + 1);
  // The file is a key of the ConfigMap mounted at its directory.
  std::string config_map;
  for (const auto& m : apply["volumeMounts"]) {
    const std::string dir = m["mountPath"].as<std::string>() + "/";
    if (!file.starts_with(dir)) continue;
    for (const auto& v : PodSpec()["volumes"]) {
      if (v["name"].as<std::string>() == m["name"].as<std::string>()) config_map = v["configMap"]["name"].as<std::string>("");
    }
    YAML::Node text = Object("ConfigMap", config_map)["data"][file.substr(dir.size())];
    ASSERT_TRUE(text) << file << " is not in ConfigMap " << config_map;
    auto jobs = ParseJobsToml(text.as<std::string>(), "ConfigMap " + config_map);
    ASSERT_TRUE(jobs.ok()) << jobs.status().message();
    EXPECT_FALSE(jobs->empty());
    for (const auto& job : *jobs) EXPECT_FALSE(job.schedule.empty()) << job.job << ": serve would never start it";
  }
  EXPECT_FALSE(config_map.empty()) << file << " is not on a ConfigMap volume";
}

TEST(KubernetesManifest, DisruptionBudgetKeepsReplicasAndLetsNodesDrain) {
  YAML::Node pdb = Object("PodDisruptionBudget");
  YAML::Node deployment = Object("Deployment");
  const int replicas = deployment["spec"]["replicas"].as<int>(1);
  const int min_available = pdb["spec"]["minAvailable"].as<int>(0);
  EXPECT_GE(min_available, 1);
  EXPECT_LT(min_available, replicas) << "a drain could never evict a pod";
  for (const auto& label : pdb["spec"]["selector"]["matchLabels"]) {
    EXPECT_EQ(deployment["spec"]["template"]["metadata"]["labels"][label.first.as<std::string>()].as<std::string>(""),
              label.second.as<std::string>());
  }
}

}  // namespace
}  // namespace jobgate::deploy_test
