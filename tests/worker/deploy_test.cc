// The deployment files against the worker's code (README, "Deployment"): its metrics cover
// Triton's and the Grafana dashboard uses them as exported; the Dockerfile builds with the
// packages scripts/install-deps.sh installs and ships the libraries the program links; the
// Dockerfile's, Kubernetes' and KServe's command lines are the program's flags, listen where
// their ports and probes say, and, run, serve those probes.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <array>
#include <filesystem>
#include <future>
#include <regex>

#include "deploy_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "targets/http/http.h"
#include "targets/worker/worker.h"
#include "test_util.h"
#include "worker_test_util.h"

namespace autoscale {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::Call;
using testing::CallAsync;
using testing::Request;

constexpr char kModel[] = "kws_lstm";  // input [49, 10]: small and quick

std::string WorkerBinary() {
  return (fs::path(AUTOSCALE_BINARY).parent_path() / "autoscale-worker").string();
}

std::unique_ptr<Worker> MakeWorker(int max_batch = 8, int64_t delay_us = 2000) {
  WorkerOptions o;
  o.models = {kModel};
  o.device = "cpu";
  o.threads = 1;
  o.max_batch_size = max_batch;
  o.max_queue_delay_us = delay_us;
  auto w = Worker::Create(o);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  return w.ok() ? std::move(w).value() : nullptr;
}

WireTensor KwsInput() {
  std::vector<float> data(490);
  for (size_t i = 0; i < data.size(); ++i) data[i] = 0.01f * static_cast<float>(i % 97) - 0.4f;
  return testing::Fp32Input({1, 49, 10}, data);
}

std::string Lines(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& l : v) s += l + "\n";
  return s;
}

// ---- Metrics and the dashboard ----------------------------------------------------------------

// Triton's per-model inference metrics (its docs/user_guide/metrics.md) and the worker's family
// for each (targets/worker/worker.h): every one is exported, labelled by model.
TEST(DeployWorker, MetricsCoverTritons) {
  auto w = MakeWorker();
  ASSERT_NE(w, nullptr);
  std::map<std::string, MetricsRegistry::FamilyInfo> families;
  for (const auto& f : w->metrics().Families()) families[f.name] = f;
  for (const auto& [triton, ours, type] : std::vector<std::array<std::string, 3>>{
           {"nv_inference_request_success", "autoscale_worker_requests_total", "counter"},
           {"nv_inference_request_failure", "autoscale_worker_requests_total", "counter"},
           {"nv_inference_count", "autoscale_worker_inference_count_total", "counter"},
           {"nv_inference_exec_count", "autoscale_worker_execution_count_total", "counter"},
           {"nv_inference_request_duration_us", "autoscale_worker_request_duration_seconds",
            "histogram"},
           {"nv_inference_queue_duration_us", "autoscale_worker_queue_duration_seconds",
            "histogram"},
           {"nv_inference_compute_input_duration_us",
            "autoscale_worker_compute_input_duration_seconds", "histogram"},
           {"nv_inference_compute_infer_duration_us", "autoscale_worker_compute_duration_seconds",
            "histogram"},
           {"nv_inference_compute_output_duration_us",
            "autoscale_worker_compute_output_duration_seconds", "histogram"},
           {"nv_inference_pending_request_count", "autoscale_worker_queue_depth", "gauge"}}) {
    auto it = families.find(ours);
    ASSERT_NE(it, families.end()) << ours << " (Triton's " << triton << ") is not exported";
    EXPECT_EQ(it->second.type, type) << ours;
    EXPECT_EQ(it->second.label_names.front(), "model") << ours;
  }
}

