#include "env/pipeline.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>

#include "env/cost_model.h"

namespace autoscale {
namespace {

StageCosts Uniform(int stages, std::vector<double> layers, double handoff = 0) {
  StageCosts c;
  c.layer_ms.assign(stages, layers);
  c.handoff_ms.assign(layers.size(), handoff);
  return c;
}

// Every split, by enumeration: the smallest bottleneck (and, among equal ones, latency).
StageSplit BruteForce(const StageCosts& c) {
  const int stages = static_cast<int>(c.layer_ms.size());
  const int n = static_cast<int>(c.layer_ms[0].size());
  StageSplit best;
  best.bottleneck_ms = std::numeric_limits<double>::infinity();
  std::vector<int> begin(stages, 0);
  std::function<void(int)> rec = [&](int s) {
    if (s == stages) {
      auto split = EvaluateSplit(c, begin);
      ASSERT_TRUE(split.ok()) << split.status().ToString();
      if (split->bottleneck_ms < best.bottleneck_ms - 1e-12 ||
          (std::abs(split->bottleneck_ms - best.bottleneck_ms) <= 1e-12 &&
           split->latency_ms < best.latency_ms)) {
        best = *split;
      }
      return;
    }
    for (int b = begin[s - 1] + 1; b <= n - (stages - s); ++b) {
      begin[s] = b;
      rec(s + 1);
    }
  };
  if (stages == 1) {
    return *EvaluateSplit(c, {0});
  }
  rec(1);
  return best;
}

TEST(PipelineTest, TwoEqualHalvesSplitInTheMiddle) {
  auto split = BalanceStages(Uniform(2, {1, 1, 1, 1, 1, 1}));
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  EXPECT_EQ(split->begin, (std::vector<int>{0, 3}));
  EXPECT_DOUBLE_EQ(split->bottleneck_ms, 3.0);
  EXPECT_DOUBLE_EQ(split->latency_ms, 6.0);
  EXPECT_DOUBLE_EQ(split->throughput_per_s(), 1e3 / 3.0);
}

TEST(PipelineTest, OneHeavyLayerSetsTheBottleneck) {
  // No split can beat the 10 ms layer; the search puts it alone.
  auto split = BalanceStages(Uniform(3, {1, 1, 10, 1}));
  ASSERT_TRUE(split.ok());
  EXPECT_DOUBLE_EQ(split->bottleneck_ms, 10.0);
  EXPECT_DOUBLE_EQ(split->latency_ms, 13.0);
  EXPECT_EQ(split->begin, (std::vector<int>{0, 2, 3}));
}

TEST(PipelineTest, HandOffCostMovesTheCutToASmallLiveSet) {
  // Cutting before layer 1 or 2 hands over a large tensor; before layer 3, a small one.
  // Without hand-off costs the equal layers would be cut before layer 2.
  StageCosts c = Uniform(2, {1, 1, 1, 1});
  c.handoff_ms = {0, 5, 5, 0.1};
  auto split = BalanceStages(c);
  ASSERT_TRUE(split.ok());
  EXPECT_EQ(split->begin, (std::vector<int>{0, 3}));
  EXPECT_DOUBLE_EQ(split->stage_ms[1], 1.1);
}

TEST(PipelineTest, StagesOnUnequalClustersGetUnequalLayerCounts) {
  // A big cluster twice as fast as a little one: the little stage gets about a third.
  StageCosts c;
  c.layer_ms = {std::vector<double>(12, 1.0), std::vector<double>(12, 2.0)};
  c.handoff_ms.assign(12, 0.0);
  auto split = BalanceStages(c);
  ASSERT_TRUE(split.ok());
  EXPECT_EQ(split->begin, (std::vector<int>{0, 8}));
  EXPECT_DOUBLE_EQ(split->bottleneck_ms, 8.0);
}

TEST(PipelineTest, MatchesEnumerationOnRandomCosts) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> ms(0.01, 5.0), hand(0.0, 0.5);
  for (int trial = 0; trial < 200; ++trial) {
    const int stages = 1 + trial % 4;
    const int n = stages + static_cast<int>(rng() % 9);
    StageCosts c;
    c.layer_ms.resize(stages);
    for (auto& row : c.layer_ms) {
      for (int j = 0; j < n; ++j) row.push_back(ms(rng));
    }
    for (int j = 0; j < n; ++j) c.handoff_ms.push_back(hand(rng));
    auto split = BalanceStages(c);
    ASSERT_TRUE(split.ok()) << split.status().ToString();
    const StageSplit want = BruteForce(c);
    EXPECT_NEAR(split->bottleneck_ms, want.bottleneck_ms, 1e-9) << "trial " << trial;
    EXPECT_NEAR(split->latency_ms, want.latency_ms, 1e-9) << "trial " << trial;
  }
}

TEST(PipelineTest, RefusesWhatCannotBeSplit) {
  EXPECT_FALSE(BalanceStages(StageCosts{}).ok());
  auto few = BalanceStages(Uniform(3, {1, 1}));
  ASSERT_FALSE(few.ok());
  EXPECT_NE(few.status().message().find("at least as many layers"), std::string::npos)
      << few.status().ToString();
  StageCosts nan = Uniform(2, {1, std::nan(""), 1});
  auto bad = BalanceStages(nan);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("stage 0, layer 1"), std::string::npos)
      << bad.status().ToString();
  StageCosts ragged = Uniform(2, {1, 1, 1});
  ragged.layer_ms[1].pop_back();
  EXPECT_FALSE(BalanceStages(ragged).ok());
  StageCosts neg = Uniform(2, {1, 1, 1});
  neg.handoff_ms[1] = -1;
  EXPECT_FALSE(BalanceStages(neg).ok());
  // Splits that are not splits.
  const StageCosts c = Uniform(2, {1, 1, 1});
  EXPECT_FALSE(EvaluateSplit(c, {0}).ok());
  EXPECT_FALSE(EvaluateSplit(c, {1, 2}).ok());
  EXPECT_FALSE(EvaluateSplit(c, {0, 0}).ok());
  EXPECT_FALSE(EvaluateSplit(c, {0, 3}).ok());
  EXPECT_TRUE(EvaluateSplit(c, {0, 2}).ok());
}

