// The deployment files against the daemon's code (README, "Deployment"): the Grafana
// dashboard's queries use only metrics autoscaled exports, with their labels, and show every
// one; the systemd unit runs the daemon with flags it has, as a user other than root, with its
// state and socket in the folders systemd makes for it, stops it with SIGTERM and time to drain,
// and systemd-analyze accepts it; the unit's example configuration loads and builds an engine.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <future>
#include <sstream>

#include "agent/daemon.h"
#include "agent/daemon_config.h"
#include "agent/daemon_paths.h"
#include "agent/engine.h"
#include "deploy_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "test_util.h"

namespace autoscale {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kDashboard[] = "deploy/grafana/autoscale.json";
constexpr char kUnit[] = "deploy/systemd/autoscaled.service";

// Answers every request with 1000 logits at once (the engine's side is what is checked here).
class EchoTarget : public Target {
 public:
  explicit EchoTarget(std::string name) {
    d_.name = std::move(name);
    d_.precisions = {Precision::kFp32, Precision::kInt8};
  }
  const TargetDescription& description() const override { return d_; }
  Status Supports(const ModelSpec&, Precision p) const override {
    return p == Precision::kFp16 ? Status::InvalidArgument("no fp16") : Status::Ok();
  }
  Status Prepare(const ModelSpec&, Precision) override { return Status::Ok(); }
  Result<InferenceResult> Run(const ModelSpec&, Precision, int, const HostTensor& in) override {
    InferenceResult r;
    r.output.shape = {in.shape[0], 1000};
    r.output.data.assign(static_cast<size_t>(in.shape[0]) * 1000, 0.5f);
    r.latency_ms = 1;
    r.energy_mj = 5;
    return r;
  }

 private:
  TargetDescription d_;
};

LocalTargetFactory Echo() {
  return [](const TargetBinding& b, const DeviceProfile&) -> Result<std::unique_ptr<Target>> {
    return std::unique_ptr<Target>(new EchoTarget(b.name));
  };
}

// An engine as the daemon builds it (sd845, the CPU bound), with two requests answered.
std::unique_ptr<Engine> ServingEngine() {
  DaemonConfig c;
  c.device = "sd845";
  c.models = {"mobilenet_v2"};
  c.engine.default_latency_bound_ms = 500;
  TargetBinding cpu;
  cpu.name = "cpu_big";
  cpu.backend = "cpu";
  c.targets.push_back(cpu);
  auto engine = BuildEngine(c, testing::ConfigRoot(), Echo());
  EXPECT_TRUE(engine.ok()) << engine.status().message();
  if (!engine.ok()) return nullptr;
  for (int i = 0; i < 2; ++i) {
    std::promise<Engine::Reply> done;
    Engine::Request r;
    r.model = "mobilenet_v2";
    r.input.shape = {1, 3, 224, 224};
    r.input.data.assign(3 * 224 * 224, 0.1f);
    (*engine)->Submit(std::move(r), [&](Engine::Reply reply) { done.set_value(std::move(reply)); });
    EXPECT_TRUE(done.get_future().get().status.ok());
  }
  return std::move(engine).value();
}

json Dashboard() {
  json d = json::parse(testing::SourceFile(kDashboard), nullptr, false);
  EXPECT_FALSE(d.is_discarded()) << kDashboard << " is not JSON";
  return d;
}

std::string Lines(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& l : v) s += l + "\n";
  return s;
}

// ---- The dashboard ----------------------------------------------------------------------------

TEST(DeployDashboard, PromQlMetricAndLabelNames) {
  testing::PromQlRefs r = testing::ParsePromQl(
      "sum by (model, le) (rate(a_bucket{model=~\"$model\", code!=\"200\"}[$__rate_interval])) / "
      "ignoring(code) group_left sum(rate(b_total[5m] offset 1h)) > bool 0.5 "
      "or topk(10, c{__name__=\"d\", x='y,z'}) unless on(instance) e");
  EXPECT_EQ(r.metrics, (std::set<std::string>{"a_bucket", "b_total", "c", "d", "e"}));
  EXPECT_EQ(r.labels, (std::set<std::string>{"model", "le", "code", "x", "instance"}));
  r = testing::ParsePromQl("histogram_quantile(0.99, sum(rate(x_bucket[1m])) by (le))");
  EXPECT_EQ(r.metrics, (std::set<std::string>{"x_bucket"}));
  EXPECT_EQ(r.labels, (std::set<std::string>{"le"}));
}

