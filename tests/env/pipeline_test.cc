#include "env/pipeline.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>

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
