#include "core/prometheus.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace autoscale {

namespace {

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "autoscale::MetricsRegistry: %s\n", msg.c_str());
  std::abort();
}

bool IsMetricName(const std::string& s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool IsLabelName(const std::string& s) {
  if (s.empty() || s.rfind("__", 0) == 0) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

void AtomicAdd(std::atomic<double>& a, double v) {
  double cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
}

// HELP text escapes '\' and newline.
std::string EscapeHelp(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// {a="x",b="y"} plus an optional extra pair (the histogram's le), or "" without labels.
std::string LabelSet(const std::vector<std::string>& names, const std::vector<std::string>& values,
                     const char* extra_name = nullptr, const std::string& extra_value = "") {
  if (names.empty() && extra_name == nullptr) return "";
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i] + "=\"" + EscapeLabelValue(values[i]) + "\"";
  }
  if (extra_name != nullptr) {
    if (!names.empty()) out += ',';
    out += std::string(extra_name) + "=\"" + extra_value + "\"";
  }
  return out + "}";
}

}  // namespace

std::string FormatMetricValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

std::string EscapeLabelValue(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// ---- Metrics ----------------------------------------------------------------------------------

void Counter::Increment(double v) {
  if (v > 0) AtomicAdd(value_, v);
}

void Gauge::Add(double v) { AtomicAdd(value_, v); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::Observe(double v) {
  // The first bucket whose upper bound is >= v (Prometheus buckets are "less or equal").
  const size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  std::lock_guard<std::mutex> lock(mu_);
  ++counts_[std::isnan(v) ? bounds_.size() : i];
  sum_ += v;
  ++count_;
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.bounds = bounds_;
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t acc = 0;
  for (uint64_t c : counts_) {
    acc += c;
    s.cumulative.push_back(acc);
  }
  s.sum = sum_;
  s.count = count_;
  return s;
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  if (!(start > 0) || !(factor > 1) || count < 1) {
    Die("ExponentialBuckets needs start > 0, factor > 1, count >= 1");
  }
  std::vector<double> b;
  for (int i = 0; i < count; ++i, start *= factor) b.push_back(start);
  return b;
}

std::vector<double> LinearBuckets(double start, double width, int count) {
  if (!(width > 0) || count < 1) Die("LinearBuckets needs width > 0, count >= 1");
  std::vector<double> b;
  for (int i = 0; i < count; ++i) b.push_back(start + i * width);
  return b;
}

template <typename Metric>
Metric& MetricFamily<Metric>::Get(const std::vector<std::string>& label_values) {
  if (label_values.size() != label_names_.size()) {
    Die("metric '" + name_ + "' has " + std::to_string(label_names_.size()) + " label(s); got " +
        std::to_string(label_values.size()) + " value(s)");
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = children_.find(label_values);
  if (it != children_.end()) return *it->second;
  std::unique_ptr<Metric> m;
  if constexpr (std::is_same_v<Metric, Histogram>) {
    m = std::make_unique<Histogram>(bounds_);
  } else {
    m = std::make_unique<Metric>();
  }
  return *children_.emplace(label_values, std::move(m)).first->second;
}

template class MetricFamily<Counter>;
template class MetricFamily<Gauge>;
template class MetricFamily<Histogram>;

// ---- Registry ---------------------------------------------------------------------------------

struct MetricsRegistry::Entry {
  std::string name;
  std::unique_ptr<CounterFamily> counter;
  std::unique_ptr<GaugeFamily> gauge;
  std::unique_ptr<HistogramFamily> histogram;
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

void MetricsRegistry::CheckNew(const std::string& name, const std::vector<std::string>& label_names,
                               bool histogram) const {
  if (!IsMetricName(name)) Die("invalid metric name '" + name + "'");
  for (const auto& e : entries_) {
    if (e->name == name) Die("metric '" + name + "' registered twice");
  }
  for (size_t i = 0; i < label_names.size(); ++i) {
    const std::string& l = label_names[i];
    if (!IsLabelName(l)) Die("metric '" + name + "': invalid label name '" + l + "'");
    if (histogram && l == "le") Die("metric '" + name + "': 'le' is reserved for histograms");
    if (std::find(label_names.begin(), label_names.begin() + i, l) != label_names.begin() + i) {
      Die("metric '" + name + "': label '" + l + "' given twice");
    }
  }
}

CounterFamily& MetricsRegistry::AddCounter(const std::string& name, const std::string& help,
                                           std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mu_);
  CheckNew(name, label_names, false);
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->counter.reset(new CounterFamily(name, help, std::move(label_names), {}));
  entries_.push_back(std::move(e));
  return *entries_.back()->counter;
}

GaugeFamily& MetricsRegistry::AddGauge(const std::string& name, const std::string& help,
                                       std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mu_);
  CheckNew(name, label_names, false);
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->gauge.reset(new GaugeFamily(name, help, std::move(label_names), {}));
  entries_.push_back(std::move(e));
  return *entries_.back()->gauge;
}

HistogramFamily& MetricsRegistry::AddHistogram(const std::string& name, const std::string& help,
                                               std::vector<double> bounds,
                                               std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mu_);
  CheckNew(name, label_names, true);
  if (bounds.empty()) Die("histogram '" + name + "' needs at least one bucket bound");
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (std::isnan(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1]))) {
      Die("histogram '" + name + "': bucket bounds must be increasing numbers");
    }
  }
  if (std::isinf(bounds.back()) && bounds.back() > 0) bounds.pop_back();  // +Inf is implicit
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->histogram.reset(new HistogramFamily(name, help, std::move(label_names), std::move(bounds)));
  entries_.push_back(std::move(e));
  return *entries_.back()->histogram;
}

