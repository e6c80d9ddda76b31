#include "env/trace_gen.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <vector>

namespace autoscale {
namespace {

struct Moments {
  double mean = 0, stddev = 0;
};

Moments MomentsOf(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  Moments m;
  m.mean = sum / static_cast<double>(v.size());
  double ss = 0;
  for (double x : v) ss += (x - m.mean) * (x - m.mean);
  m.stddev = std::sqrt(ss / static_cast<double>(v.size()));
  return m;
}

// ---- Ornstein-Uhlenbeck -----------------------------------------------------------------------

TEST(TraceGenOuTest, ShapeAndStart) {
  OuParams p{.mean = -80, .stddev = 6, .reversion_per_s = 0.2};
  Trace t = GenerateOu("sig", "signal_dbm", p, 10.0, 0.1, 42);
  EXPECT_EQ(t.name(), "sig");
  EXPECT_EQ(t.columns(), (std::vector<std::string>{"signal_dbm"}));
  ASSERT_EQ(t.size(), 100u);
  EXPECT_EQ(t.times()[0], 0.0);
  EXPECT_DOUBLE_EQ(t.times()[99], 9.9);
  EXPECT_NEAR(t.period_s(), 10.0, 1e-9);
  EXPECT_EQ(t.values(0)[0], -80.0);  // starts at the mean
  EXPECT_NE(t.values(0)[1], -80.0);

  // Degenerate lengths give one sample at the mean.
  Trace one = GenerateOu("o", "x", p, 0.0, 0.1, 1);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one.values(0)[0], -80.0);
  EXPECT_EQ(GenerateOu("o", "x", p, 5.0, 0.0, 1).size(), 1u);
}

TEST(TraceGenOuTest, DeterministicForASeed) {
  OuParams p{.mean = 0.5, .stddev = 0.1, .reversion_per_s = 0.5};
  Trace a = GenerateOu("a", "x", p, 100, 0.5, 7);
  Trace b = GenerateOu("b", "x", p, 100, 0.5, 7);
  Trace c = GenerateOu("c", "x", p, 100, 0.5, 8);
  EXPECT_EQ(a.values(0), b.values(0));
  EXPECT_NE(a.values(0), c.values(0));
}

TEST(TraceGenOuTest, PinnedValues) {
  // Guards the algorithm (xoshiro256**, inverse-CDF normal, exact OU step) against drift; the
  // tolerance only allows for last-bit differences of libm's exp/log/sqrt between platforms.
  OuParams p{.mean = -80, .stddev = 6, .reversion_per_s = 0.2};
  Trace t = GenerateOu("sig", "signal_dbm", p, 5.0, 1.0, 42);
  const std::vector<double> want = {-80, -86.517744076679207, -92.783451830813192,
                                    -86.702735578587934, -90.77123851248399};
  ASSERT_EQ(t.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(t.values(0)[i], want[i], 1e-9) << i;

  Trace o = GenerateOnOff("l", "x", OnOffParams{}, 10.0, 1.0, 42);
  const std::vector<double> want_on = {0,
                                       0,
                                       0,
                                       0,
                                       0.73085861033997424,
                                       0.88683328013441332,
                                       0.76714777889586405,
                                       0.83407937054319636,
                                       0,
                                       0};
  ASSERT_EQ(o.size(), want_on.size());
  for (size_t i = 0; i < want_on.size(); ++i) EXPECT_NEAR(o.values(0)[i], want_on[i], 1e-9) << i;

  const std::vector<double> arrivals = GeneratePoissonArrivals(2.0, 5, 0.0, 42);
  const std::vector<double> want_arrivals = {0.58668503720029896, 1.0493827655822408,
                                             1.5233350764568443, 1.6479290423365811,
                                             2.2258316462228827};
  ASSERT_EQ(arrivals.size(), want_arrivals.size());
  for (size_t i = 0; i < arrivals.size(); ++i) EXPECT_NEAR(arrivals[i], want_arrivals[i], 1e-9);
}

TEST(TraceGenOuTest, StationaryMeanStddevAndAutocorrelation) {
  OuParams p{.mean = -85, .stddev = 8, .reversion_per_s = 0.1};
  const double step = 1.0;
  Trace t = GenerateOu("sig", "x", p, 200000, step, 3);
  const std::vector<double>& v = t.values(0);
  ASSERT_EQ(v.size(), 200000u);
  Moments m = MomentsOf(v);
  // Correlation time 10 s: about 10^4 independent samples; the mean's standard error is
  // stddev * sqrt(2 / (theta * T)) = 0.025 * stddev.
  EXPECT_NEAR(m.mean, p.mean, 0.1 * p.stddev);
  EXPECT_NEAR(m.stddev, p.stddev, 0.05 * p.stddev);
  double cov = 0;
  for (size_t i = 1; i < v.size(); ++i) cov += (v[i] - m.mean) * (v[i - 1] - m.mean);
  cov /= static_cast<double>(v.size() - 1);
  EXPECT_NEAR(cov / (m.stddev * m.stddev), std::exp(-p.reversion_per_s * step), 0.02);
  EXPECT_NEAR(t.Mean(0), m.mean, 1e-6);
}

TEST(TraceGenOuTest, StatisticsDoNotDependOnStep) {
  OuParams p{.mean = 10, .stddev = 2, .reversion_per_s = 1.0};
  Moments fine = MomentsOf(GenerateOu("f", "x", p, 20000, 0.05, 5).values(0));
  EXPECT_NEAR(fine.mean, 10.0, 0.1);
  EXPECT_NEAR(fine.stddev, 2.0, 0.1);
}

TEST(TraceGenOuTest, ClampedToBounds) {
  OuParams p{.mean = 0, .stddev = 1, .reversion_per_s = 0.5, .lo = -0.5, .hi = 0.5};
  const std::vector<double> v = GenerateOu("c", "x", p, 5000, 0.5, 9).values(0);
  int at_lo = 0, at_hi = 0;
  for (double x : v) {
    ASSERT_GE(x, -0.5);
    ASSERT_LE(x, 0.5);
    at_lo += x == -0.5;
    at_hi += x == 0.5;
  }
  // P(|N(0,1)| > 0.5) = 0.62: most samples sit on a bound, about half on each.
  EXPECT_GT(at_lo, 1000);
  EXPECT_GT(at_hi, 1000);
}

TEST(TraceGenOuTest, ZeroStddevIsConstant) {
  OuParams p{.mean = 3, .stddev = 0, .reversion_per_s = 0.5};
  const Trace t = GenerateOu("z", "x", p, 100, 1, 1);
  for (double x : t.values(0)) EXPECT_EQ(x, 3.0);
}

// ---- On/off -----------------------------------------------------------------------------------

TEST(TraceGenOnOffTest, ShapeAndLevels) {
  OnOffParams p{.on_level = 0.8, .off_level = 0.1, .mean_on_s = 2, .mean_off_s = 3, .jitter = 0};
  Trace t = GenerateOnOff("load", "cpu_load", p, 100, 0.5, 1);
  EXPECT_EQ(t.columns(), (std::vector<std::string>{"cpu_load"}));
  ASSERT_EQ(t.size(), 200u);
  int on = 0, off = 0;
  for (double x : t.values(0)) {
    if (x == 0.8) {
      ++on;
    } else {
      EXPECT_EQ(x, 0.1);
      ++off;
    }
  }
  EXPECT_GT(on, 0);
  EXPECT_GT(off, 0);
}

TEST(TraceGenOnOffTest, DeterministicAndScheduleIndependentOfJitter) {
  OnOffParams p;
  Trace a = GenerateOnOff("a", "x", p, 200, 0.1, 11);
  Trace b = GenerateOnOff("b", "x", p, 200, 0.1, 11);
  Trace c = GenerateOnOff("c", "x", p, 200, 0.1, 12);
  EXPECT_EQ(a.values(0), b.values(0));
  EXPECT_NE(a.values(0), c.values(0));
  OnOffParams q = p;
  q.jitter = 0.2;
  Trace d = GenerateOnOff("d", "x", q, 200, 0.1, 11);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a.values(0)[i] == p.off_level, d.values(0)[i] == q.off_level) << i;
  }
}