// Every query names metrics autoscaled exports (its own or autoscale-worker's, which
// tests/worker/deploy_test.cc checks), with labels they have; every daemon metric is shown.
TEST(DeployDashboard, UsesOnlyTheDaemonsMetricsAndShowsEachOne) {
  const json d = Dashboard();
  const auto queries = testing::DashboardQueries(d);
  ASSERT_GE(queries.size(), 20u);
  int daemon_queries = 0;
  for (const auto& q : queries) {
    EXPECT_FALSE(q.refs.metrics.empty()) << q.where << ": no metric in " << q.expr;
    for (const auto& m : q.refs.metrics) daemon_queries += m.rfind("autoscaled_", 0) == 0;
  }
  EXPECT_GE(daemon_queries, 10);
  auto engine = ServingEngine();
  ASSERT_NE(engine, nullptr);
  const auto families = engine->metrics().Families();
  ASSERT_GE(families.size(), 10u);
  const auto problems = testing::CheckDashboard(queries, families, "autoscaled_");
  EXPECT_TRUE(problems.empty()) << Lines(problems);
}

// The check above can fail: a metric renamed in the dashboard, a label the metric lacks, and a
// panel taken away are each reported by name.
TEST(DeployDashboard, DriftIsReported) {
  auto engine = ServingEngine();
  ASSERT_NE(engine, nullptr);
  const auto families = engine->metrics().Families();
  json d = Dashboard();
  std::string text = d.dump();
  auto replace = [](std::string s, const std::string& from, const std::string& to) {
    const size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return at == std::string::npos ? s : s.replace(at, from.size(), to);
  };
  auto problems = [&](const std::string& t) {
    return testing::CheckDashboard(testing::DashboardQueries(json::parse(t)), families,
                                   "autoscaled_");
  };
  const std::string renamed =
      Lines(problems(replace(text, "autoscaled_fallbacks_total", "autoscaled_fallback_total")));
  EXPECT_NE(renamed.find("'autoscaled_fallback_total' is not exported"), std::string::npos)
      << renamed;
  const std::string label = Lines(problems(replace(text, "sum by (kind)", "sum by (knid)")));
  EXPECT_NE(label.find("label 'knid' is on none of the query's metrics"), std::string::npos)
      << label;
  const std::string stranger =
      Lines(problems(replace(text, "autoscaled_decisions_total", "nv_inference_exec_count")));
  EXPECT_NE(stranger.find("'nv_inference_exec_count' is no metric of autoscaled"),
            std::string::npos)
      << stranger;
  EXPECT_NE(stranger.find("'autoscaled_decisions_total' is exported but no panel"),
            std::string::npos)
      << stranger;
}

// Grafana imports it: a uid and title, a Prometheus datasource variable every panel and query
// uses, panels placed on the 24-column grid, one refId per query of a panel.
TEST(DeployDashboard, IsAnImportableGrafanaDashboard) {
  const json d = Dashboard();
  EXPECT_TRUE(d["uid"].is_string() && !d["uid"].get<std::string>().empty());
  EXPECT_TRUE(d["title"].is_string());
  EXPECT_GE(d["schemaVersion"].get<int>(), 30);
  bool has_datasource_variable = false;
  for (const auto& v : d["templating"]["list"]) {
    if (v["type"] == "datasource" && v["query"] == "prometheus" && v["name"] == "datasource") {
      has_datasource_variable = true;
    }
  }
  EXPECT_TRUE(has_datasource_variable);
  std::set<int> ids;
  for (const auto& p : d["panels"]) {
    const std::string title = p.value("title", "");
    EXPECT_TRUE(ids.insert(p["id"].get<int>()).second) << "duplicate id: " << title;
    const json& g = p["gridPos"];
    EXPECT_GE(g["x"].get<int>(), 0) << title;
    EXPECT_LE(g["x"].get<int>() + g["w"].get<int>(), 24) << title;
    if (p["type"] == "row") continue;
    EXPECT_EQ(p["datasource"]["uid"], "${datasource}") << title;
    std::set<std::string> refs;
    ASSERT_FALSE(p["targets"].empty()) << title;
    for (const auto& t : p["targets"]) {
      EXPECT_EQ(t["datasource"]["uid"], "${datasource}") << title;
      EXPECT_TRUE(refs.insert(t["refId"].get<std::string>()).second) << title;
    }
  }
}

