// How long a request submitted now would wait for a bound local target (Observation::wait_ms,
// issue 14): the daemon's estimate of each executor's queue.
//
// A target is a tandem of stages (one for a target that runs a request in one piece, one per
// core group for a pipelined one), each serving its requests first come, first served; request
// k enters stage s when it has left stage s - 1 and stage s has finished request k - 1. Every
// request the engine hands the target is added with its expected time in each stage, so the
// estimator knows when each stage will be free: stage s's wait is that time minus now (0 when
// idle). When a request finishes, the requests behind it are moved by how much later (or
// earlier) than expected it finished, and the target is idle once none is inside.
//
// Expected stage times: an exponentially weighted moving average of what this target measured
// for the same action and model (a request's run time on a one-piece target; each stage's time,
// InferenceResult::stage_ms, on a pipelined one), or, before the first measurement, the cost
// model's prediction of the run on idle processors (a pipelined action's split by its stages'
// predicted shares). Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

namespace autoscale {

class QueueEstimate {
 public:
  using Clock = std::chrono::steady_clock;

  // `stages` >= 1; `cells` measured averages (the engine's actions x models); `weight` the
  // weight of a new measurement in the average.
  QueueEstimate(int stages, size_t cells, double weight = 0.3);

  int stages() const { return static_cast<int>(free_at_.size()); }

  // The expected time of each stage of a request of `cell`: the measured average, else
  // `predicted` (one value per stage; resized to stages(), a missing stage's time 0).
  std::vector<double> Expected(size_t cell, std::vector<double> predicted) const;
  // A request was handed to the target at `now`, expected to take `stage_ms` in each stage; the
  // ticket is for Done().
  uint64_t Add(Clock::time_point now, const std::vector<double>& stage_ms);
  // Request `ticket` left the target at `now`; `measured_ms` (per stage, or one value for the
  // whole run; empty when it failed) updates the average of `cell`.
  void Done(uint64_t ticket, Clock::time_point now, size_t cell,
            const std::vector<double>& measured_ms);
  // Per stage, how long a request handed over at `now` would wait before that stage is free
  // (ms, >= 0).
  std::vector<double> WaitMs(Clock::time_point now) const;
  // The same into `out` (at most `n` stages, without allocating); returns how many it wrote.
  int WaitMs(Clock::time_point now, double* out, int n) const;
  // Requests handed over and not yet done.
  int inside() const;

 private:
  struct Ticket {
    uint64_t id;
    double done_ms;  // expected end of its last stage, ms after epoch_, before shift_ms_
  };
  double Ms(Clock::time_point t) const {
    return std::chrono::duration<double, std::milli>(t - epoch_).count();
  }

  const double weight_;
  const Clock::time_point epoch_;
  mutable std::mutex mu_;
  std::vector<double> free_at_;               // guarded by mu_; per stage, ms after epoch_
  std::deque<Ticket> inside_;                 // guarded by mu_; in the order handed over
  double shift_ms_ = 0;                       // guarded by mu_; added to inside_'s done_ms
  uint64_t next_ = 1;                         // guarded by mu_
  std::vector<std::vector<double>> average_;  // guarded by mu_; per cell, per stage (empty: none)
};

}  // namespace autoscale