std::vector<MetricsRegistry::FamilyInfo> MetricsRegistry::Families() const {
  std::vector<FamilyInfo> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& e : entries_) {
    if (e->counter) {
      out.push_back({e->name, "counter", e->counter->label_names_});
    } else if (e->gauge) {
      out.push_back({e->name, "gauge", e->gauge->label_names_});
    } else {
      out.push_back({e->name, "histogram", e->histogram->label_names_});
    }
  }
  return out;
}

std::string MetricsRegistry::Render() const {
  std::string out;
  auto header = [&](const std::string& name, const std::string& help, const char* type) {
    out += "# HELP " + name + " " + EscapeHelp(help) + "\n";
    out += "# TYPE " + name + " " + type + "\n";
  };
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& e : entries_) {
    if (e->counter || e->gauge) {
      const bool counter = e->counter != nullptr;
      const std::string& help = counter ? e->counter->help_ : e->gauge->help_;
      header(e->name, help, counter ? "counter" : "gauge");
      auto render = [&](const auto& family) {
        std::lock_guard<std::mutex> flock(family.mu_);
        for (const auto& [values, m] : family.children_) {
          out += e->name + LabelSet(family.label_names_, values) + " " +
                 FormatMetricValue(m->value()) + "\n";
        }
      };
      if (counter) {
        render(*e->counter);
      } else {
        render(*e->gauge);
      }
      continue;
    }
    const HistogramFamily& f = *e->histogram;
    header(e->name, f.help_, "histogram");
    std::lock_guard<std::mutex> flock(f.mu_);
    for (const auto& [values, h] : f.children_) {
      const Histogram::Snapshot s = h->snapshot();
      for (size_t i = 0; i <= s.bounds.size(); ++i) {
        const std::string le = i < s.bounds.size() ? FormatMetricValue(s.bounds[i]) : "+Inf";
        out += e->name + "_bucket" + LabelSet(f.label_names_, values, "le", le) + " " +
               std::to_string(s.cumulative[i]) + "\n";
      }
      const std::string labels = LabelSet(f.label_names_, values);
      out += e->name + "_sum" + labels + " " + FormatMetricValue(s.sum) + "\n";
      out += e->name + "_count" + labels + " " + std::to_string(s.count) + "\n";
    }
  }
  return out;
}

}  // namespace autoscale