// Prometheus itself parses every query (promtool check rules, each as a recording rule, with
// Grafana's variables given values), and lints the daemon's exposition (promtool check
// metrics). Skipped where Debian's prometheus package (promtool) is not installed.
TEST(DeployDashboard, PrometheusAcceptsTheQueriesAndTheExposition) {
  if (!testing::HaveProgram("promtool")) GTEST_SKIP() << "promtool not installed (prometheus)";
  const std::string dir = testing::TempDir("deploy_promtool");
  std::string rules = "groups:\n- name: dashboard\n  rules:\n";
  int i = 0;
  for (const auto& q : testing::DashboardQueries(Dashboard())) {
    if (q.where.rfind("panel", 0) != 0) continue;
    std::string e = q.expr;
    for (const auto& [var, value] : std::vector<std::pair<std::string, std::string>>{
             {"$__rate_interval", "1m"}, {"$model", ".*"}, {"$target", ".*"}}) {
      for (size_t at = e.find(var); at != std::string::npos; at = e.find(var, at)) {
        e.replace(at, var.size(), value);
      }
    }
    rules += "  - record: dashboard:query" + std::to_string(i++) + "\n    expr: " + json(e).dump() +
             "\n";
  }
  testing::WriteFile(dir + "/rules.yml", rules);
  testing::ShellResult check = testing::RunShell("promtool check rules " + dir + "/rules.yml");
  EXPECT_EQ(check.code, 0) << check.out;
  EXPECT_NE(check.out.find("SUCCESS: " + std::to_string(i) + " rules found"), std::string::npos)
      << check.out;

  auto engine = ServingEngine();
  ASSERT_NE(engine, nullptr);
  testing::WriteFile(dir + "/metrics.txt", engine->metrics().Render());
  testing::ShellResult lint = testing::RunShell("promtool check metrics < " + dir + "/metrics.txt");
  EXPECT_EQ(lint.code, 0) << lint.out;
  EXPECT_EQ(lint.out, "") << lint.out;
}

// ---- The systemd unit -------------------------------------------------------------------------

std::vector<std::string> Words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> w;
  for (std::string x; in >> x;) w.push_back(x);
  return w;
}

std::string One(const std::map<std::string, std::vector<std::string>>& unit,
                const std::string& key) {
  auto it = unit.find(key);
  EXPECT_TRUE(it != unit.end() && it->second.size() == 1) << key << " is not set once";
  return it == unit.end() || it->second.empty() ? "" : it->second.back();
}

// The built autoscaled, beside the built autoscale.
std::string DaemonBinary() {
  return (fs::path(AUTOSCALE_BINARY).parent_path() / "autoscaled").string();
}

