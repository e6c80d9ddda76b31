// The metrics registry: counters, gauges and histograms rendered in the Prometheus text format,
// label escaping, and concurrent updates.
#include "core/prometheus.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

namespace autoscale {
namespace {

bool Contains(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

TEST(PrometheusTest, CounterWithLabels) {
  MetricsRegistry r;
  CounterFamily& f = r.AddCounter("requests_total", "Requests answered.", {"model", "code"});
  f.Get({"resnet18", "200"}).Increment();
  f.Get({"resnet18", "200"}).Increment(2);
  f.Get({"mobilenet_v2", "404"}).Increment();
  f.Get({"resnet18", "200"}).Increment(-5);  // ignored: counters only go up
  const std::string text = r.Render();
  EXPECT_EQ(text,
            "# HELP requests_total Requests answered.\n"
            "# TYPE requests_total counter\n"
            "requests_total{model=\"mobilenet_v2\",code=\"404\"} 1\n"
            "requests_total{model=\"resnet18\",code=\"200\"} 3\n");
}

TEST(PrometheusTest, GaugeWithoutLabels) {
  MetricsRegistry r;
  Gauge& g = r.AddGauge("queue_depth", "Queued requests.").Get();
  g.Set(4);
  g.Add(-1.5);
  EXPECT_DOUBLE_EQ(g.value(), 2.5);
  EXPECT_TRUE(Contains(r.Render(), "# TYPE queue_depth gauge\nqueue_depth 2.5\n"));
}

TEST(PrometheusTest, HistogramBucketsAreCumulativeAndInclusive) {
  MetricsRegistry r;
  HistogramFamily& f = r.AddHistogram("latency_seconds", "Latency.", {0.01, 0.1, 1}, {"model"});
  Histogram& h = f.Get({"m"});
  for (double v : {0.005, 0.01, 0.05, 0.5, 2.0}) h.Observe(v);
  const std::string text = r.Render();
  EXPECT_TRUE(Contains(text, "# HELP latency_seconds Latency.\n# TYPE latency_seconds histogram\n"))
      << text;
  EXPECT_TRUE(Contains(text, "latency_seconds_bucket{model=\"m\",le=\"0.01\"} 2\n")) << text;
  EXPECT_TRUE(Contains(text, "latency_seconds_bucket{model=\"m\",le=\"0.1\"} 3\n")) << text;
  EXPECT_TRUE(Contains(text, "latency_seconds_bucket{model=\"m\",le=\"1\"} 4\n")) << text;
  EXPECT_TRUE(Contains(text, "latency_seconds_bucket{model=\"m\",le=\"+Inf\"} 5\n")) << text;
  EXPECT_TRUE(Contains(text, "latency_seconds_sum{model=\"m\"} 2.565\n")) << text;
  EXPECT_TRUE(Contains(text, "latency_seconds_count{model=\"m\"} 5\n")) << text;

  Histogram::Snapshot s = h.snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{2, 3, 4, 5}));
  EXPECT_EQ(s.count, 5u);
}

TEST(PrometheusTest, HistogramWithoutLabelsAndExplicitInf) {
  MetricsRegistry r;
  const double inf = std::numeric_limits<double>::infinity();
  Histogram& h = r.AddHistogram("batch_size", "Batch sizes.", {1, 2, 4, inf}).Get();
  h.Observe(3);
  const std::string text = r.Render();
  EXPECT_TRUE(Contains(text, "batch_size_bucket{le=\"4\"} 1\n")) << text;
  // +Inf given explicitly is not repeated.
  EXPECT_EQ(text.find("le=\"+Inf\""), text.rfind("le=\"+Inf\"")) << text;
  EXPECT_TRUE(Contains(text, "batch_size_sum 3\nbatch_size_count 1\n")) << text;
}

TEST(PrometheusTest, EmptyFamilyRendersHeaderOnly) {
  MetricsRegistry r;
  r.AddCounter("a_total", "A.", {"x"});
  r.AddCounter("b_total", "B.");
  EXPECT_EQ(r.Render(),
            "# HELP a_total A.\n# TYPE a_total counter\n"
            "# HELP b_total B.\n# TYPE b_total counter\n");
}

TEST(PrometheusTest, FamiliesListsWhatIsRegisteredWithItsLabels) {
  MetricsRegistry r;
  r.AddCounter("a_total", "A.", {"model", "code"});
  r.AddGauge("b", "B.");
  r.AddHistogram("c_seconds", "C.", {0.1, 1}, {"model"}).Get({"x"}).Observe(0.5);
  const std::vector<MetricsRegistry::FamilyInfo> f = r.Families();
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f[0].name, "a_total");
  EXPECT_EQ(f[0].type, "counter");
  EXPECT_EQ(f[0].label_names, (std::vector<std::string>{"model", "code"}));
  EXPECT_EQ(f[1].name, "b");
  EXPECT_EQ(f[1].type, "gauge");
  EXPECT_TRUE(f[1].label_names.empty());
  EXPECT_EQ(f[2].name, "c_seconds");
  EXPECT_EQ(f[2].type, "histogram");
  EXPECT_EQ(f[2].label_names, (std::vector<std::string>{"model"}));  // without "le"
}