// Three requests batched into one pass and one for a model not served: the Triton-style counts
// and the per-pass compute split as the worker renders them.
TEST(DeployWorker, CountsInferencesExecutionsAndComputeParts) {
  auto w = MakeWorker(/*max_batch=*/3, /*delay_us=*/10'000'000);  // the batch waits for 3
  ASSERT_NE(w, nullptr);
  std::vector<std::future<HttpResponse>> fs;
  for (int i = 0; i < 3; ++i)
    fs.push_back(CallAsync(*w, testing::InferRequest(kModel, KwsInput())));
  for (auto& f : fs) EXPECT_EQ(testing::Wait(f).status, 200);
  EXPECT_EQ(Call(*w, testing::InferRequest("nope", KwsInput())).status, 404);
  const std::string m = w->metrics().Render();
  for (const std::string line : {
           "autoscale_worker_requests_total{model=\"kws_lstm\",code=\"200\"} 3\n",
           "autoscale_worker_requests_total{model=\"\",code=\"404\"} 1\n",
           "autoscale_worker_inference_count_total{model=\"kws_lstm\"} 3\n",
           "autoscale_worker_execution_count_total{model=\"kws_lstm\"} 1\n",
           "autoscale_worker_batch_size_sum{model=\"kws_lstm\"} 3\n",
           "autoscale_worker_compute_input_duration_seconds_count{model=\"kws_lstm\"} 1\n",
           "autoscale_worker_compute_duration_seconds_count{model=\"kws_lstm\"} 1\n",
           "autoscale_worker_compute_output_duration_seconds_count{model=\"kws_lstm\"} 1\n",
           "autoscale_worker_queue_duration_seconds_count{model=\"kws_lstm\"} 3\n",
       }) {
    EXPECT_NE(m.find(line), std::string::npos) << line << m;
  }
  // The unserved name got no series of its own.
  EXPECT_EQ(m.find("model=\"nope\""), std::string::npos) << m;
}

// Every query of the dashboard that names a worker metric names one the worker exports, with
// labels it has, and every worker metric is shown (tests/agent/deploy_test.cc checks the
// daemon's, and that the check reports drift).
TEST(DeployWorker, DashboardUsesOnlyTheWorkersMetricsAndShowsEachOne) {
  json d = json::parse(testing::SourceFile("deploy/grafana/autoscale.json"), nullptr, false);
  ASSERT_FALSE(d.is_discarded());
  const auto queries = testing::DashboardQueries(d);
  int worker_queries = 0;
  for (const auto& q : queries) {
    for (const auto& m : q.refs.metrics) worker_queries += m.rfind("autoscale_worker_", 0) == 0;
  }
  EXPECT_GE(worker_queries, 10);
  auto w = MakeWorker();
  ASSERT_NE(w, nullptr);
  const auto problems =
      testing::CheckDashboard(queries, w->metrics().Families(), "autoscale_worker_");
  EXPECT_TRUE(problems.empty()) << Lines(problems);
}

// promtool (Debian's prometheus package) lints the worker's exposition after traffic.
TEST(DeployWorker, PromtoolAcceptsTheExposition) {
  if (!testing::HaveProgram("promtool")) GTEST_SKIP() << "promtool not installed (prometheus)";
  auto w = MakeWorker();
  ASSERT_NE(w, nullptr);
  ASSERT_EQ(Call(*w, testing::InferRequest(kModel, KwsInput())).status, 200);
  ASSERT_EQ(Call(*w, testing::InferRequest("nope", KwsInput())).status, 404);
  const std::string file = testing::TempDir("deploy_worker_promtool") + "/metrics.txt";
  testing::WriteFile(file, w->metrics().Render());
  testing::ShellResult lint = testing::RunShell("promtool check metrics < " + file);
  EXPECT_EQ(lint.code, 0) << lint.out;
  EXPECT_EQ(lint.out, "") << lint.out;
}

// ---- The Dockerfile ---------------------------------------------------------------------------

std::map<std::string, std::vector<std::string>> Dockerfile() {
  return testing::DockerStages(testing::SourceFile("deploy/docker/Dockerfile"));
}

std::string Instruction(const std::vector<std::string>& stage, const std::string& keyword) {
  for (const auto& i : stage) {
    if (i.rfind(keyword + " ", 0) == 0) return i.substr(keyword.size() + 1);
  }
  return "";
}

std::set<std::string> HelpFlags() {
  testing::ShellResult help = testing::RunShell(WorkerBinary() + " --help");
  EXPECT_EQ(help.code, 0) << help.out;
  return testing::HelpFlags(help.out);
}

