#include "sim/scenario.h"

#include <gtest/gtest.h>

#include <cmath>

#include "test_util.h"

namespace autoscale {
namespace {

Result<ConditionLibrary> ParseLib(const std::string& text, const std::string& name = "c.yaml") {
  auto root = ConfigNode::LoadString(text, name);
  if (!root.ok()) return root.status();
  ConditionLibrary lib;
  RETURN_IF_ERROR(lib.Parse(*root));
  return lib;
}

class ScenarioTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* m : {"mobilenet_v1", "vgg16"}) {
      auto p = catalog_.Model(m);
      ASSERT_TRUE(p.ok());
      models_.push_back(**p);
    }
  }
  Scenario Make(const ConditionLibrary& lib) {
    Scenario sc;
    sc.name = "s";
    sc.device = "sd845";
    sc.network = lib.networks.at(0);
    sc.load = lib.loads.at(0);
    sc.requests = lib.requests.at(0);
    return sc;
  }
  ProfileCatalog catalog_{testing::ConfigRoot()};
  std::vector<ModelProfile> models_;
};

constexpr const char* kLib = R"(networks:
  n:
    wifi: {signal_dbm: {mean: -60, stddev: 3}}
    cellular: none
    p2p_dbm: -50
loads:
  l: {cpu: {on: 0.8, off: 0.1, mean_on_s: 5, mean_off_s: 5}, gpu: 0.25, mem: {mean: 0.4, stddev: 0.1}}
requests:
  r: {latency_bound_ms: 80, min_accuracy: 0.5, rate_hz: 10}
)";

TEST_F(ScenarioTest, ParsesEveryKindOfQuantity) {
  auto lib = ParseLib(kLib);
  ASSERT_TRUE(lib.ok()) << lib.status().ToString();
  ASSERT_EQ(lib->networks.size(), 1u);
  const NetworkCondition& n = lib->networks[0];
  EXPECT_TRUE(n.wifi.connected);
  EXPECT_FALSE(n.cell.connected);
  EXPECT_EQ(n.wifi.signal_dbm.kind, QuantitySpec::Kind::kOu);
  EXPECT_EQ(n.p2p_dbm.kind, QuantitySpec::Kind::kConstant);
  EXPECT_EQ(lib->loads[0].cpu.kind, QuantitySpec::Kind::kOnOff);
  EXPECT_DOUBLE_EQ(lib->loads[0].gpu.value, 0.25);
  EXPECT_DOUBLE_EQ(lib->requests[0].latency_bound_ms, 80);
  EXPECT_DOUBLE_EQ(lib->requests[0].rate_hz, 10);
}

TEST_F(ScenarioTest, ErrorsAreLocatedAndSuggest) {
  auto a = ParseLib("loads:\n  l: {cpu: 1.5}\n");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("c.yaml:2:12: loads.l.cpu: expected a number in [0, 1]"),
            std::string::npos)
      << a.status().message();
  auto b = ParseLib("networks:\n  n: {wifi: {signal: -50}}\n");
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("did you mean 'signal_dbm'?"), std::string::npos)
      << b.status().message();
  auto c = ParseLib("loads:\n  l: {cpu: {trace: x.csv, format: pcap}}\n");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("unknown trace format 'pcap'"), std::string::npos)
      << c.status().message();
  auto d = ParseLib("loads:\n  l: {cpu: 0}\n  l: {cpu: 1}\n");
  ASSERT_FALSE(d.ok());
  auto e = ParseLib("loads:\n  l: {cpu: {trace: /nonexistent.csv}}\n");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("c.yaml:2:20: loads.l.cpu.trace: /nonexistent.csv"),
            std::string::npos)
      << e.status().message();
}

TEST_F(ScenarioTest, EpisodesAreDeterministicPerSeedAndStream) {
  auto lib = ParseLib(kLib);
  ASSERT_TRUE(lib.ok());
  Scenario sc = Make(*lib);
  auto a = BuildEpisode(sc, models_, catalog_, 0, 1000, 3, 0);
  auto b = BuildEpisode(sc, models_, catalog_, 0, 1000, 3, 0);
  auto c = BuildEpisode(sc, models_, catalog_, 0, 1000, 3, 1);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->time_s, b->time_s);
  EXPECT_EQ(a->model, b->model);
  EXPECT_NE(a->time_s, c->time_s);
  EXPECT_EQ(a->size(), 1000u);
  // Poisson at 10 Hz: mean gap near 0.1 s.
  const double mean_gap = (a->time_s.back() - a->time_s.front()) / 999;
  EXPECT_NEAR(mean_gap, 0.1, 0.01);
  for (size_t i = 1; i < a->size(); ++i) ASSERT_GE(a->time_s[i], a->time_s[i - 1]);
}