TEST(TraceGenOnOffTest, StationaryOnFractionDwellAndJitter) {
  OnOffParams p{.on_level = 0.6, .off_level = 0.0, .mean_on_s = 2, .mean_off_s = 6, .jitter = 0.05};
  const double step = 0.01;
  Trace t = GenerateOnOff("load", "x", p, 40000, step, 21);
  const std::vector<double>& v = t.values(0);
  std::vector<double> on_values;
  int runs = 0;
  bool prev_on = false;
  for (double x : v) {
    const bool on = x != 0.0;
    if (on) on_values.push_back(x);
    if (on && !prev_on) ++runs;
    prev_on = on;
  }
  const double frac_on = static_cast<double>(on_values.size()) / static_cast<double>(v.size());
  EXPECT_NEAR(frac_on, 2.0 / 8.0, 0.015);  // 5000 on/off cycles
  const double mean_on_dwell = static_cast<double>(on_values.size()) * step / runs;
  EXPECT_NEAR(mean_on_dwell, 2.0, 0.1);
  Moments m = MomentsOf(on_values);
  EXPECT_NEAR(m.mean, 0.6, 0.002);
  EXPECT_NEAR(m.stddev, 0.05, 0.002);
  for (double x : on_values) {
    EXPECT_GE(x, 0.0);
    EXPECT_LE(x, 1.0);
  }
  // Mean load = P(on) * on_level.
  EXPECT_NEAR(t.Mean(0), 0.25 * 0.6, 0.01);
}

