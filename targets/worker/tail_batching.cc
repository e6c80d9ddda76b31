#include "targets/worker/tail_batching.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace autoscale {

namespace {

bool IsPreferred(std::span<const int> preferred, int size) {
  return std::binary_search(preferred.begin(), preferred.end(), size);
}

std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

Result<std::vector<int>> PreferredBatchSizes(std::span<const double> latency_ms, double tolerance,
                                             std::span<const double> spread) {
  if (latency_ms.empty()) {
    return Status::InvalidArgument(
        "the latency table is empty: it needs one latency per batch size from 1 to the max "
        "batch size");
  }
  if (!std::isfinite(tolerance) || tolerance < 0) {
    return Status::InvalidArgument("the tail-aware batching tolerance must be a number >= 0; got " +
                                   Number(tolerance));
  }
  if (!spread.empty() && spread.size() != latency_ms.size()) {
    return Status::InvalidArgument("the latency table has " + std::to_string(latency_ms.size()) +
                                   " sizes but its spread " + std::to_string(spread.size()));
  }
  auto spread_of = [&](size_t i) { return spread.empty() ? 0.0 : spread[i]; };
  std::vector<int> preferred;
  double best = std::numeric_limits<double>::infinity();  // c(j*): least c(j) for j <= b
  size_t best_i = 0;                                      // j* - 1
  for (size_t i = 0; i < latency_ms.size(); ++i) {
    const double l = latency_ms[i];
    const int b = static_cast<int>(i) + 1;
    if (!std::isfinite(l) || l <= 0) {
      return Status::InvalidArgument("the latency of batch size " + std::to_string(b) +
                                     " must be a finite number of ms > 0; got " + Number(l));
    }
    if (!std::isfinite(spread_of(i)) || spread_of(i) < 0) {
      return Status::InvalidArgument("the spread of batch size " + std::to_string(b) +
                                     " must be a finite number >= 0; got " + Number(spread_of(i)));
    }
    const double per_sample = l / b;
    if (per_sample < best) {
      best = per_sample;
      best_i = i;
    }
    const double margin = std::max({tolerance, spread_of(i), spread_of(best_i)});
    if (per_sample <= (1 + margin) * best) preferred.push_back(b);
  }
  return preferred;
}

int RequestsToBatch(std::span<const int> samples, int max_batch, std::span<const int> preferred,
                    bool may_wait) {
  if (samples.empty()) return 0;
  // The longest run from the front that fits (the oldest request always does), its samples k,
  // and the longest such run whose samples are a preferred size.
  int fit = 0, k = 0, preferred_run = 0;
  long long total = 0;
  bool ended = false;
  for (size_t i = 0; i < samples.size(); ++i) {
    total += samples[i];
    if (ended) continue;
    if (i > 0 && k + samples[i] > max_batch) {
      ended = true;  // the run ends at the first request that does not fit: order is kept
      continue;
    }
    ++fit;
    k += samples[i];
    if (IsPreferred(preferred, k)) preferred_run = fit;
  }
  const bool full = total >= max_batch;
  if (preferred.empty()) return (may_wait && !full) ? 0 : fit;
  if (may_wait && !full) {
    // A preferred size above k, within max_batch, may still fill.
    auto above = std::upper_bound(preferred.begin(), preferred.end(), k);
    if (above != preferred.end() && *above <= max_batch) return 0;
  }
  return preferred_run > 0 ? preferred_run : fit;
}

Result<bool> ResolveTailAwareBatching(const std::string& mode, const std::string& device) {
  if (mode == "on") return true;
  if (mode == "off") return false;
  if (mode == "auto") return device == "cuda";
  return Status::InvalidArgument("unknown tail-aware batching mode '" + mode +
                                 "' (valid: auto, on, off; auto is on for cuda, off on the cpu)");
}

namespace {

// Zero inputs of [b, input_shape...] for b = 1..max_batch.
std::vector<HostTensor> ZeroBatches(const std::vector<int64_t>& input_shape, int max_batch) {
  std::vector<HostTensor> inputs(static_cast<size_t>(std::max(0, max_batch)));
  for (int b = 1; b <= max_batch; ++b) {
    HostTensor& zeros = inputs[static_cast<size_t>(b - 1)];
    zeros.shape = {b};
    zeros.shape.insert(zeros.shape.end(), input_shape.begin(), input_shape.end());
    zeros.data.assign(static_cast<size_t>(NumElements(zeros.shape)), 0.0f);
  }
  return inputs;
}

}  // namespace

Result<WarmUpTimes> WarmBatchSizes(Executor& executor, const std::vector<int64_t>& input_shape,
                                   int max_batch) {
  const std::vector<HostTensor> inputs = ZeroBatches(input_shape, max_batch);
  WarmUpTimes w;
  for (int b = 1; b <= max_batch; ++b) {
    for (int pass = 0; pass < 2; ++pass) {
      PassTimes t;
      Result<HostTensor> out = executor.Forward(inputs[static_cast<size_t>(b - 1)], &t);
      if (!out.ok()) return out.status().WithPrefix("warming up batch size " + std::to_string(b));
      (pass == 0 ? w.first_ms : w.second_ms) += t.total_ms();
    }
  }
  return w;
}

Result<std::vector<double>> MeasureBatchLatency(Executor& executor,
                                                const std::vector<int64_t>& input_shape,
                                                int max_batch, int runs,
                                                std::vector<double>* spread) {
  if (runs < 1) {
    return Status::InvalidArgument("measuring batch latency needs at least 1 timed run; got " +
                                   std::to_string(runs));
  }
  const std::vector<HostTensor> inputs = ZeroBatches(input_shape, max_batch);
  std::vector<std::vector<double>> times(inputs.size());
  for (int round = 0; round < runs; ++round) {
    for (int b = 1; b <= max_batch; ++b) {
      // Two passes, the second timed: the first pays for the change from the size before (on the
      // CPU a batch runs sharded and a single sample does not) and, in round 0, for the shape's
      // first run.
      for (int pass = 0; pass < 2; ++pass) {
        PassTimes t;
        Result<HostTensor> out = executor.Forward(inputs[static_cast<size_t>(b - 1)], &t);
        if (!out.ok()) {
          return out.status().WithPrefix("measuring the latency of batch size " +
                                         std::to_string(b));
        }
        if (pass == 1) times[static_cast<size_t>(b - 1)].push_back(t.total_ms());
      }
    }
  }
  std::vector<double> table;
  if (spread != nullptr) spread->clear();
  for (std::vector<double>& v : times) {
    std::sort(v.begin(), v.end());
    const double median = v[v.size() / 2];
    table.push_back(median);
    if (spread != nullptr) spread->push_back(median > 0 ? (v.back() - v.front()) / median : 0);
  }
  return table;
}

std::string FormatBatchSizes(std::span<const int> sizes) {
  std::string out;
  for (size_t i = 0; i < sizes.size();) {
    size_t j = i;
    while (j + 1 < sizes.size() && sizes[j + 1] == sizes[j] + 1) ++j;
    if (!out.empty()) out += ", ";
    out += std::to_string(sizes[i]);
    if (j > i) out += "-" + std::to_string(sizes[j]);
    i = j + 1;
  }
  return out;
}

}  // namespace autoscale
