// A small metrics registry rendered in the Prometheus text exposition format 0.0.4, for the
// worker's and the daemon's GET /metrics. Counters, gauges and histograms (fixed buckets), each
// a family with optional labels. No dependencies beyond the standard library.
//
// Usage: register families once at start-up, look up the labelled children you need (a lookup
// takes the family's mutex; the returned reference stays valid for the registry's lifetime), and
// update them on the hot path (counters and gauges are atomics, a histogram takes a short
// per-child mutex so that its buckets, sum and count are always consistent).
//
//   MetricsRegistry registry;
//   CounterFamily& requests = registry.AddCounter("requests_total", "Requests.", {"model",
//   "code"}); requests.Get({"resnet18", "200"}).Increment(); HistogramFamily& latency =
//   registry.AddHistogram("latency_seconds", "Latency.",
//                                                    ExponentialBuckets(0.001, 2, 12));
//   latency.Get().Observe(0.004);
//   std::string text = registry.Render();
//
// Names are checked when registered: metric names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
// [a-zA-Z_][a-zA-Z0-9_]* and do not start with "__" (nor are "le" for histograms). Invalid names,
// a name registered twice and a wrong number of label values are programmer errors: they abort
// with a message.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace autoscale {

// A monotonically increasing value. Thread-safe, lock-free.
class Counter {
 public:
  // `v` must be non-negative (a negative increment is ignored).
  void Increment(double v = 1.0);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// A value that goes up and down (queue depth, loaded models). Thread-safe, lock-free.
class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Observations counted into fixed buckets (upper bounds, increasing; +Inf is implicit).
// Thread-safe.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);

  void Observe(double v);

  struct Snapshot {
    std::vector<double> bounds;        // upper bounds, without +Inf
    std::vector<uint64_t> cumulative;  // observations <= bounds[i]; one more entry for +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  const std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative; guarded by mu_
  double sum_ = 0;                // guarded by mu_
  uint64_t count_ = 0;            // guarded by mu_
};

// `count` bounds start, start*factor, ... (start > 0, factor > 1).
std::vector<double> ExponentialBuckets(double start, double factor, int count);
// `count` bounds start, start+width, ...
std::vector<double> LinearBuckets(double start, double width, int count);

// One metric name with its children, one per distinct tuple of label values.
template <typename Metric>
class MetricFamily {
 public:
  // The child for these label values (one per label name, in order); created on first use.
  // The reference stays valid for the lifetime of the registry. Takes the family's mutex:
  // callers on a hot path keep the reference.
  Metric& Get(const std::vector<std::string>& label_values = {});

  const std::string& name() const { return name_; }

 private:
  friend class MetricsRegistry;
  MetricFamily(std::string name, std::string help, std::vector<std::string> label_names,
               std::vector<double> bounds)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        bounds_(std::move(bounds)) {}

  const std::string name_, help_;
  const std::vector<std::string> label_names_;
  const std::vector<double> bounds_;  // histograms only
  mutable std::mutex mu_;
  // Sorted by label values, so Render() is deterministic. Guarded by mu_.
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> children_;
};

using CounterFamily = MetricFamily<Counter>;
using GaugeFamily = MetricFamily<Gauge>;
using HistogramFamily = MetricFamily<Histogram>;

// The set of families a process exposes. Thread-safe.
class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Registers a family; the reference stays valid for the registry's lifetime. By Prometheus
  // convention counter names end in "_total" and units are base units ("_seconds").
  CounterFamily& AddCounter(const std::string& name, const std::string& help,
                            std::vector<std::string> label_names = {});
  GaugeFamily& AddGauge(const std::string& name, const std::string& help,
                        std::vector<std::string> label_names = {});
  HistogramFamily& AddHistogram(const std::string& name, const std::string& help,
                                std::vector<double> bounds,
                                std::vector<std::string> label_names = {});

  // What is registered, in registration order: each family's name, type ("counter", "gauge",
  // "histogram") and label names, whether or not it has children yet (for tools and tests that
  // check queries against the metrics, e.g. the Grafana dashboard's).
  struct FamilyInfo {
    std::string name;
    std::string type;
    std::vector<std::string> label_names;
  };
  std::vector<FamilyInfo> Families() const;

  // Every family in registration order, in the text exposition format 0.0.4 (serve it with
  // Content-Type "text/plain; version=0.0.4"). Families without children render HELP and TYPE
  // only.
  std::string Render() const;

 private:
  struct Entry;
  void CheckNew(const std::string& name, const std::vector<std::string>& label_names,
                bool histogram) const;  // requires mu_

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_;  // guarded by mu_
};

// Metric and label value formatting, exposed for tests: "+Inf", "-Inf", "NaN", else the shortest
// decimal that round-trips; and a label value with '\', '"' and newline escaped.
std::string FormatMetricValue(double v);
std::string EscapeLabelValue(const std::string& v);

}  // namespace autoscale
