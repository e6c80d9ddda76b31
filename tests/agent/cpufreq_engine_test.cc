// Real frequency levels in the daemon: the engine runs each profile level an action picks at
// the nearest frequency the bound target offers (refusing a profile whose levels would collapse
// onto one), and, with the libtorch CPU target on a fake cpufreq tree (tests/cpufreq_fakes.h),
// every level the policy picks is written before the run and what was there is back after it,
// also when the run fails.
#include <gtest/gtest.h>

#include <cstdio>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "agent/daemon.h"
#include "agent/daemon_config.h"
#include "agent/engine.h"
#include "agent/service.h"
#include "cpufreq_fakes.h"
#include "targets/http/http.h"
#include "targets/kserve/kserve.h"
#include "test_util.h"

#if AUTOSCALE_HAVE_TORCH
#include "targets/cpu/cpu_target.h"
#endif

namespace autoscale {
namespace {

using testing::Contents;
using testing::FakePolicy;
using testing::JournalingFiles;
using testing::PolicyDir;

// sd845's cpu_big levels (MHz): 2649.6, 2092.8, 1612.8, 1209.6, 825.6. The host's: those and
// others between, as a phone's big cluster lists them.
const std::vector<double> kHostMhz = {2649.6, 2476.8, 2092.8, 1996.8, 1612.8,
                                      1459.2, 1209.6, 1056,   825.6};
const std::map<std::string, double> kProfileToHost = {{"2649.6MHz", 2649.6},
                                                      {"2092.8MHz", 2092.8},
                                                      {"1612.8MHz", 1612.8},
                                                      {"1209.6MHz", 1209.6},
                                                      {"825.6MHz", 825.6}};

DaemonConfig RandomConfig() {
  DaemonConfig c;
  c.device = "sd845";
  c.models = {"squeezenet_1_1"};
  c.policy = "random";  // picks every level sooner or later
  c.seed = 7;
  c.engine.save_interval_s = 0;
  c.engine.default_latency_bound_ms = 60000;
  c.probes.interval_ms = 50;
  TargetBinding cpu;
  cpu.name = "cpu_big";
  cpu.backend = "cpu";
  c.targets.push_back(cpu);
  return c;
}

Engine::Reply RunOne(Engine& e, HostTensor input) {
  std::promise<Engine::Reply> p;
  Engine::Request r;
  r.model = "squeezenet_1_1";
  r.input = std::move(input);
  e.Submit(std::move(r), [&](Engine::Reply reply) { p.set_value(std::move(reply)); });
  return p.get_future().get();
}

HostTensor Image(float v) {
  HostTensor t;
  t.shape = {1, 3, 224, 224};
  t.data.assign(3 * 224 * 224, v);
  return t;
}

// The frequency part of an action's name ("cpu_big/int8/1612.8MHz" -> "1612.8MHz").
std::string LevelOf(const std::string& action) { return action.substr(action.rfind('/') + 1); }

// A local target whose levels are frequencies (as the CPU target's on cpufreq): records the
// levels it is asked to run.
class FrequencyLevelsTarget : public Target {
 public:
  explicit FrequencyLevelsTarget(std::vector<double> mhz) {
    d_.name = "freq";
    d_.precisions = {Precision::kFp32, Precision::kInt8};
    d_.levels = static_cast<int>(mhz.size());
    d_.level_freq_mhz = std::move(mhz);
    d_.device = "a fake cluster";
  }
  const TargetDescription& description() const override { return d_; }
  Status Supports(const ModelSpec&, Precision p) const override {
    return p == Precision::kFp16 ? Status::InvalidArgument("no fp16") : Status::Ok();
  }
  Status Prepare(const ModelSpec&, Precision) override { return Status::Ok(); }
  Result<InferenceResult> Run(const ModelSpec&, Precision, int level,
                              const HostTensor& in) override {
    if (level < 0 || level >= d_.levels) return Status::InvalidArgument("bad level");
    {
      std::lock_guard<std::mutex> lock(mu);
      levels.push_back(level);
    }
    InferenceResult r;
    r.output.shape = {in.shape[0], 1000};
    r.output.data.assign(static_cast<size_t>(in.shape[0]) * 1000, 0.0f);
    r.latency_ms = 1;
    r.level = level;
    r.freq_mhz = d_.level_freq_mhz[level];
    return r;
  }
  std::mutex mu;
  std::vector<int> levels;  // guarded by mu