// Its flags are the program's; it listens beyond loopback only with --allow-remote, on the port
// it exposes, with the model folder as the volume.
void ExpectCommandLine(const std::string& where, const std::vector<std::string>& args,
                       const std::set<std::string>& flags, int port, const std::string& models) {
  std::string listen, model_dir;
  bool allow_remote = false;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].rfind("--", 0) == 0) {
      EXPECT_TRUE(flags.count(args[i])) << where << ": " << args[i] << " is not in --help";
    }
    if (args[i] == "--allow-remote") allow_remote = true;
    if (i + 1 < args.size() && args[i] == "--listen") listen = args[i + 1];
    if (i + 1 < args.size() && args[i] == "--model-dir") model_dir = args[i + 1];
  }
  auto ep = Endpoint::Parse(listen);
  ASSERT_TRUE(ep.ok()) << where << ": --listen " << listen;
  EXPECT_EQ(ep->port, port) << where;
  EXPECT_EQ(!ep->IsLocal(), allow_remote) << where << ": --allow-remote is asked for exactly "
                                          << "when the address is not loopback";
  EXPECT_EQ(model_dir, models) << where;
}

TEST(DeployDocker, StagesUseInstallDepsPackagesAndTheProgramsFlags) {
  auto stages = Dockerfile();
  ASSERT_EQ(stages.count("build"), 1u);
  ASSERT_EQ(stages.count("runtime"), 1u);
  EXPECT_EQ(stages["build"][0], "FROM debian:12 AS build");
  EXPECT_EQ(stages["runtime"][0], "FROM debian:12 AS runtime");
  // The build stage installs only packages scripts/install-deps.sh installs.
  const std::set<std::string> deps =
      testing::ShellArray(testing::SourceFile("scripts/install-deps.sh"), "pkgs");
  ASSERT_GE(deps.size(), 10u);
  const std::set<std::string> build = testing::AptPackages(stages["build"]);
  ASSERT_FALSE(build.empty());
  for (const auto& p : build) EXPECT_TRUE(deps.count(p)) << p << " is not in install-deps.sh";
  for (const char* p : {"libtorch-dev", "libyaml-cpp-dev", "nlohmann-json3-dev", "libboost-dev"}) {
    EXPECT_TRUE(build.count(p)) << p;
  }
  // It builds the worker's CMake target and the runtime runs what it built.
  EXPECT_NE(testing::SourceFile("CMakeLists.txt").find("add_executable(autoscale-worker "),
            std::string::npos);
  bool builds = false;
  for (const auto& i : stages["build"]) builds |= i.find("--target autoscale-worker") != i.npos;
  EXPECT_TRUE(builds);
  const std::vector<std::string> entry = testing::DockerExecForm(stages["runtime"], "ENTRYPOINT");
  ASSERT_EQ(entry.size(), 1u);
  EXPECT_EQ(Instruction(stages["runtime"], "COPY"),
            "--from=build /build/autoscale-worker " + entry[0]);
  // Not root.
  const std::string user = Instruction(stages["runtime"], "USER");
  EXPECT_TRUE(std::regex_match(user, std::regex("[1-9][0-9]*:[0-9]+"))) << user;
  if (!fs::exists(WorkerBinary())) GTEST_SKIP() << "autoscale-worker not built";
  ExpectCommandLine("CMD", testing::DockerExecForm(stages["runtime"], "CMD"), HelpFlags(),
                    std::stoi(Instruction(stages["runtime"], "EXPOSE")),
                    json::parse(Instruction(stages["runtime"], "VOLUME"))[0].get<std::string>());
}