// The daemon's default folders for a user other than root, with the environment the unit sets
// (%S and %t are /var/lib and /run for a system service): computed in a child that drops to
// `nobody` when this test runs as root.
std::pair<std::string, std::string> DirsUnderUnit(const std::string& environment) {
  int fds[2];
  if (::pipe(fds) != 0) return {};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(3);
    ::unsetenv("XDG_STATE_HOME");
    ::unsetenv("XDG_RUNTIME_DIR");
    for (std::string kv : Words(environment)) {
      for (const auto& [spec, value] :
           std::vector<std::pair<std::string, std::string>>{{"%S", "/var/lib"}, {"%t", "/run"}}) {
        for (size_t at = kv.find(spec); at != std::string::npos; at = kv.find(spec)) {
          kv.replace(at, spec.size(), value);
        }
      }
      const size_t eq = kv.find('=');
      ::setenv(kv.substr(0, eq).c_str(), kv.substr(eq + 1).c_str(), 1);
    }
    auto dirs = DefaultDaemonDirs();
    const std::string out = dirs.ok() ? dirs->state + "\n" + dirs->runtime + "\n" : "\n\n";
    if (::write(fds[1], out.data(), out.size()) < 0) ::_exit(4);
    ::_exit(dirs.ok() ? 0 : 5);
  }
  ::close(fds[1]);
  std::string text;
  char buf[512];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  const size_t nl = text.find('\n');
  if (nl == std::string::npos) return {};
  return {text.substr(0, nl), text.substr(nl + 1, text.find('\n', nl + 1) - nl - 1)};
}

TEST(DeploySystemd, UnitKeepsStateAndSocketWhereTheDaemonLooks) {
  const auto unit = testing::ParseUnit(testing::SourceFile(kUnit));
  ASSERT_FALSE(unit.empty()) << kUnit;
  // Not root, and not a DynamicUser (whose StateDirectory is a link the daemon refuses).
  const std::string user = One(unit, "Service.User");
  EXPECT_FALSE(user.empty() || user == "root" || user == "0") << user;
  EXPECT_EQ(unit.count("Service.DynamicUser"), 0u);
  // The folders systemd creates for the service's user are those `default` resolves to.
  const std::string state = One(unit, "Service.StateDirectory");
  const std::string runtime = One(unit, "Service.RuntimeDirectory");
  EXPECT_EQ(One(unit, "Service.StateDirectoryMode"), "0700");
  EXPECT_EQ(One(unit, "Service.RuntimeDirectoryMode"), "0700");
  auto [state_dir, runtime_dir] = DirsUnderUnit(One(unit, "Service.Environment"));
  EXPECT_EQ(state_dir, "/var/lib/" + state);
  EXPECT_EQ(runtime_dir, "/run/" + runtime);
  // The configuration it reads lives in its ConfigurationDirectory.
  const std::vector<std::string> exec = Words(One(unit, "Service.ExecStart"));
  ASSERT_GE(exec.size(), 3u);
  EXPECT_EQ(fs::path(exec[0]).filename().string(), "autoscaled");
  EXPECT_EQ(exec[1], "--config");
  EXPECT_EQ(fs::path(exec[2]).parent_path().string(),
            "/etc/" + One(unit, "Service.ConfigurationDirectory"));
  // Stopping: SIGTERM to the daemon, with time for its drain (--drain-s, 10 s unless ExecStart
  // says otherwise) and the state's save before SIGKILL.
  EXPECT_EQ(One(unit, "Service.KillSignal"), "SIGTERM");
  double drain_s = 10;
  for (size_t i = 0; i + 1 < exec.size(); ++i) {
    if (exec[i] == "--drain-s") drain_s = std::stod(exec[i + 1]);
  }
  EXPECT_GE(std::stod(One(unit, "Service.TimeoutStopSec")), drain_s + 10);
  for (const auto& [key, value] :
       std::vector<std::pair<std::string, std::string>>{{"Service.NoNewPrivileges", "yes"},
                                                        {"Service.ProtectSystem", "strict"},
                                                        {"Service.ProtectHome", "yes"},
                                                        {"Service.PrivateTmp", "yes"},
                                                        {"Service.PrivateDevices", "yes"},
                                                        {"Service.CapabilityBoundingSet", ""},
                                                        {"Service.UMask", "0077"}}) {
    EXPECT_EQ(One(unit, key), value) << key;
  }
}