 private:
  TargetDescription d_;
};

TEST(EngineFrequency, ProfileLevelsRunAtTheTargetsNearestFrequencies) {
  FrequencyLevelsTarget* made = nullptr;
  auto engine = BuildEngine(
      RandomConfig(), testing::ConfigRoot(),
      [&](const TargetBinding&, const DeviceProfile&) -> Result<std::unique_ptr<Target>> {
        auto t = std::make_unique<FrequencyLevelsTarget>(kHostMhz);
        made = t.get();
        return std::unique_ptr<Target>(std::move(t));
      });
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  std::set<std::string> picked;
  for (int i = 0; i < 40; ++i) {
    Engine::Reply r = RunOne(**engine, Image(0.1f));
    ASSERT_TRUE(r.status.ok()) << r.status.message();
    const std::string level = LevelOf(r.action);
    picked.insert(level);
    ASSERT_TRUE(kProfileToHost.count(level)) << r.action;
    EXPECT_DOUBLE_EQ(r.result.freq_mhz, kProfileToHost.at(level)) << r.action;
  }
  EXPECT_EQ(picked.size(), 5u);  // every profile level was offered and picked
  std::lock_guard<std::mutex> lock(made->mu);
  for (int l : made->levels) EXPECT_TRUE(l % 2 == 0) << l;  // 0, 2, 4, 6, 8: the exact ones
}

// The daemon's reply says at which frequency the request ran (`frequency_mhz`), beside the
// action the policy chose.
TEST(EngineFrequency, TheReplyCarriesTheFrequencyThatRan) {
  auto engine = BuildEngine(
      RandomConfig(), testing::ConfigRoot(),
      [&](const TargetBinding&, const DeviceProfile&) -> Result<std::unique_ptr<Target>> {
        return std::unique_ptr<Target>(new FrequencyLevelsTarget(kHostMhz));
      });
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  DaemonService service(engine->get());
  InferRequestMsg m;
  WireTensor t;
  t.name = "input";
  t.shape = {1, 3, 224, 224};
  t.fp32 = Image(0.1f).data;
  m.inputs.push_back(std::move(t));
  HttpRequest req;
  req.method = "POST";
  req.target = "/v2/models/squeezenet_1_1/infer";
  std::optional<size_t> hl;
  SetInferenceBody(EncodeInferRequest(m, &hl), hl, &req);
  std::promise<HttpResponse> got;
  service.Handle(std::move(req), Responder([&](HttpResponse r) { got.set_value(std::move(r)); }));
  HttpResponse res = got.get_future().get();
  ASSERT_EQ(res.status, 200) << res.body;
  std::string action;
  for (const auto& [k, v] : res.headers) {
    if (k == "X-Autoscale-Action") action = v;
  }
  ASSERT_TRUE(kProfileToHost.count(LevelOf(action))) << action;
  const nlohmann::json body = nlohmann::json::parse(res.body);
  EXPECT_DOUBLE_EQ(body["parameters"]["frequency_mhz"].get<double>(),
                   kProfileToHost.at(LevelOf(action)))
      << body["parameters"];
}

TEST(EngineFrequency, AProfileTheHostCannotRunIsRefusedNamingBothSides) {
  auto engine = BuildEngine(
      RandomConfig(), testing::ConfigRoot(),
      [&](const TargetBinding&, const DeviceProfile&) -> Result<std::unique_ptr<Target>> {
        return std::unique_ptr<Target>(new FrequencyLevelsTarget({1500, 1200, 600}));
      });
  ASSERT_FALSE(engine.ok());
  const std::string& m = engine.status().message();
  EXPECT_NE(m.find("target 'cpu_big' of device 'sd845' on a fake cluster"), std::string::npos) << m;
  EXPECT_NE(m.find("profile levels 2649.6 and 2092.8 MHz would both run at 1500 MHz"),
            std::string::npos)
      << m;
}

TEST(DaemonConfig, CpusAndCpufreqKeys) {
  auto parse = [](const std::string& yaml) {
    auto root = ConfigNode::LoadString("{models: [squeezenet_1_1], " + yaml + "}");
    EXPECT_TRUE(root.ok());
    return ParseDaemonConfig(*root);
  };
  auto c = parse("targets: {cpu_big: {backend: cpu, cpus: '4-7', cpufreq: 'off'}}");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->targets[0].cpus, (std::vector<int>{4, 5, 6, 7}));
  EXPECT_EQ(c->targets[0].cpufreq, "off");
  c = parse("targets: {cpu_big: {backend: cpu}}");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->targets[0].cpus.empty());
  EXPECT_EQ(c->targets[0].cpufreq, "auto");
  auto bad = parse("targets: {cpu_big: {backend: cpu, cpufreq: fixed}}");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("targets.cpu_big.cpufreq"), std::string::npos)
      << bad.status().message();
  EXPECT_NE(bad.status().message().find("expected auto or off"), std::string::npos);
  bad = parse("targets: {cpu_big: {backend: cpu, cpus: '3-1'}}");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("bad CPU list '3-1'"), std::string::npos)
      << bad.status().message();
  bad = parse("targets: {gpu: {backend: opencl, cpufreq: auto}}");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("only cpu targets take 'cpufreq'"), std::string::npos);
}