// The runtime stage installs the Debian packages of the libraries the built program links
// (those of debian:12 itself aside), and nothing else but install-deps.sh's BLAS.
TEST(DeployDocker, RuntimeStageShipsTheLibrariesTheProgramLinks) {
  if (!fs::exists(WorkerBinary())) GTEST_SKIP() << "autoscale-worker not built";
  for (const char* tool : {"readelf", "ldd", "dpkg"}) {
    if (!testing::HaveProgram(tool)) GTEST_SKIP() << tool << " not installed";
  }
  const std::set<std::string> runtime = testing::AptPackages(Dockerfile()["runtime"]);
  const std::set<std::string> base = {"libc6", "libgcc-s1", "libstdc++6"};  // in debian:12
  testing::ShellResult needed = testing::RunShell("readelf -d " + WorkerBinary() +
                                                  " | sed -n 's/.*(NEEDED).*\\[\\(.*\\)\\]/\\1/p'");
  ASSERT_EQ(needed.code, 0) << needed.out;
  testing::ShellResult ldd = testing::RunShell("ldd " + WorkerBinary());
  std::set<std::string> used;
  std::istringstream libs(needed.out);
  for (std::string lib; std::getline(libs, lib);) {
    std::smatch m;
    ASSERT_TRUE(std::regex_search(
        ldd.out, m, std::regex(std::regex_replace(lib, std::regex("[.+]"), "\\$&") + " => (\\S+)")))
        << lib << " not found by ldd:\n"
        << ldd.out;
    // dpkg knows a library by the path its package installed (/lib/... on a merged /usr).
    const std::string path = m[1].str();
    testing::ShellResult owner =
        testing::RunShell("p=$(readlink -f " + path + "); { dpkg -S " + path +
                          " || dpkg -S $p || dpkg -S ${p#/usr}; } "
                          "2>/dev/null | head -1 | cut -d: -f1");
    ASSERT_EQ(owner.code, 0) << lib << ": " << owner.out;
    const std::string pkg = owner.out.substr(0, owner.out.find('\n'));
    used.insert(pkg);
    EXPECT_TRUE(runtime.count(pkg) || base.count(pkg))
        << lib << " comes from " << pkg << ", which the runtime stage does not install";
  }
  EXPECT_GE(used.size(), 3u);
  const std::set<std::string> deps =
      testing::ShellArray(testing::SourceFile("scripts/install-deps.sh"), "pkgs");
  for (const auto& p : runtime) {
    EXPECT_TRUE(used.count(p) || deps.count(p)) << p << " is neither linked nor in install-deps";
  }
}

// ---- Kubernetes and KServe --------------------------------------------------------------------

// A running autoscale-worker (forked and exec'd, its stderr on a pipe) at the address it says
// it serves on.
struct Running {
  pid_t pid = -1;
  int err = -1;
  std::string log;
  Endpoint endpoint;