TEST_F(ScenarioTest, ObserverReadsTracesAndProfiles) {
  auto lib = ParseLib(kLib);
  ASSERT_TRUE(lib.ok());
  Scenario sc = Make(*lib);
  auto ep = BuildEpisode(sc, models_, catalog_, 0, 2000, 1, 0);
  ASSERT_TRUE(ep.ok());
  Observer obs(*ep, models_);
  auto wifi = catalog_.Network("wifi");
  ASSERT_TRUE(wifi.ok());
  int on = 0;
  for (size_t i = 0; i < ep->size(); ++i) {
    Observation o = obs.At(i);
    ASSERT_EQ(o.model, ep->model[i]);
    EXPECT_EQ(o.macs, models_[o.model].macs);
    EXPECT_FLOAT_EQ(o.gpu_load, 0.25f);
    EXPECT_FLOAT_EQ(o.p2p_rssi_dbm, -50.0f);
    EXPECT_FALSE(o.cell_connected());
    EXPECT_TRUE(o.wifi_connected());
    EXPECT_FLOAT_EQ(o.latency_bound_ms, 80.0f);
    EXPECT_FLOAT_EQ(o.min_accuracy, 0.5f);
    // Without a throughput trace the link follows the profile's curve at the observed signal.
    EXPECT_NEAR(o.wifi_down_mbps, (*wifi)->At(o.wifi_rssi_dbm).down_mbps, 1e-3);
    EXPECT_TRUE(o.cpu_load > 0.5f || o.cpu_load < 0.4f);
    on += o.cpu_load > 0.5f;
  }
  // The on/off load spends about half the time on.
  EXPECT_GT(on, 400);
  EXPECT_LT(on, 1600);
}

TEST_F(ScenarioTest, RequestTraceDrivesArrivalsAndRejectsUnknownModels) {
  const std::string dir = testing::TempDir("scenario_reqs");
  testing::WriteFile(dir + "/reqs.csv",
                     "time_s,model,latency_bound_ms\n0.5,vgg16,900\n1.0,mobilenet_v1,\n");
  auto lib = ParseLib(std::string(kLib) + "  t: {trace: reqs.csv, latency_bound_ms: 40}\n",
                      dir + "/c.yaml");
  ASSERT_TRUE(lib.ok()) << lib.status().ToString();
  Scenario sc = Make(*lib);
  sc.requests = lib->requests.at(1);
  auto ep = BuildEpisode(sc, models_, catalog_, 0, 5, 1, 0);
  ASSERT_TRUE(ep.ok()) << ep.status().ToString();
  EXPECT_EQ(ep->model, (std::vector<int32_t>{1, 0, 1, 0, 1}));
  EXPECT_FLOAT_EQ(ep->latency_bound_ms[0], 900.0f);
  EXPECT_FLOAT_EQ(ep->latency_bound_ms[1], 40.0f);  // empty cell: the condition's default
  EXPECT_GT(ep->time_s[2], ep->time_s[1]);          // the trace repeats later in time
  std::vector<ModelProfile> only_v1 = {models_[0]};
  auto bad = BuildEpisode(sc, only_v1, catalog_, 0, 5, 1, 0);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("model 'vgg16'"), std::string::npos);
}

