#include "sim/world.h"

#include <gtest/gtest.h>

#include <cmath>

#include "test_util.h"

namespace autoscale {
namespace {

class WorldTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dev = catalog_.Device("sd845");
    ASSERT_TRUE(dev.ok());
    for (const char* m : {"mobilenet_v1", "resnet50"}) models_.push_back(**catalog_.Model(m));
    auto cm = CostModel::Create(**dev, models_, catalog_);
    ASSERT_TRUE(cm.ok()) << cm.status().ToString();
    cm_ = std::move(cm).value();
    ep_.time_s = {0.0, 0.3, 0.5};
    ep_.model = {0, 1, 0};
    ep_.mean_gap_s = 0.25;
    obs_.model = 0;
    obs_.wifi_rssi_dbm = -60;
    obs_.wifi_down_mbps = 100;
    obs_.wifi_up_mbps = 50;
    obs_.p2p_rssi_dbm = -50;
  }
  ProfileCatalog catalog_{testing::ConfigRoot()};
  std::vector<ModelProfile> models_;
  std::unique_ptr<CostModel> cm_;
  Episode ep_;
  Observation obs_;
};

TEST_F(WorldTest, NoiseIsAPureFunctionOfSeedRequestAndAction) {
  WorldOptions opt;
  World a(*cm_, ep_, opt, 42), b(*cm_, ep_, opt, 42), c(*cm_, ep_, opt, 43);
  const int cpu = cm_->actions().Find("cpu_big", Precision::kFp32);
  a.SetRequest(0, obs_);
  b.SetRequest(0, obs_);
  c.SetRequest(0, obs_);
  const Outcome oa = a.Execute(cpu);
  EXPECT_EQ(oa.latency_ms, b.Execute(cpu).latency_ms);
  EXPECT_EQ(oa.latency_ms, a.Execute(cpu).latency_ms);  // asking twice changes nothing
  EXPECT_NE(oa.latency_ms, c.Execute(cpu).latency_ms);
  EXPECT_EQ(a.TrueOutcome(cpu).energy_mj, oa.energy_mj);  // the oracle sees the same world
  a.SetRequest(2, obs_);
  EXPECT_NE(a.Execute(cpu).latency_ms, oa.latency_ms);  // another request, other noise
}

TEST_F(WorldTest, NoiseIsMeanPreservingAndScaledBySigma) {
  WorldOptions opt;
  opt.compute_noise = 0.1;
  const int cpu = cm_->actions().Find("cpu_big", Precision::kFp32);
  const double expected = cm_->Predict(cpu, obs_).latency_ms;
  Episode big;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    big.time_s.push_back(i * 0.2);
    big.model.push_back(0);
  }
  World w(*cm_, big, opt, 5);
  double sum = 0, sum_log2 = 0;
  for (int i = 0; i < n; ++i) {
    w.SetRequest(i, obs_);
    const double l = w.Execute(cpu).latency_ms;
    sum += l;
    sum_log2 += std::pow(std::log(l / expected), 2);
  }
  EXPECT_NEAR(sum / n / expected, 1.0, 0.01);  // overhead is not noisy: close to 1
  EXPECT_NEAR(std::sqrt(sum_log2 / n), 0.1, 0.01);
}

TEST_F(WorldTest, WithoutNoiseTheWorldIsTheCostModel) {
  WorldOptions opt;
  opt.compute_noise = 0;
  opt.network_noise = 0;
  World w(*cm_, ep_, opt, 1);
  w.SetRequest(1, obs_);  // gaps 0.3 before, 0.2 after
  for (int a = 0; a < cm_->actions().size(); ++a) {
    Conditions c;
    c.prev_gap_s = 0.3f;
    c.next_gap_s = 0.2f;
    const Outcome want = cm_->Evaluate(a, obs_, c);
    const Outcome got = w.Execute(a);
    EXPECT_FLOAT_EQ(got.latency_ms, want.latency_ms) << cm_->actions().names[a];
    EXPECT_FLOAT_EQ(got.energy_mj, want.energy_mj) << cm_->actions().names[a];
  }
}

TEST_F(WorldTest, FailureRateDropsOffloadsOnly) {
  WorldOptions opt;
  opt.remote_failure_rate = 1.0;
  opt.compute_noise = opt.network_noise = 0;
  World w(*cm_, ep_, opt, 1);
  w.SetRequest(0, obs_);
  // A dropped offload is given up at its deadline (no bound: the remote timeout) and answered by
  // the fallback, cpu_big at FP32 (CostModel::Evaluate).
  const int cloud = cm_->actions().Find("cloud", Precision::kFp32);
  const Outcome o = w.Execute(cloud);
  EXPECT_FALSE(o.failed);
  const double run = cm_->Predict(cm_->fallback_action(), obs_).latency_ms;
  EXPECT_NEAR(o.latency_ms, cm_->options().remote_timeout_ms + run, 1e-3);
  EXPECT_GT(o.latency_ms, cm_->Predict(cloud, obs_).latency_ms);
  const int cpu = cm_->actions().Find("cpu_big", Precision::kFp32);
  EXPECT_EQ(cm_->fallback_action(), cpu);
  EXPECT_FALSE(w.Execute(cpu).failed);
  EXPECT_EQ(w.Execute(cpu).latency_ms, cm_->Predict(cpu, obs_).latency_ms);  // not dropped
}

}  // namespace
}  // namespace autoscale
