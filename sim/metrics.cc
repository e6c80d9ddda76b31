#include "sim/metrics.h"

#include <algorithm>
#include <cmath>
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

std::vector<double> RunMetrics::Series() const {
  std::vector<double> out(series_energy_.size());
  for (size_t b = 0; b < out.size(); ++b) {
    out[b] = series_count_[b] ? series_energy_[b] / series_count_[b]
                              : std::numeric_limits<double>::quiet_NaN();
  }
  return out;
}

}  // namespace autoscale