// The flags ExecStart passes are the daemon's, and systemd-analyze verify accepts the unit
// (with ExecStart on the built program, which it checks exists) alone and with the GPU drop-in;
// an unknown key would be reported, so the output must be empty.
TEST(DeploySystemd, FlagsAreTheDaemonsAndSystemdAcceptsTheUnit) {
  if (!fs::exists(DaemonBinary())) GTEST_SKIP() << "autoscaled not built";
  const std::string text = testing::SourceFile(kUnit);
  const auto unit = testing::ParseUnit(text);
  const testing::ShellResult help = testing::RunShell(DaemonBinary() + " --help");
  ASSERT_EQ(help.code, 0) << help.out;
  const std::set<std::string> flags = testing::HelpFlags(help.out);
  for (const std::string& w : Words(One(unit, "Service.ExecStart"))) {
    if (w.rfind("--", 0) == 0) {
      EXPECT_TRUE(flags.count(w)) << w << " is not in autoscaled --help";
    }
  }
  if (!testing::HaveProgram("systemd-analyze")) GTEST_SKIP() << "systemd-analyze not installed";
  const std::string dir = testing::TempDir("deploy_systemd");
  const std::string exec = Words(One(unit, "Service.ExecStart"))[0];
  std::string built = text;
  built.replace(built.find("ExecStart=" + exec), exec.size() + 10, "ExecStart=" + DaemonBinary());
  testing::WriteFile(dir + "/autoscaled.service", built);
  testing::ShellResult verify =
      testing::RunShell("cd " + dir + " && systemd-analyze verify ./autoscaled.service");
  EXPECT_EQ(verify.code, 0) << verify.out;
  EXPECT_EQ(verify.out, "") << verify.out;
  // The drop-in's assignments, after the unit's (as systemd applies a drop-in).
  testing::WriteFile(dir + "/gpu/autoscaled.service",
                     built + testing::SourceFile("deploy/systemd/autoscaled-gpu.conf"));
  verify = testing::RunShell("cd " + dir + "/gpu && systemd-analyze verify ./autoscaled.service");
  EXPECT_EQ(verify.code, 0) << verify.out;
  EXPECT_EQ(verify.out, "") << verify.out;
  // And a misspelt key is caught (the check above can fail).
  testing::WriteFile(dir + "/typo/autoscaled.service",
                     built + "\n[Service]\nProtectSysten=strict\n");
  verify = testing::RunShell("cd " + dir + "/typo && systemd-analyze verify ./autoscaled.service");
  EXPECT_NE(verify.out.find("Unknown key"), std::string::npos) << verify.out;
}

// The sysusers.d file creates the user the unit runs as (systemd-sysusers --dry-run).
TEST(DeploySystemd, SysusersCreatesTheUnitsUser) {
  if (!testing::HaveProgram("systemd-sysusers")) GTEST_SKIP() << "systemd-sysusers not installed";
  const std::string user = One(testing::ParseUnit(testing::SourceFile(kUnit)), "Service.User");
  const testing::ShellResult dry =
      testing::RunShell("systemd-sysusers --dry-run " + std::string(AUTOSCALE_SOURCE_DIR) +
                        "/deploy/systemd/autoscaled.sysusers");
  EXPECT_EQ(dry.code, 0) << dry.out;
  const bool exists = testing::RunShell("getent passwd " + user).code == 0;
  EXPECT_TRUE(exists || dry.out.find("Creating user '" + user + "'") != std::string::npos)
      << dry.out;
}

// The configuration the unit reads: the daemon's `default` state and socket (so that the unit's
// folders hold them), and an engine builds from it on the shipped profiles.
TEST(DeploySystemd, ExampleConfigurationLoadsAndBuilds) {
  auto config =
      LoadDaemonConfig(std::string(AUTOSCALE_SOURCE_DIR) + "/deploy/systemd/autoscaled.yaml");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->listen, "default");
  EXPECT_EQ(config->engine.state_file, "default");
  config->engine.state_file = "";  // nothing written by this test
  for (TargetBinding& b : config->targets) {
    if (b.backend == "remote") b.endpoint = "127.0.0.1:1";  // no name to resolve here
  }
  auto engine = BuildEngine(*config, testing::ConfigRoot(), Echo());
  ASSERT_TRUE(engine.ok()) << engine.status().message();
}

}  // namespace
}  // namespace autoscale