TEST(PipelineTest, DescribesTheSplit) {
  const StageCosts c = Uniform(2, {1, 2, 3, 4}, 0.25);
  auto split = EvaluateSplit(c, {0, 3});
  ASSERT_TRUE(split.ok());
  const std::string s = DescribeSplit(*split, c, {"conv1", "conv2", "conv3", "fc"});
  EXPECT_EQ(s,
            "stage 0: layers 0 conv1 - 2 conv3 (6 ms) | stage 1: layers 3 fc - 3 fc (4.25 ms, "
            "hand-off 0.25 ms)");
}

}  // namespace
}  // namespace autoscale

namespace autoscale {
namespace {

// A small CNN's layers as the executors describe them: three convolutions, a pooling, a linear.
std::vector<LayerDescriptor> SmallCnn() {
  std::vector<LayerDescriptor> layers;
  auto conv = [&](double macs, double out) {
    LayerDescriptor l;
    l.op = "conv";
    l.in_channels = 16;
    l.out_channels = 16;
    l.kernel_h = l.kernel_w = 3;
    l.macs = macs;
    l.output_elements = out;
    layers.push_back(l);
  };
  conv(40e6, 200e3);
  conv(80e6, 100e3);
  conv(20e6, 50e3);
  LayerDescriptor pool;
  pool.op = "global_avg_pool";
  pool.output_elements = 512;
  layers.push_back(pool);
  LayerDescriptor fc;
  fc.op = "linear";
  fc.in_channels = 512;
  fc.out_channels = 1000;
  fc.macs = 512e3;
  fc.output_elements = 1000;
  layers.push_back(fc);
  return layers;
}

DeviceProfile Sd845() {
  auto d = LoadDeviceProfile(std::string(AUTOSCALE_SOURCE_DIR) + "/configs/devices/sd845.yaml");
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return *d;
}

TEST(DevicePipelineTest, LayerTimesAddUpToTheCostModelsTime) {
  const DeviceProfile d = Sd845();
  const auto layers = SmallCnn();
  ModelProfile m;
  m.name = "small";
  m.conv_layers = 3;
  m.fc_layers = 1;
  m.fc_macs = 512e3;
  m.macs = 140e6 + 512e3;
  for (const TargetProfile& t : d.targets) {
    if (IsRemote(t.kind) || t.is_pipeline() || !t.Supports(Precision::kFp32)) continue;
    const auto ms = LayerTimesOn(t, Precision::kFp32, layers);
    double sum = 0;
    for (double v : ms) sum += v;
    EXPECT_NEAR(sum, LocalComputeMs(t, 0, Precision::kFp32, m), 1e-9 * sum) << t.name;
    EXPECT_EQ(ms[3], 0.0) << "a pooling layer costs nothing in the MAC-rate formula";
  }
}

TEST(DevicePipelineTest, BigAndLittleClustersOutrunTheBigOneAlone) {
  const DeviceProfile d = Sd845();
  auto costs = DeviceStageCosts(d, {"cpu_big", "cpu_little"}, Precision::kFp32, SmallCnn());
  ASSERT_TRUE(costs.ok()) << costs.status().ToString();
  auto split = BalanceStages(*costs);
  ASSERT_TRUE(split.ok());
  double big_alone = 0;
  for (double v : costs->layer_ms[0]) big_alone += v;
  EXPECT_LT(split->bottleneck_ms, big_alone);
  EXPECT_GT(split->latency_ms, split->bottleneck_ms);
  // The little cluster gets the smaller share of the work.
  EXPECT_GE(split->begin[1], 2);
  // Hand-offs move the previous layer's output.
  EXPECT_NEAR(costs->handoff_ms[1], 0.02 + 4 * 200e3 / 10e9 * 1e3, 1e-12);
}

TEST(DevicePipelineTest, RefusesStagesThatAreNotLocalProcessors) {
  const DeviceProfile d = Sd845();
  auto unknown = DeviceStageCosts(d, {"cpu_big", "cpu_tiny"}, Precision::kFp32, SmallCnn());
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("no target 'cpu_tiny'"), std::string::npos)
      << unknown.status().ToString();
  EXPECT_NE(unknown.status().message().find("cpu_little"), std::string::npos);
  auto remote = DeviceStageCosts(d, {"cpu_big", "cloud"}, Precision::kFp32, SmallCnn());
  ASSERT_FALSE(remote.ok());
  EXPECT_NE(remote.status().message().find("remote"), std::string::npos);
  auto precision = DeviceStageCosts(d, {"cpu_big", "gpu"}, Precision::kInt8, SmallCnn());
  ASSERT_FALSE(precision.ok());
  EXPECT_NE(precision.status().message().find("does not run int8"), std::string::npos)
      << precision.status().ToString();
  EXPECT_FALSE(DeviceStageCosts(d, {}, Precision::kFp32, SmallCnn()).ok());
}

}  // namespace
}  // namespace autoscale