// Issue 10, item 5: trace values are checked against their quantity's range (as scaled), with
// the YAML key and the trace's file and line. A load trace of 50 and -3 used to be accepted
// (and gave negative energy); a link trace of 1e300 Mbit/s gave null in summary.json.
TEST_F(ScenarioTest, TraceValuesOutsideTheQuantityRangeAreRefusedWithFileAndLine) {
  const std::string dir = testing::TempDir("scenario_ranges");
  testing::WriteFile(dir + "/load.csv", "time_s,cpu\n0,0.5\n# comment\n1,50\n2,-3\n");
  testing::WriteFile(dir + "/bw.log", "0 10\n1 1e300\n");
  testing::WriteFile(dir + "/sig.csv", "time_s,dbm\n0,-50\n");
  struct Case {
    std::string yaml, want;
  };
  const std::vector<Case> cases = {
      {"loads:\n  l: {cpu: {trace: load.csv}}\n",
       "c.yaml:2:20: loads.l.cpu.trace: " + dir +
           "/load.csv:4: load in column 'cpu' must be in [0, 1], got 50"},
      {"networks:\n  n: {wifi: {signal_dbm: -60, down_mbps: {trace: bw.log, format: "
       "bandwidth_log}}}\n",
       "networks.n.wifi.down_mbps.trace: " + dir +
           "/bw.log:2: throughput in Mbit/s in column 'mbps' must be in [0, 1e+06], got 1e+300"},
      {"networks:\n  n: {wifi: {signal_dbm: {trace: sig.csv, scale: 10}}}\n",
       "/sig.csv:2: signal in dBm in column 'dbm' must be in [-199, 0], got -50 (times scale 10 "
       "= -500)"},
  };
  for (const Case& c : cases) {
    auto lib = ParseLib(c.yaml, dir + "/c.yaml");
    ASSERT_FALSE(lib.ok()) << c.yaml;
    EXPECT_NE(lib.status().message().find(c.want), std::string::npos) << lib.status().message();
  }
}

// An on/off model makes values in [0, 1]: right for a load, never for a signal in dBm.
TEST_F(ScenarioTest, OnOffOutsideALoadIsRefused) {
  auto lib = ParseLib("networks:\n  n: {wifi: {signal_dbm: {on: 0.5}}}\n");
  ASSERT_FALSE(lib.ok());
  EXPECT_NE(lib.status().message().find("networks.n.wifi.signal_dbm: an {on, off} model"),
            std::string::npos)
      << lib.status().message();
}

// Issue 10, item 4: rate_hz 1e-5 (inside its documented range) made the generated load and
// signal traces one sample per second over 1e8 s: std::bad_alloc. Samples are sized first.
TEST_F(ScenarioTest, SlowRateSizesGeneratedTracesBeforeAllocating) {
  std::string text = kLib;
  text.replace(text.find("rate_hz: 10"), 11, "rate_hz: 1e-5");
  auto lib = ParseLib(text);
  ASSERT_TRUE(lib.ok()) << lib.status().ToString();
  auto ep = BuildEpisode(Make(*lib), models_, catalog_, 0, 1000, 1, 0);
  ASSERT_TRUE(ep.ok()) << ep.status().ToString();
  EXPECT_GT(ep->time_s.back(), 1e7);  // about 1000 / 1e-5 s
  for (const Trace* t : {&ep->wifi_dbm, &ep->cpu, &ep->mem}) {
    EXPECT_LE(t->size(), kMaxEpisodeGeneratedSamples);
    EXPECT_GT(t->size(), 1000u);
    // The generated traces still cover the whole episode.
    EXPECT_GE(t->times().back(), ep->time_s.back());
  }
  Observer obs(*ep, models_);
  for (size_t i = 0; i < ep->size(); ++i) {
    const Observation o = obs.At(i);
    EXPECT_GE(o.cpu_load, 0.0f);
    EXPECT_LE(o.cpu_load, 1.0f);
  }
}

// The same through a request trace whose last row is at t = 1e9 s, looped.
TEST_F(ScenarioTest, LateRequestTraceRowSizesGeneratedTraces) {
  const std::string dir = testing::TempDir("scenario_late");
  testing::WriteFile(dir + "/req.csv", "time_s,model\n0,vgg16\n1e9,mobilenet_v1\n");
  std::string text = kLib;
  text.replace(text.find("rate_hz: 10"), 11, "trace: req.csv");
  auto lib = ParseLib(text, dir + "/c.yaml");
  ASSERT_TRUE(lib.ok()) << lib.status().ToString();
  auto ep = BuildEpisode(Make(*lib), models_, catalog_, 0, 6, 1, 0);
  ASSERT_TRUE(ep.ok()) << ep.status().ToString();
  EXPECT_GE(ep->time_s.back(), 2e9);
  EXPECT_LE(ep->mem.size(), kMaxEpisodeGeneratedSamples);
  EXPECT_LE(ep->wifi_dbm.size(), kMaxEpisodeGeneratedSamples);
}

// Condition names end up in reports and file names: valid UTF-8, no control characters.
TEST_F(ScenarioTest, ConditionNamesAreCheckedText) {
  auto lib = ParseLib("loads:\n  \"a\\tb\": {cpu: 0.1}\n");
  ASSERT_FALSE(lib.ok());
  EXPECT_NE(lib.status().message().find("condition name"), std::string::npos)
      << lib.status().message();
}

}  // namespace
}  // namespace autoscale