TEST(PrometheusTest, EscapesLabelValuesAndHelp) {
  MetricsRegistry r;
  r.AddCounter("x_total", "Line one\nback\\slash", {"path"}).Get({"a\"b\\c\nd"}).Increment();
  const std::string text = r.Render();
  EXPECT_TRUE(Contains(text, "# HELP x_total Line one\\nback\\\\slash\n")) << text;
  EXPECT_TRUE(Contains(text, "x_total{path=\"a\\\"b\\\\c\\nd\"} 1\n")) << text;
}

TEST(PrometheusTest, FormatsValues) {
  EXPECT_EQ(FormatMetricValue(0), "0");
  EXPECT_EQ(FormatMetricValue(0.1), "0.1");
  EXPECT_EQ(FormatMetricValue(1e-6), "1e-06");
  EXPECT_EQ(FormatMetricValue(123456789), "123456789");
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatMetricValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatMetricValue(std::nan("")), "NaN");
}

TEST(PrometheusTest, Buckets) {
  EXPECT_EQ(ExponentialBuckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
  EXPECT_EQ(LinearBuckets(0, 5, 3), (std::vector<double>{0, 5, 10}));
}

TEST(PrometheusTest, ConcurrentUpdatesAreNotLost) {
  MetricsRegistry r;
  CounterFamily& c = r.AddCounter("n_total", "N.", {"t"});
  Histogram& h = r.AddHistogram("h", "H.", {0.5}).Get();
  constexpr int kThreads = 4, kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Counter& mine = c.Get({std::to_string(t % 2)});
      for (int i = 0; i < kPerThread; ++i) {
        mine.Increment();
        h.Observe(i % 2);
        if (i % 1000 == 0) (void)r.Render();  // rendering concurrently is safe
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.Get({"0"}).value() + c.Get({"1"}).value(), kThreads * kPerThread);
  Histogram::Snapshot s = h.snapshot();
  EXPECT_EQ(s.count, static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_EQ(s.cumulative[0], static_cast<uint64_t>(kThreads * kPerThread / 2));
}

TEST(PrometheusDeathTest, ProgrammerErrorsAbort) {
  EXPECT_DEATH(
      {
        MetricsRegistry r;
        r.AddCounter("bad name", "x");
      },
      "invalid metric name 'bad name'");
  EXPECT_DEATH(
      {
        MetricsRegistry r;
        r.AddCounter("a_total", "x");
        r.AddGauge("a_total", "y");
      },
      "registered twice");
  EXPECT_DEATH(
      {
        MetricsRegistry r;
        r.AddCounter("a_total", "x", {"model"}).Get({});
      },
      "has 1 label\\(s\\); got 0");
  EXPECT_DEATH(
      {
        MetricsRegistry r;
        r.AddHistogram("h", "x", {1}, {"le"});
      },
      "reserved");
}

}  // namespace
}  // namespace autoscale
