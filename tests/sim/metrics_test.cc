#include "sim/metrics.h"

#include <gtest/gtest.h>

#include <cmath>

namespace autoscale {
namespace {

TEST(RunMetrics, RatesPercentilesAndTargetMix) {
  RunMetrics m(3, 4, 8);
  Observation obs;
  obs.latency_bound_ms = 50;
  obs.min_accuracy = 0.7f;
  for (int i = 1; i <= 100; ++i) {
    Outcome o;
    o.latency_ms = static_cast<float>(i);  // 1..100 ms: 50 of them above the bound
    o.energy_mj = 2;
    o.accuracy = i % 4 == 0 ? 0.6f : 0.8f;  // 25 miss the floor
    m.Record(obs, i % 3, o, i % 5 == 0);
  }
  EXPECT_EQ(m.requests(), 100u);
  EXPECT_DOUBLE_EQ(m.EnergyPerInference(), 2.0);
  EXPECT_DOUBLE_EQ(m.QosViolationRate(), 0.5);
  EXPECT_DOUBLE_EQ(m.AccuracyViolationRate(), 0.25);
  EXPECT_DOUBLE_EQ(m.OracleAgreement(), 0.2);
  EXPECT_DOUBLE_EQ(m.LatencyPercentile(0.5), 50);
  EXPECT_DOUBLE_EQ(m.LatencyPercentile(0.99), 99);
  EXPECT_DOUBLE_EQ(m.LatencyPercentile(1.0), 100);
  EXPECT_EQ(m.target_counts(), (std::vector<uint64_t>{33, 34, 33}));
}

TEST(RunMetrics, FailedOutcomesViolateBothConstraints) {
  RunMetrics m(1, 1, 1);
  Observation obs;
  obs.latency_bound_ms = 1e9f;
  Outcome o;
  o.failed = true;
  o.accuracy = 1;
  m.Record(obs, 0, o, false);
  EXPECT_DOUBLE_EQ(m.QosViolationRate(), 1.0);
  EXPECT_DOUBLE_EQ(m.AccuracyViolationRate(), 1.0);
  EXPECT_DOUBLE_EQ(m.FailureRate(), 1.0);
}

TEST(RunMetrics, SeriesAveragesPerBinAndMarksEmptyBins) {
  RunMetrics m(1, 4, 8);
  m.RecordSeries(0, 1);
  m.RecordSeries(1, 3);
  m.RecordSeries(6, 10);
  m.RecordSeries(100, 20);  // past the end: clamped into the last bin
  auto s = m.Series();
  ASSERT_EQ(s.size(), 4u);
  EXPECT_DOUBLE_EQ(s[0], 2);
  EXPECT_TRUE(std::isnan(s[1]));
  EXPECT_TRUE(std::isnan(s[2]));
  EXPECT_DOUBLE_EQ(s[3], 15);
}

}  // namespace
}  // namespace autoscale