  bool Start(const std::vector<std::string>& args) {
    int fds[2];
    if (::pipe(fds) != 0) return false;
    pid = ::fork();
    if (pid == 0) {
      ::dup2(fds[1], 1);  // its log, wherever it writes it
      ::dup2(fds[1], 2);
      ::close(fds[0]);
      const std::string bin = WorkerBinary();
      std::vector<char*> argv = {const_cast<char*>(bin.c_str())};
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(bin.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    err = fds[0];
    // Its log until it serves (the line's form may carry a timestamp and level in front), for
    // at most a minute.
    const std::string key = "serving on ";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    std::string line;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd in{err, POLLIN, 0};
      if (::poll(&in, 1, 1000) <= 0) continue;
      char c;
      if (::read(err, &c, 1) != 1) return false;  // it ended
      if (c != '\n') {
        line += c;
        continue;
      }
      log += line + "\n";
      const size_t at = line.find(key);
      if (at != std::string::npos) {
        const size_t b = at + key.size();
        auto ep = Endpoint::Parse(line.substr(b, line.find(' ', b) - b));
        if (!ep.ok()) return false;
        endpoint = *ep;
        return true;
      }
      line.clear();
    }
    return false;
  }
  int Terminate() {
    ::kill(pid, SIGTERM);
    int status = 0;
    ::waitpid(pid, &status, 0);
    pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  ~Running() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    if (err >= 0) ::close(err);
  }
};

struct Container {
  std::string where;
  YAML::Node spec;
};

// The worker's containers in a manifest file: a Deployment's pod template's, a ServingRuntime's.
std::vector<Container> Containers(const std::string& file) {
  std::vector<Container> out;
  for (const YAML::Node& doc : YAML::LoadAll(testing::SourceFile(file))) {
    const std::string kind = doc["kind"].as<std::string>();
    YAML::Node containers;
    if (kind == "Deployment") containers = doc["spec"]["template"]["spec"]["containers"];
    if (kind == "ServingRuntime") containers = doc["spec"]["containers"];
    for (const YAML::Node& c : containers) out.push_back({file + ": " + kind, c});
  }
  return out;
}

// The container port a probe's port (a number or a port's name) stands for.
int ProbePort(const YAML::Node& container, const YAML::Node& port) {
  if (!port.IsScalar()) return -1;
  for (const YAML::Node& p : container["ports"]) {
    if (p["name"] && p["name"].as<std::string>() == port.as<std::string>()) {
      return p["containerPort"].as<int>();
    }
  }
  try {
    return port.as<int>();
  } catch (const YAML::Exception&) {
    return -1;
  }
}

TEST(DeployManifests, KubernetesAndKServeRunTheWorkerAndProbeItsHealth) {
  if (!fs::exists(WorkerBinary())) GTEST_SKIP() << "autoscale-worker not built";
  const std::set<std::string> flags = HelpFlags();
  std::vector<Container> all = Containers("deploy/kubernetes/worker.yaml");
  for (auto& c : Containers("deploy/kserve/autoscale-worker.yaml")) all.push_back(c);
  ASSERT_EQ(all.size(), 2u);
  const std::string image_user = Instruction(Dockerfile()["runtime"], "USER");
  const std::string image_uid = image_user.substr(0, image_user.find(':'));
  // The Service sends its traffic to the container's port.
  for (const YAML::Node& doc :
       YAML::LoadAll(testing::SourceFile("deploy/kubernetes/worker.yaml"))) {
    if (doc["kind"].as<std::string>() != "Service") continue;
    EXPECT_EQ(ProbePort(all[0].spec, doc["spec"]["ports"][0]["targetPort"]),
              all[0].spec["ports"][0]["containerPort"].as<int>());
  }
  for (const Container& c : all) {
    SCOPED_TRACE(c.where);
    const auto args = c.spec["args"].as<std::vector<std::string>>();
    const int port = c.spec["ports"][0]["containerPort"].as<int>();
    const bool kserve = c.where.find("ServingRuntime") != std::string::npos;
    ExpectCommandLine(c.where, args, flags, port, kserve ? "/mnt/models" : "/models");
    // The probes are the worker's health routes, on its port.
    EXPECT_EQ(c.spec["readinessProbe"]["httpGet"]["path"].as<std::string>(), "/v2/health/ready");
    EXPECT_EQ(c.spec["livenessProbe"]["httpGet"]["path"].as<std::string>(), "/v2/health/live");
    EXPECT_EQ(ProbePort(c.spec, c.spec["readinessProbe"]["httpGet"]["port"]), port);
    EXPECT_EQ(ProbePort(c.spec, c.spec["livenessProbe"]["httpGet"]["port"]), port);
    // The image's user: the container's, else the pod's.
    std::string uid;
    if (const YAML::Node u = c.spec["securityContext"]["runAsUser"]) uid = u.as<std::string>();
    for (const YAML::Node& doc :
         YAML::LoadAll(testing::SourceFile("deploy/kubernetes/worker.yaml"))) {
      if (uid.empty() && doc["kind"].as<std::string>() == "Deployment") {
        uid = doc["spec"]["template"]["spec"]["securityContext"]["runAsUser"].as<std::string>();
      }
    }
    EXPECT_EQ(uid, image_uid);

    // Run it with these arguments, but on a loopback port of its own, a model folder of this
    // test's and KServe's {{.Name}} a zoo model: it starts, both probes answer 200, and SIGTERM
    // stops it with 0.
    std::vector<std::string> run;
    const std::string models_dir = testing::TempDir("deploy_manifest_models");
    for (size_t i = 0; i < args.size(); ++i) {
      if (args[i] == "--allow-remote") continue;
      run.push_back(args[i] == "{{.Name}}" ? kModel : args[i]);
      const std::map<std::string, std::string> replaced = {
          {"--listen", "127.0.0.1:0"}, {"--model-dir", models_dir}, {"--threads", "1"}};
      if (auto r = replaced.find(args[i]); r != replaced.end() && i + 1 < args.size()) {
        run.push_back(r->second);
        ++i;
      }
    }
    run.insert(run.end(), {"--device", "cpu"});
    Running w;
    ASSERT_TRUE(w.Start(run)) << w.log;
    auto client = HttpClient::Create(w.endpoint);
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    for (const char* probe : {"readinessProbe", "livenessProbe"}) {
      const std::string path = c.spec[probe]["httpGet"]["path"].as<std::string>();
      auto r = (*client)->Send(Request("GET", path), std::chrono::seconds(10));
      ASSERT_TRUE(r.ok()) << path << ": " << r.status().ToString();
      EXPECT_EQ(r->status, 200) << path << ": " << r->body;
    }
    EXPECT_EQ(w.Terminate(), 0);
  }
}

}  // namespace
}  // namespace autoscale