// Issue 10, item 4: a step spanning many dwells (a run of ~1e9 s sampled every ~1e4 s, dwells
// of seconds) used to walk every dwell: billions of draws. States are drawn per sample from the
// exact transition instead; the law at the sample times is the same.
TEST(TraceGenOnOffTest, CoarseStepDrawsStatesPerSampleInBoundedTime) {
  OnOffParams p{.on_level = 0.6, .off_level = 0.0, .mean_on_s = 2, .mean_off_s = 6, .jitter = 0};
  const auto start = std::chrono::steady_clock::now();
  Trace t = GenerateOnOff("load", "x", p, 2e9, 2e4, 5);  // 1e5 samples, ~2e9 dwells
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(secs, 2.0);
  ASSERT_EQ(t.size(), 100000u);
  double on = 0;
  for (double x : t.values(0)) on += x != 0.0;
  EXPECT_NEAR(on / static_cast<double>(t.size()), 0.25, 0.01);
  // Steps of 1e4 dwells: successive samples are independent, so on-on pairs are p_on^2.
  double both = 0;
  for (size_t i = 1; i < t.size(); ++i) both += t.values(0)[i] != 0 && t.values(0)[i - 1] != 0;
  EXPECT_NEAR(both / static_cast<double>(t.size() - 1), 0.0625, 0.01);
}

TEST(TraceGenTest, GenerationStepFitsTheDurationIntoTheCap) {
  EXPECT_EQ(GenerationStep(100, 1.0, 1000), 1.0);
  EXPECT_EQ(GenerationStep(0, 1.0, 1000), 1.0);
  EXPECT_EQ(GenerationStep(std::numeric_limits<double>::infinity(), 1.0, 1000), 1.0);
  const double step = GenerationStep(1e9, 1.0, 1 << 17);
  EXPECT_NEAR(step, 1e9 / ((1 << 17) - 1), 1e-6);
  // The samples made at that step cover the duration within the cap.
  const Trace t = GenerateOu("s", "x", OuParams{.mean = 0, .stddev = 1}, 1e9, step, 1);
  EXPECT_LE(t.size(), size_t{1} << 17);
  EXPECT_GE(t.times().back() + step, 1e9 * (1 - 1e-9));
  // And a caller that asks for more than kMaxGeneratedSamples gets at most that many.
  EXPECT_EQ(GenerateOu("s", "x", OuParams{}, 1e12, 1.0, 1).size(), kMaxGeneratedSamples);
}

