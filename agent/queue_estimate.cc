#include "agent/queue_estimate.h"

#include <algorithm>
#include <limits>
#include <numeric>

namespace autoscale {

QueueEstimate::QueueEstimate(int stages, size_t cells, double weight)
    : weight_(weight), epoch_(Clock::now()) {
  free_at_.assign(static_cast<size_t>(std::max(1, stages)), std::numeric_limits<double>::lowest());
  average_.resize(cells);
}

std::vector<double> QueueEstimate::Expected(size_t cell, std::vector<double> predicted) const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cell < average_.size() && !average_[cell].empty()) return average_[cell];
  }
  predicted.resize(free_at_.size(), 0.0);
  return predicted;
}

uint64_t QueueEstimate::Add(Clock::time_point now, const std::vector<double>& stage_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  double end = Ms(now);
  for (size_t s = 0; s < free_at_.size(); ++s) {
    const double t = s < stage_ms.size() ? std::max(0.0, stage_ms[s]) : 0.0;
    end = std::max(end, free_at_[s]) + t;
    free_at_[s] = end;
  }
  const uint64_t id = next_++;
  inside_.push_back({id, end - shift_ms_});
  return id;
}

void QueueEstimate::Done(uint64_t ticket, Clock::time_point now, size_t cell,
                         const std::vector<double>& measured_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  const double t = Ms(now);
  auto it =
      std::find_if(inside_.begin(), inside_.end(), [&](const Ticket& k) { return k.id == ticket; });
  if (it != inside_.end()) {
    // The oldest request finishing moves the ones behind it by its lateness (negative: early);
    // one finishing out of order (it failed in an early stage) moves nothing.
    const bool oldest = it == inside_.begin();
    const double late = t - (it->done_ms + shift_ms_);
    inside_.erase(it);
    if (inside_.empty()) {
      std::fill(free_at_.begin(), free_at_.end(), t);  // idle
      shift_ms_ = 0;
    } else if (oldest) {
      shift_ms_ += late;
      for (double& f : free_at_) f += late;
    }
  }
  if (cell >= average_.size() || measured_ms.empty()) return;
  std::vector<double> m;
  if (measured_ms.size() == free_at_.size()) {
    m = measured_ms;
  } else if (free_at_.size() == 1) {
    m = {std::accumulate(measured_ms.begin(), measured_ms.end(), 0.0)};
  } else {
    return;  // a pipelined target's run without its stage times
  }
  std::vector<double>& a = average_[cell];
  if (a.empty()) {
    a = std::move(m);
    return;
  }
  for (size_t s = 0; s < a.size(); ++s) a[s] += weight_ * (m[s] - a[s]);
}

std::vector<double> QueueEstimate::WaitMs(Clock::time_point now) const {
  std::vector<double> w(free_at_.size());
  WaitMs(now, w.data(), stages());
  return w;
}

int QueueEstimate::WaitMs(Clock::time_point now, double* out, int n) const {
  std::lock_guard<std::mutex> lock(mu_);
  const double t = Ms(now);
  const int m = std::min(n, stages());
  for (int s = 0; s < m; ++s) out[s] = inside_.empty() ? 0.0 : std::max(0.0, free_at_[s] - t);
  return m;
}

int QueueEstimate::inside() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(inside_.size());
}

}  // namespace autoscale
