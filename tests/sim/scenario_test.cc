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

}  // namespace
}  // namespace autoscale