TEST(TraceGenOnOffTest, JitterIsClampedToUnitInterval) {
  OnOffParams p{.on_level = 0.98, .off_level = 0.0, .mean_on_s = 1, .mean_off_s = 0, .jitter = 0.1};
  const std::vector<double> v = GenerateOnOff("l", "x", p, 100, 0.1, 3).values(0);
  int at_one = 0;
  for (double x : v) {
    ASSERT_GT(x, 0.0);  // mean_off_s <= 0: never off
    ASSERT_LE(x, 1.0);
    at_one += x == 1.0;
  }
  EXPECT_GT(at_one, 300);  // P(N > 0.2 sd) = 0.42
}

TEST(TraceGenOnOffTest, DegenerateDwellMeans) {
  OnOffParams never_on{.on_level = 0.8, .off_level = 0.2, .mean_on_s = 0, .mean_off_s = 5};
  const Trace a = GenerateOnOff("l", "x", never_on, 50, 1, 1);
  for (double x : a.values(0)) EXPECT_EQ(x, 0.2);
  OnOffParams neither{.on_level = 0.8, .off_level = 0.3, .mean_on_s = 0, .mean_off_s = 0};
  const Trace b = GenerateOnOff("l", "x", neither, 50, 1, 1);
  for (double x : b.values(0)) EXPECT_EQ(x, 0.3);
}

// ---- Poisson ----------------------------------------------------------------------------------

TEST(TraceGenPoissonTest, CountOrderAndStart) {
  std::vector<double> a = GeneratePoissonArrivals(5.0, 1000, 10.0, 1);
  ASSERT_EQ(a.size(), 1000u);
  EXPECT_GT(a[0], 10.0);
  for (size_t i = 1; i < a.size(); ++i) EXPECT_GE(a[i], a[i - 1]);
  EXPECT_TRUE(GeneratePoissonArrivals(0.0, 10, 0.0, 1).empty());
  EXPECT_TRUE(GeneratePoissonArrivals(-1.0, 10, 0.0, 1).empty());
  EXPECT_TRUE(GeneratePoissonArrivals(1.0, 0, 0.0, 1).empty());
}

TEST(TraceGenPoissonTest, Deterministic) {
  EXPECT_EQ(GeneratePoissonArrivals(3.0, 100, 0.0, 5), GeneratePoissonArrivals(3.0, 100, 0.0, 5));
  EXPECT_NE(GeneratePoissonArrivals(3.0, 100, 0.0, 5), GeneratePoissonArrivals(3.0, 100, 0.0, 6));
}

TEST(TraceGenPoissonTest, MeanIntervalAndExponentialGaps) {
  const double rate = 20.0;
  const size_t n = 100000;
  std::vector<double> a = GeneratePoissonArrivals(rate, n, 0.0, 99);
  std::vector<double> gaps(n);
  double prev = 0;
  for (size_t i = 0; i < n; ++i) {
    gaps[i] = a[i] - prev;
    prev = a[i];
  }
  Moments m = MomentsOf(gaps);
  EXPECT_NEAR(m.mean, 1.0 / rate, 0.01 / rate);  // standard error 0.3%
  EXPECT_NEAR(m.stddev / m.mean, 1.0, 0.02);     // exponential: coefficient of variation 1
  // Counts in 1 s windows: Poisson, variance = mean.
  std::vector<double> counts(static_cast<size_t>(a.back()), 0.0);
  for (double t : a) {
    if (t < static_cast<double>(counts.size())) counts[static_cast<size_t>(t)] += 1;
  }
  Moments c = MomentsOf(counts);
  EXPECT_NEAR(c.mean, rate, 0.2);
  EXPECT_NEAR(c.stddev * c.stddev / c.mean, 1.0, 0.1);
}

}  // namespace
}  // namespace autoscale