#if AUTOSCALE_HAVE_TORCH

// The CPU target as the daemon binds it, wrapped to note the policy file's contents as each
// run starts and ends in the same journal as the writes.
class Observed : public Target {
 public:
  Observed(std::unique_ptr<Target> inner, std::shared_ptr<JournalingFiles> files, std::string file)
      : inner_(std::move(inner)), files_(std::move(files)), file_(std::move(file)) {}
  const TargetDescription& description() const override { return inner_->description(); }
  Status Supports(const ModelSpec& m, Precision p) const override { return inner_->Supports(m, p); }
  Status Prepare(const ModelSpec& m, Precision p) override { return inner_->Prepare(m, p); }
  Result<InferenceResult> Run(const ModelSpec& m, Precision p, int level,
                              const HostTensor& in) override {
    files_->Mark("begin", Contents(file_));
    auto r = inner_->Run(m, p, level, in);
    files_->Mark("end", Contents(file_));
    return r;
  }

 private:
  std::unique_ptr<Target> inner_;
  std::shared_ptr<JournalingFiles> files_;
  std::string file_;
};

std::string Khz(double mhz) { return std::to_string(static_cast<int64_t>(mhz * 1000 + 0.5)); }

// The must-hold of issue 14, point 4: the daemon with a CPU target on a fake cpufreq tree; each
// level an action picks is written before the run and the original setting restored after, also
// when the run fails.
TEST(DaemonCpufreq, EachPickedLevelIsWrittenBeforeTheRunAndRestoredAfterEvenOnFailure) {
  FakePolicy p;
  std::string cpus;
  for (int c : AllowedCpus()) cpus += std::to_string(c) + " ";
  p.related_cpus = cpus;
  p.available.clear();
  for (double mhz : kHostMhz) p.available += Khz(mhz) + " ";
  p.setspeed = "1996800";  // what the host was set to before the daemon
  const std::string root = testing::MakeCpufreqTree("daemon_cpufreq", {p});
  const std::string setspeed = PolicyDir(root, 0) + "/scaling_setspeed";
  auto files = std::make_shared<JournalingFiles>();
  LocalTargetFactory make_local =
      [&](const TargetBinding& b, const DeviceProfile& device) -> Result<std::unique_ptr<Target>> {
    CpuOptions o;
    o.name = b.name;
    o.threads = 1;
    o.use_counters = false;
    o.sysfs_root = root;
    o.sysfs_files = files;
    o.power = PowerModelFor(device, device.targets[device.FindTarget(b.name)]);
    return std::unique_ptr<Target>(new Observed(CpuTarget::Create(o), files, setspeed));
  };
  auto engine = BuildEngine(RandomConfig(), testing::ConfigRoot(), make_local);
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  files->ClearJournal();

  std::map<std::string, int> picked;
  constexpr int kRequests = 40;
  for (int i = 0; i < kRequests; ++i) {
    files->ClearJournal();
    Engine::Reply r = RunOne(**engine, Image(0.01f * i));
    ASSERT_TRUE(r.status.ok()) << r.status.message();
    const std::string level = LevelOf(r.action);
    ASSERT_TRUE(kProfileToHost.count(level)) << r.action;
    ++picked[level];
    const std::string want = Khz(kProfileToHost.at(level));
    EXPECT_DOUBLE_EQ(r.result.freq_mhz, kProfileToHost.at(level)) << r.action;
    std::vector<std::string> got;
    for (const auto& e : files->journal()) got.push_back(e.file + "=" + e.value);
    EXPECT_EQ(got, (std::vector<std::string>{"begin=1996800", "scaling_setspeed=" + want,
                                             "scaling_setspeed=1996800", "end=1996800"}))
        << r.action;
  }
  EXPECT_EQ(picked.size(), 5u) << "the policy picked too few levels to show anything";
  std::string levels;
  for (const auto& [level, n] : picked) levels += " " + level + " x" + std::to_string(n);
  // The figures for the closing note of issue 14.
  std::printf(
      "[ figures  ] %d requests, %zu levels picked:%s; each written before its run and "
      "restored after\n",
      kRequests, picked.size(), levels.c_str());
  EXPECT_EQ(Contents(setspeed), "1996800");

  // A run that fails after its level is written (the kernel reads the setting back as garbage):
  // the reply is an error and the setting is restored.
  files->ClearJournal();
  files->OnWrite([&](const std::string& f, const std::string& v) {
    if (f == "scaling_setspeed" && v != "1996800") files->Garbage(f, "garbage");
  });
  Engine::Reply failed = RunOne(**engine, Image(0.5f));
  files->OnWrite(nullptr);
  files->Garbage("scaling_setspeed", "", /*clear=*/true);
  ASSERT_FALSE(failed.status.ok());
  EXPECT_NE(failed.status.message().find("scaling_setspeed holds 'garbage'"), std::string::npos)
      << failed.status.message();
  std::vector<std::string> got;
  for (const auto& e : files->journal()) got.push_back(e.file + "=" + e.value);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0], "begin=1996800");
  EXPECT_TRUE(got[1].starts_with("scaling_setspeed=") && got[1] != "scaling_setspeed=1996800")
      << got[1];
  EXPECT_EQ(got[2], "scaling_setspeed=1996800");
  EXPECT_EQ(got[3], "end=1996800");
  EXPECT_EQ(Contents(setspeed), "1996800");

  // A bad input is refused before any target: nothing is written.
  files->ClearJournal();
  HostTensor bad;
  bad.shape = {1, 3, 10, 10};
  bad.data.assign(300, 0);
  EXPECT_EQ(RunOne(**engine, bad).status.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(files->journal().empty());

  // And the daemon keeps going at real levels afterwards.
  Engine::Reply after = RunOne(**engine, Image(0.2f));
  ASSERT_TRUE(after.status.ok()) << after.status.message();
  EXPECT_EQ(Contents(setspeed), "1996800");
  const nlohmann::json stats = nlohmann::json::parse((*engine)->StatsJson());
  EXPECT_EQ(stats["answered"], kRequests + 1) << stats;
  EXPECT_EQ(stats["failed"], 2) << stats;  // the garbage read-back and the bad input
}

#endif  // AUTOSCALE_HAVE_TORCH

}  // namespace
}  // namespace autoscale
