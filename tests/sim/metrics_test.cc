#include "sim/metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/random.h"

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
  // Met both: 1..50 ms less the 12 multiples of 4 under the floor. Score: those 38, plus
  // 2 - i / 50 for the late i in 51..100 that meet the floor: sum over 51..100 is
  // 100 - 3775 / 50 = 24.5, less the 13 multiples of 4 (52..100, sum 988): 26 - 19.76 = 6.24.
  EXPECT_DOUBLE_EQ(m.SatisfiedRate(), 0.38);
  EXPECT_NEAR(m.Satisfaction(), (38 + 24.5 - 6.24) / 100, 1e-12);
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

// Satisfaction (README.md, "Reports"): met both constraints, and the score 1 within the bound,
// 2 - latency / bound up to twice the bound, 0 beyond it or under the accuracy floor or failed.
TEST(RunMetrics, SatisfiedShareAndSatisfactionScore) {
  RunMetrics m(1, 1, 1);
  Observation obs;
  obs.latency_bound_ms = 100;
  obs.min_accuracy = 0.7f;
  auto record = [&](const Observation& o, float latency_ms, float accuracy, bool failed = false) {
    Outcome out;
    out.latency_ms = latency_ms;
    out.accuracy = accuracy;
    out.failed = failed;
    m.Record(o, 0, out, false);
  };
  record(obs, 40, 0.8f);        // met both: 1
  record(obs, 100, 0.7f);       // exactly at the bound and the floor: met, 1
  record(obs, 150, 0.8f);       // late by half the bound: 2 - 1.5 = 0.5
  record(obs, 250, 0.8f);       // past twice the bound: 0
  record(obs, 40, 0.6f);        // under the floor: 0
  record(obs, 10, 0.9f, true);  // failed: 0
  record(obs, 125, 0.9f);       // 2 - 1.25 = 0.75
  Observation unbounded = obs;  // no latency bound
  unbounded.latency_bound_ms = std::numeric_limits<float>::infinity();
  record(unbounded, 1e6f, 0.9f);  // met, 1
  // Met both: requests 1, 2 and 8 of 8. Score: (1 + 1 + 0.5 + 0.75 + 1) / 8 = 4.25 / 8.
  EXPECT_DOUBLE_EQ(m.SatisfiedRate(), 3.0 / 8);
  EXPECT_DOUBLE_EQ(m.Satisfaction(), 4.25 / 8);
  EXPECT_NEAR(SatisfactionScore(Outcome{.latency_ms = 199, .accuracy = 1}, obs), 0.01, 1e-12);
}

TEST(RunMetrics, NoRequestsGiveZeroSatisfaction) {
  RunMetrics m(1, 1, 1);
  EXPECT_EQ(m.SatisfiedRate(), 0);
  EXPECT_EQ(m.Satisfaction(), 0);
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

// The pooled histogram's percentiles are within its stated resolution (0.4%) of the exact
// nearest-rank percentiles of all the latencies, and merging histograms equals pooling.
TEST(LatencyHistogram, PercentilesWithinResolutionOfTheExactPooledOnes) {
  Rng rng(42);
  std::vector<float> all;
  LatencyHistogram a, b, pooled;
  for (int i = 0; i < 20000; ++i) {
    // Log-uniform over 0.05 ms .. 20 s, as latencies spread over targets and networks.
    const float v = static_cast<float>(0.05 * std::pow(4e5, ToUnit(rng.Next())));
    all.push_back(v);
    (i % 3 ? a : b).Add(v);
    pooled.Add(v);
  }
  LatencyHistogram merged = a;
  merged.Merge(b);
  EXPECT_EQ(merged, pooled);
  EXPECT_EQ(merged.count(), 20000u);
  std::sort(all.begin(), all.end());
  for (double q : {0.0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0}) {
    size_t rank = static_cast<size_t>(std::ceil(q * all.size()));
    rank = std::clamp<size_t>(rank, 1, all.size());
    const double exact = all[rank - 1];
    EXPECT_NEAR(merged.Percentile(q), exact, exact * 0.004) << "q " << q;
  }
}

TEST(LatencyHistogram, BucketsAreBfloat16Truncations) {
  // 1/128 octave: 1.0 and 1.0078125 (1 + 2^-7) are neighbours; 1.007 shares 1.0's bucket.
  EXPECT_EQ(LatencyHistogram::Bucket(1.0f), 0x3F80);
  EXPECT_EQ(LatencyHistogram::Bucket(1.007f), 0x3F80);
  EXPECT_EQ(LatencyHistogram::Bucket(1.0078125f), 0x3F81);
  EXPECT_DOUBLE_EQ(LatencyHistogram::BucketMidpoint(0x3F80), 1.00390625);
  // Negative and NaN latencies have a bucket too (0 and infinity), never a crash.
  EXPECT_EQ(LatencyHistogram::Bucket(-3.0f), LatencyHistogram::Bucket(0.0f));
  EXPECT_EQ(LatencyHistogram::Bucket(std::numeric_limits<float>::quiet_NaN()),
            LatencyHistogram::Bucket(std::numeric_limits<float>::infinity()));
  LatencyHistogram h;
  EXPECT_TRUE(std::isnan(h.Percentile(0.5)));
  h.Add(std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isinf(h.Percentile(0.5)));
}

TEST(RunMetrics, LatenciesFeedTheHistogram) {
  RunMetrics m(1, 1, 1);
  Observation obs;
  for (int i = 1; i <= 100; ++i) {
    Outcome o;
    o.latency_ms = static_cast<float>(i);
    m.Record(obs, 0, o, false);
  }
  const LatencyHistogram h = m.Latencies();
  EXPECT_EQ(h.count(), 100u);
  EXPECT_NEAR(h.Percentile(0.5), m.LatencyPercentile(0.5), 50 * 0.004);
  EXPECT_NEAR(h.Percentile(0.99), m.LatencyPercentile(0.99), 99 * 0.004);
}

}  // namespace
}  // namespace autoscale
