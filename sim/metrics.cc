#include "sim/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace autoscale {

RunMetrics::RunMetrics(int num_targets, int series_bins, size_t series_total)
    : target_counts_(num_targets, 0),
      series_energy_(std::max(1, series_bins), 0.0),
      series_count_(std::max(1, series_bins), 0),
      series_total_(std::max<size_t>(1, series_total)) {}

double RunMetrics::LatencyPercentile(double q) const {
  if (latencies_.empty()) return 0;
  std::vector<float> v = latencies_;
  size_t rank = static_cast<size_t>(std::ceil(q * v.size()));
  rank = std::clamp<size_t>(rank, 1, v.size()) - 1;
  std::nth_element(v.begin(), v.begin() + rank, v.end());
  return v[rank];
}

double RoundSignificant(double v, int digits) {
  if (!std::isfinite(v)) return v;
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%.*g", digits, v);
  return std::strtod(buf, nullptr);
}

uint16_t LatencyHistogram::Bucket(float latency_ms) {
  if (std::isnan(latency_ms)) latency_ms = std::numeric_limits<float>::infinity();
  if (!(latency_ms > 0)) latency_ms = 0;  // negative and -0 count as 0
  uint32_t bits = 0;
  std::memcpy(&bits, &latency_ms, sizeof(bits));
  return static_cast<uint16_t>(bits >> 16);
}

double LatencyHistogram::BucketMidpoint(uint16_t bucket) {
  auto edge = [](uint32_t top) {
    const uint32_t bits = top << 16;
    float f = 0;
    std::memcpy(&f, &bits, sizeof(f));
    return static_cast<double>(f);
  };
  const double lo = edge(bucket);
  const double hi = edge(static_cast<uint32_t>(bucket) + 1);
  if (!std::isfinite(hi) || !std::isfinite(lo)) return lo;
  return (lo + hi) / 2;
}

uint64_t LatencyHistogram::count() const {
  uint64_t n = 0;
  for (const auto& [b, c] : counts_) n += c;
  return n;
}

double LatencyHistogram::Percentile(double q) const {
  const uint64_t n = count();
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  // The same rank as RunMetrics::LatencyPercentile: ceil(q n), at least 1, at most n.
  const double r = std::ceil(q * static_cast<double>(n));
  const uint64_t rank = r < 1 ? 1 : r > static_cast<double>(n) ? n : static_cast<uint64_t>(r);
  uint64_t seen = 0;
  for (const auto& [b, c] : counts_) {
    seen += c;
    if (seen >= rank) return BucketMidpoint(b);
  }
  return BucketMidpoint(counts_.rbegin()->first);
}

LatencyHistogram RunMetrics::Latencies() const {
  // Sorted buckets, added a run at a time: one map update per distinct bucket, not per request.
  std::vector<uint16_t> buckets(latencies_.size());
  for (size_t i = 0; i < latencies_.size(); ++i) {
    buckets[i] = LatencyHistogram::Bucket(latencies_[i]);
  }
  std::sort(buckets.begin(), buckets.end());
  LatencyHistogram h;
  for (size_t i = 0; i < buckets.size();) {
    size_t j = i + 1;
    while (j < buckets.size() && buckets[j] == buckets[i]) ++j;
    h.AddBucket(buckets[i], j - i);
    i = j;
  }
  return h;
}

std::vector<double> RunMetrics::Series() const {
  std::vector<double> out(series_energy_.size());
  for (size_t b = 0; b < out.size(); ++b) {
    out[b] = series_count_[b] ? series_energy_[b] / series_count_[b]
                              : std::numeric_limits<double>::quiet_NaN();
  }
  return out;
}

}  // namespace autoscale
