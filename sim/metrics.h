// Metrics of one policy run: what it cost, how often it missed its constraints, what it chose.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "env/types.h"

namespace autoscale {

// How satisfied the user is with one request, in [0, 1] (README.md, "Reports"):
//   0 when the request failed or its answer is under the accuracy floor (an answer the user said
//   is not acceptable is no answer);
//   otherwise 1 when it arrived within the latency bound, falling linearly to 0 at twice the
//   bound: 1 - (latency - bound) / bound (a late answer is worth less the later it is, and nothing
//   once the wait doubled). No bound (infinite) counts as met.
inline double SatisfactionScore(const Outcome& out, const Observation& obs) {
  if (out.failed || MissesAccuracy(out, obs)) return 0;
  const double bound = obs.latency_bound_ms, t = out.latency_ms;
  if (!(t > bound)) return 1;
  if (!(bound > 0)) return 0;
  return std::clamp(2.0 - t / bound, 0.0, 1.0);
}

// `v` rounded to `digits` significant decimal digits (as "%.*g" prints it); NaN and infinities
// unchanged. Reports store and print numbers so, so that they read back exactly.
double RoundSignificant(double v, int digits = 6);

// Latencies pooled over many runs in bounded memory, mergeable exactly (counts add), so that a
// percentile over every request of a policy is the same whether its runs were simulated in one
// process or in shards joined later.
//
// Resolution: a latency (ms, as the float the simulator measures) is counted under the top 16
// bits of its IEEE-754 single-precision pattern, i.e. its bfloat16 truncation: sign, exponent and
// 7 mantissa bits, so each bucket spans 1/128 of an octave (0.78% of its lower edge). A
// percentile is reported as its bucket's midpoint, hence within 0.4% of the exact nearest-rank
// percentile of the pooled latencies. Negative latencies count as 0, NaN as +infinity. At most
// 2^15 buckets are ever used (~1 MB), whatever the number of requests.
class LatencyHistogram {
 public:
  static uint16_t Bucket(float latency_ms);
  // The midpoint of a bucket's range [lower, upper) (its lower edge where the upper is infinite).
  static double BucketMidpoint(uint16_t bucket);

  void Add(float latency_ms, uint64_t n = 1) { counts_[Bucket(latency_ms)] += n; }
  void AddBucket(uint16_t bucket, uint64_t n) {
    if (n) counts_[bucket] += n;
  }
  void Merge(const LatencyHistogram& other) {
    for (const auto& [b, n] : other.counts_) counts_[b] += n;
  }
  uint64_t count() const;
  // Nearest-rank percentile, q in [0, 1], as the midpoint of the bucket holding that rank; NaN
  // when empty.
  double Percentile(double q) const;
  // Non-empty buckets, ascending: (bucket, count).
  const std::map<uint16_t, uint64_t>& buckets() const { return counts_; }
  bool operator==(const LatencyHistogram& o) const { return counts_ == o.counts_; }

 private:
  std::map<uint16_t, uint64_t> counts_;
};

class RunMetrics {
 public:
  // `num_targets`: the device's target count (for the mix of targets chosen); `series_bins`:
  // resolution of the energy-over-time series, which spans `series_total` requests (those
  // RecordSeries() will be given: an experiment keeps one for training, one for evaluation).
  RunMetrics(int num_targets, int series_bins, size_t series_total);

  // Adds one evaluated request. `agrees`: the choice equals the oracle's.
  void Record(const Observation& obs, int target, const Outcome& out, bool agrees) {
    ++requests_;
    energy_mj_ += out.energy_mj;
    qos_violations_ += MissesLatency(out, obs);
    accuracy_violations_ += MissesAccuracy(out, obs);
    satisfied_ += !MissesLatency(out, obs) && !MissesAccuracy(out, obs);
    satisfaction_ += SatisfactionScore(out, obs);
    failures_ += out.failed;
    agreements_ += agrees;
    latencies_.push_back(out.latency_ms);
    ++target_counts_[target];
  }
  // Adds one request (training or evaluation) to the energy-over-time series at position
  // `index` of the run.
  void RecordSeries(size_t index, float energy_mj) {
    const size_t b =
        std::min(index * series_energy_.size() / series_total_, series_energy_.size() - 1);
    series_energy_[b] += energy_mj;
    ++series_count_[b];
  }

  uint64_t requests() const { return requests_; }
  double energy_mj() const { return energy_mj_; }
  double EnergyPerInference() const { return requests_ ? energy_mj_ / requests_ : 0; }
  double QosViolationRate() const { return requests_ ? double(qos_violations_) / requests_ : 0; }
  double AccuracyViolationRate() const {
    return requests_ ? double(accuracy_violations_) / requests_ : 0;
  }
  // Share of requests that met both their latency bound and their accuracy floor.
  double SatisfiedRate() const { return requests_ ? double(satisfied_) / requests_ : 0; }
  // Mean SatisfactionScore() over the requests.
  double Satisfaction() const { return requests_ ? satisfaction_ / requests_ : 0; }
  double FailureRate() const { return requests_ ? double(failures_) / requests_ : 0; }
  double OracleAgreement() const { return requests_ ? double(agreements_) / requests_ : 0; }
  // Latency percentile (nearest rank), q in [0, 1]. Sorts a copy.
  double LatencyPercentile(double q) const;
  // The evaluated requests' latencies, for pooling over runs.
  LatencyHistogram Latencies() const;
  const std::vector<uint64_t>& target_counts() const { return target_counts_; }
  // Mean energy per inference of each series bin (NaN where a bin holds no request).
  std::vector<double> Series() const;

 private:
  uint64_t requests_ = 0;
  double energy_mj_ = 0;
  uint64_t qos_violations_ = 0, accuracy_violations_ = 0, failures_ = 0, agreements_ = 0;
  uint64_t satisfied_ = 0;
  double satisfaction_ = 0;
  std::vector<float> latencies_;
  std::vector<uint64_t> target_counts_;
  std::vector<double> series_energy_;
  std::vector<uint32_t> series_count_;
  size_t series_total_;
};

}  // namespace autoscale
